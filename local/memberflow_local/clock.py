"""The virtual clock of the local stack, and the two moto seams it drives.

* Every handler reads time through ``memberflow.clock.now()``; :meth:`VirtualClock.install`
  points that at this clock.
* Step Functions Wait states park on this clock instead of sleeping
  (seam: ``WaitFunction._wait_interval``), so ``advance(days=14)`` runs two weeks of
  journeys in seconds.
* Retry backoff does not sleep (seam: ``retrier_decl.time.sleep``).
* Execution threads are counted (seam: ``ExecutionWorker.start`` / ``_execution_logic``)
  so :meth:`wait_idle` knows when every execution is either finished or parked.

Waits inside Map iterations are not supported by the idle rule (journeys never put
them there: a step is one Map, waits sit between steps).
"""

from __future__ import annotations

import heapq
import itertools
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from memberflow import clock as memberflow_clock


class ClockError(RuntimeError):
    pass


# How often a parked execution checks that it is still running (only a stopped
# execution needs it; memberflow never stops one).
RUNNING_CHECK_SECONDS = 2.0


class _Waiter:
    __slots__ = ("event", "released")

    def __init__(self):
        self.event = threading.Event()
        self.released = False  # woken by the clock, or left because it stopped


class VirtualClock:
    """Time for the local stack. Parked executions sit in a heap by wake-up time, each
    on its own event: moving the clock wakes only those whose time has come, so
    thousands of parked journeys (one welcome execution per sign-up) cost nothing
    while they wait."""

    def __init__(self, start: datetime):
        if start.tzinfo is None:
            start = start.replace(tzinfo=UTC)
        self._now = start.astimezone(UTC)
        self._cond = threading.Condition()
        self._running = 0  # execution threads alive
        self._waiting = 0  # parked executions whose wake-up time is still ahead
        self._parked: list[tuple[datetime, int, _Waiter]] = []  # heap by wake-up time
        self._order = itertools.count()
        self._due_jobs: Callable[[datetime, datetime], list[tuple[datetime, Callable[[], None]]]]
        self._due_jobs = lambda _a, _b: []

    # ------------------------------------------------------------ time
    def now(self) -> datetime:
        with self._cond:
            return self._now

    def install(self) -> None:
        memberflow_clock.install(self.now)

    def set_job_source(self, source: Callable[[datetime, datetime], list]) -> None:
        """``source(after, until)`` lists (due time, job) for scheduled jobs in (after, until]."""
        self._due_jobs = source

    # ------------------------------------------------------------ executions
    def execution_started(self) -> None:
        with self._cond:
            self._running += 1
            self._cond.notify_all()

    def execution_finished(self) -> None:
        with self._cond:
            self._running -= 1
            self._cond.notify_all()

    def park(self, seconds: float, is_running: Callable[[], bool]) -> None:
        """Block the calling execution until the clock reaches now + seconds."""
        waiter = _Waiter()
        with self._cond:
            wake_at = self._now + timedelta(seconds=seconds)
            if wake_at <= self._now:
                return
            heapq.heappush(self._parked, (wake_at, next(self._order), waiter))
            self._waiting += 1
            self._cond.notify_all()
        try:
            while not waiter.event.wait(timeout=RUNNING_CHECK_SECONDS):
                if not is_running():
                    break
        finally:
            with self._cond:
                if not waiter.released:  # stopped before its time: no longer waiting
                    waiter.released = True
                    self._waiting -= 1
                self._cond.notify_all()

    def _release_due(self) -> None:
        """Wake the parked executions whose time has come (call holding the lock)."""
        while self._parked and self._parked[0][0] <= self._now:
            _, _, waiter = heapq.heappop(self._parked)
            if not waiter.released:
                waiter.released = True
                self._waiting -= 1
                waiter.event.set()

    def _busy(self) -> int:
        # A woken execution counts as busy until it finishes or parks again: otherwise
        # advance() could jump past the work it is about to do.
        return self._running - self._waiting

    def wait_idle(self, timeout: float = 120.0) -> None:
        """Return when every execution is finished or parked on the clock."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while self._busy() > 0:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise ClockError(
                        f"journeys still busy after {timeout:.0f}s "
                        f"({self._running} running, {self._waiting} parked)"
                    )
                self._cond.wait(timeout=min(remaining, 0.2))

    def next_wake(self) -> datetime | None:
        with self._cond:
            while self._parked and self._parked[0][2].released:
                heapq.heappop(self._parked)
            return self._parked[0][0] if self._parked else None

    def _set_now(self, when: datetime) -> None:
        with self._cond:
            self._now = when
            self._release_due()
            self._cond.notify_all()

    # ------------------------------------------------------------ advancing
    def advance(self, delta: timedelta) -> datetime:
        """Move time forward, waking waits and running scheduled jobs in time order."""
        if delta < timedelta(0):
            raise ClockError("the clock only moves forward")
        self.wait_idle()
        target = self.now() + delta
        while True:
            current = self.now()
            wake = self.next_wake()
            jobs = self._due_jobs(current, target)
            job_at = jobs[0][0] if jobs else None
            candidates = [t for t in (wake, job_at) if t is not None and t <= target]
            if not candidates:
                break
            step_to = max(min(candidates), current)
            self._set_now(step_to)
            self.wait_idle()
            if job_at is not None and job_at <= step_to:
                jobs[0][1]()
                self.wait_idle()
        self._set_now(target)
        self.wait_idle()
        return target


_active: VirtualClock | None = None


def active_clock() -> VirtualClock | None:
    """The clock of the running local stack (None when none runs)."""
    return _active


def patch_moto(virtual: VirtualClock) -> None:
    """Route moto's ASL Wait states and execution threads through ``virtual``."""
    global _active
    _active = virtual
    if getattr(patch_moto, "_done", False):
        return
    from moto.stepfunctions.parser.asl.component.state.wait.wait_function import (
        wait_function,
    )
    from moto.stepfunctions.parser.backend import execution_worker

    def _wait_interval(self, env, wait_seconds):  # seam: WaitFunction._wait_interval
        if _active is None:
            raise ClockError("no virtual clock installed")
        _active.park(wait_seconds, env.is_running)

    original_logic = execution_worker.ExecutionWorker._execution_logic
    original_start = execution_worker.ExecutionWorker.start

    def _execution_logic(self):  # seam: ExecutionWorker._execution_logic
        try:
            original_logic(self)
        finally:
            counted_by = getattr(self, "_memberflow_clock", None)
            if counted_by is not None:
                counted_by.execution_finished()

    def start(self):  # seam: ExecutionWorker.start (counted before the thread exists)
        if _active is not None:
            self._memberflow_clock = _active
            _active.execution_started()
        original_start(self)

    # seam: the Retry backoff sleeps in real time (retrier_decl's time.sleep); locally a
    # retry happens at once, so a transient failure costs no wall time.
    from types import SimpleNamespace

    from moto.stepfunctions.parser.asl.component.common.retry import retrier_decl

    retrier_decl.time = SimpleNamespace(sleep=lambda _seconds: None)

    wait_function.WaitFunction._wait_interval = _wait_interval
    execution_worker.ExecutionWorker._execution_logic = _execution_logic
    execution_worker.ExecutionWorker.start = start
    patch_moto._done = True
