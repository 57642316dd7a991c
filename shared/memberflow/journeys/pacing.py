"""Time and pace of one journey step invocation: its budget and the send pacer."""

from __future__ import annotations

import math
import time
from collections.abc import Callable

from memberflow.journeys.decisions import MAP_CONCURRENCY, SEND_RATE_PER_SECOND


class Budget:
    """The time left to one Lambda invocation, as ``context.get_remaining_time_in_millis()``
    reported it at the start, minus what has elapsed since (the send pacer's sleeps
    included). A shard stops taking members once less than the safety margin is left:
    one member's work (a few DynamoDB calls and a send with a 5 s timeout) must fit in it.
    """

    # The seam the benchmark replaces to count sleeps instead of sleeping them.
    clock: Callable[[], float] = staticmethod(time.monotonic)
    pause: Callable[[float], None] = staticmethod(time.sleep)

    def __init__(self, remaining_ms: int | None, *, margin_fraction: float = 0.1):
        self.total = None if remaining_ms is None else remaining_ms / 1000
        self.margin = None if self.total is None else max(0.05, self.total * margin_fraction)
        self.started = self.clock()

    @classmethod
    def of(cls, lambda_context) -> Budget:
        remaining = getattr(lambda_context, "get_remaining_time_in_millis", None)
        return cls(remaining() if remaining else None)

    def elapsed(self) -> float:
        return self.clock() - self.started

    def left(self) -> float:
        return math.inf if self.total is None else self.total - self.elapsed()

    def exhausted(self) -> bool:
        return self.total is not None and self.left() < self.margin

    def sleep(self, seconds: float) -> bool:
        """Sleep, unless that would eat into the margin (then ``False``, not slept)."""
        if self.total is not None and self.left() - seconds < self.margin:
            return False
        if seconds > 0:
            self.pause(seconds)
        return True


class Pacer:
    """Spaces one shard's sends so that all of a step's shards together stay within the
    channel's configured rate (SES's default quota is 14 messages a second per account):
    each of the shards that run at once (at most the Map's concurrency) gets an equal share.
    """

    def __init__(self, rate_per_second: float, budget: Budget):
        self.interval = 1 / rate_per_second
        self.budget = budget
        self.next_at: float | None = None

    def wait(self) -> bool:
        """Wait for the next send slot; ``False`` when the invocation has no time for it."""
        now = self.budget.clock()
        if self.next_at is not None and self.next_at > now:
            if not self.budget.sleep(self.next_at - now):
                return False
            now = self.next_at
        self.next_at = now + self.interval
        return True


def shard_rate(pinned: dict, channel: str, shards: int) -> float:
    rates = {**SEND_RATE_PER_SECOND, **pinned["messaging"].get("send_rate_per_second", {})}
    return rates[channel] / max(1, min(int(shards), MAP_CONCURRENCY))


class OutOfTime(Exception):
    """The invocation's budget cannot fit this member's send: leave it to the next pass."""
