"""HTTP for the shop adapters: urllib3 (already in the layer through botocore), bounded
retries with backoff, and a sleep the tests inject so that they never wait.

Why not a platform SDK: Shopify's Python library (ShopifyAPI) posts GraphQL through
``urllib`` with no handling of the cost-based throttle, and gql would add its own
transports and dependencies to the layer; the ``woocommerce`` package wraps requests,
which the layer does not ship. What both platforms need from a client is small: JSON
over HTTPS, timeouts, and retrying what the platform says to retry.
"""

from __future__ import annotations

import json
import random
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import urllib3

# Statuses a retry can change: throttled, and the platform's (or its proxy's) outages.
RETRYABLE_STATUSES = frozenset({429, 500, 502, 503, 504})
DEFAULT_TIMEOUT = urllib3.Timeout(connect=3.0, read=10.0)


@dataclass(frozen=True)
class Reply:
    status: int
    headers: Mapping[str, str]
    body: Any  # parsed JSON, or None when the body was not JSON

    def retry_after(self) -> float | None:
        """Seconds the server asked to wait (``Retry-After`` in seconds), if any."""
        value = self.headers.get("Retry-After") or self.headers.get("retry-after")
        try:
            return max(0.0, float(value)) if value is not None else None
        except ValueError:
            return None


class Unreachable(Exception):
    """No HTTP answer: connection refused or reset, timeout, TLS failure."""


@dataclass
class Backoff:
    """Bounded retries: ``attempts`` tries in all, waits doubling from ``base`` up to
    ``cap`` seconds (with jitter), or what the platform asked for, never above ``cap``."""

    attempts: int = 5
    base: float = 0.5
    cap: float = 10.0
    sleep: Callable[[float], None] = time.sleep

    def delay(self, attempt: int, asked: float | None = None) -> float:
        if asked is not None:
            return min(self.cap, asked)
        exponential = self.base * (2 ** (attempt - 1))
        return min(self.cap, exponential * (0.5 + random.random() / 2))


class Transport:
    """JSON requests to one platform endpoint, pooled connections, certificates checked."""

    def __init__(self, *, timeout: urllib3.Timeout = DEFAULT_TIMEOUT, pool: Any = None):
        # retries=False: urllib3 must not retry on its own (a retried POST could create
        # twice behind our backs); the adapters retry, idempotently.
        self._pool = pool or urllib3.PoolManager(retries=False, timeout=timeout)

    def request(
        self,
        method: str,
        url: str,
        *,
        headers: Mapping[str, str],
        body: Any = None,
    ) -> Reply:
        data = None if body is None else json.dumps(body, separators=(",", ":")).encode()
        send_headers = {"Accept": "application/json", **headers}
        if data is not None:
            send_headers["Content-Type"] = "application/json"
        try:
            response = self._pool.request(
                method, url, body=data, headers=send_headers, redirect=False
            )
        except urllib3.exceptions.HTTPError as error:
            raise Unreachable(type(error).__name__) from None
        try:
            parsed = json.loads(response.data) if response.data else None
        except ValueError:
            parsed = None
        return Reply(response.status, dict(response.headers), parsed)
