"""What a local shop holds: its codes (as memberflow and the platform see them), a fault
to answer with, its rate-limit bucket, and the clock the shops keep."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any


@dataclass
class LocalCode:
    """A code a local shop holds, platform-neutral, for tests and the demo."""

    platform: str
    shop: str
    code: str
    discount_id: str
    kind: str  # percentage | fixed_amount
    value: Decimal  # percent off (15 = 15 %) or an amount
    starts_at: datetime | None
    ends_at: datetime | None
    customer_ids: tuple[str, ...] = ()  # Shopify: customer gids the discount is limited to
    emails: tuple[str, ...] = ()  # WooCommerce: email_restrictions
    usage_limit: int | None = None
    used: int = 0
    title: str = ""
    key: str | None = None  # WooCommerce: memberflow_key meta


class CodeRefused(Exception):
    """The shop would not take the code at the checkout; ``reason`` says why."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


@dataclass
class _Fault:
    status: int | None = None  # answer this HTTP status
    throttle: bool = False  # Shopify: answer THROTTLED
    times: int | None = None  # for this many requests (None: until cleared)
    retry_after: float | None = None


@dataclass
class _Shop:
    platform: str
    name: str
    credentials: Any
    codes: dict[str, LocalCode] = field(default_factory=dict)  # lower-case code -> code
    coupons: dict[int, dict] = field(default_factory=dict)  # WooCommerce representation
    available: float = 0.0
    refilled_at: float = 0.0
    fault: _Fault | None = None
    requests: int = 0


def _site_key(site: str) -> str:
    """A WooCommerce site as the endpoint's paths carry it: host and path, one slash."""
    text = site.strip()
    text = text.split("://", 1)[-1]
    host, _, path = text.partition("/")
    return f"{host.lower()}/{path.strip('/')}".rstrip("/") + "/"


def _parse_time(text: Any) -> datetime | None:
    if not text:
        return None
    moment = datetime.fromisoformat(str(text).replace("Z", "+00:00"))
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


class ShopTime:
    """Seconds for the shops' cost buckets on the local stack: time passes for a shop
    when the virtual clock moves (a simulated day refills the bucket, as a day would)
    and when real time passes (an adapter waiting for points sleeps in real time while
    the virtual clock stands still); by the larger of the two, so that ``memberflow
    serve``, whose clock follows real time, does not count it twice."""

    def __init__(
        self, virtual_now: Callable[[], datetime], real: Callable[[], float] = time.monotonic
    ):
        self._virtual_now = virtual_now
        self._real = real
        self._lock = threading.Lock()
        self._last_virtual = virtual_now()
        self._last_real = real()
        self._elapsed = 0.0

    def __call__(self) -> float:
        with self._lock:
            virtual, real = self._virtual_now(), self._real()
            step = max((virtual - self._last_virtual).total_seconds(), real - self._last_real, 0.0)
            self._last_virtual, self._last_real = virtual, real
            self._elapsed += step
            return self._elapsed
