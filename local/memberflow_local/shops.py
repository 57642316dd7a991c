"""The local stack's shops: a Shopify Admin GraphQL endpoint and a WooCommerce REST
endpoint, over real HTTP on loopback, for the operations memberflow sends.

The shop adapters (``memberflow.shops``) run unchanged against it: the local stack sets
``MEMBERFLOW_LOCAL_SHOPS_URL`` and the adapters call
``{url}/shopify/{shop}/admin/api/{version}/graphql.json`` and
``{url}/woocommerce/{host}{path}wp-json/wc/v3/...`` instead of the platforms.

It answers as the platforms document (docs/local-stack.md, "Local shops"):

- Shopify: the request is executed against the Admin API schema subset
  (``shopify_admin_schema``) with graphql-core, so an unknown field or a wrongly typed
  variable is a GraphQL error; ``userErrors`` for a blank or taken code or a value out
  of range; ``extensions.cost`` on every answer, from a leaky bucket per shop
  (``bucket_size`` points, ``restore_rate`` per second, on ``clock``) and ``THROTTLED``
  when the bucket lacks the request's cost; HTTP 401 for a wrong access token.
- WooCommerce: ``GET coupons?code=``, ``POST coupons``, ``POST coupons/batch`` (at most
  100 objects, else 413); HTTP Basic (or the query-string keys) checked, 401 otherwise;
  400 ``woocommerce_rest_coupon_code_already_exists`` for a taken code.

Tests and the demo read what a shop holds (:meth:`LocalShops.codes`), use a code as an
order would (:meth:`LocalShops.use`), and make a shop fail (:meth:`LocalShops.fault`).
"""

from __future__ import annotations

import itertools
import json
import logging
import re
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import unquote, urlsplit

from memberflow_local.shop_state import (  # noqa: F401 (the shops' names)
    CodeRefused,
    LocalCode,
    ShopTime,
    _Fault,
    _Shop,
    _site_key,
)
from memberflow_local.shopify_shop import ShopifyAdmin
from memberflow_local.woocommerce_shop import WooCommerceRest

log = logging.getLogger("memberflow.local.shops")

_SHOPIFY_PATH = re.compile(r"^/shopify/([^/]+)/admin/api/(\d{4}-\d{2}|unstable)/graphql\.json$")
_WOO_PATH = re.compile(r"^/woocommerce/(.+?/)wp-json/wc/v3/(coupons(?:/batch)?)$")


class LocalShops(ShopifyAdmin, WooCommerceRest):
    """The endpoint and what every local shop holds. Shopify's cost bucket per shop is the
    Standard plan's (2,000 points, 100 a second) unless told otherwise; ``clock``
    (seconds, monotonic) refills it: tests pass one they advance with their injected
    sleep. (The virtual clock would not do: an adapter waiting for points sleeps in real
    time while the virtual clock stands still.)"""

    def __init__(
        self,
        *,
        bucket_size: float = 2000.0,
        restore_rate: float = 100.0,
        clock: Callable[[], float] = time.monotonic,
    ):
        self.bucket_size = bucket_size
        self.restore_rate = restore_rate
        self.clock = clock
        self._shops: dict[tuple[str, str], _Shop] = {}
        self._lock = threading.RLock()
        self._ids = itertools.count(1001)
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self.url = ""

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> LocalShops:
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},  # how long stop() waits for the loop
            name="memberflow-local-shops",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> LocalShops:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    # ------------------------------------------------------------------ set-up
    def add_shopify(self, shop: str, token: str) -> None:
        with self._lock:
            self._shops[("shopify", shop.strip().lower())] = _Shop(
                "shopify",
                shop.strip().lower(),
                token,
                available=self.bucket_size,
                refilled_at=self.clock(),
            )

    def add_woocommerce(self, site: str, consumer_key: str, consumer_secret: str) -> None:
        with self._lock:
            key = _site_key(site)
            self._shops[("woocommerce", key)] = _Shop(
                "woocommerce", key, (consumer_key, consumer_secret)
            )

    def add_sources(self, sources: dict, credentials: dict) -> None:
        """Every shop of a programme's ``sources`` that names credentials in ``discounts``."""
        for entry in sources.get("shopify") or []:
            ref = (entry.get("discounts") or {}).get("token")
            if ref and isinstance(credentials.get(ref), str):
                self.add_shopify(entry["shop"], credentials[ref])
        for entry in sources.get("woocommerce") or []:
            ref = (entry.get("discounts") or {}).get("credentials")
            pair = credentials.get(ref) if ref else None
            if isinstance(pair, dict):
                self.add_woocommerce(entry["site"], pair["consumer_key"], pair["consumer_secret"])

    def _find(self, shop: str) -> _Shop:
        with self._lock:
            found = self._shops.get(("shopify", shop.strip().lower())) or self._shops.get(
                ("woocommerce", _site_key(shop))
            )
        if found is None:
            raise KeyError(f"no local shop {shop!r}")
        return found

    # ------------------------------------------------------------------ tests and demo
    def codes(self, shop: str) -> dict[str, LocalCode]:
        """The codes a shop holds, by code as created."""
        found = self._find(shop)
        with self._lock:
            return {c.code: c for c in found.codes.values()}

    def requests(self, shop: str) -> int:
        """How many API requests the shop has answered (throttled and failed ones too)."""
        return self._find(shop).requests

    def fault(
        self,
        shop: str,
        *,
        status: int | None = None,
        throttle: bool = False,
        times: int | None = None,
        retry_after: float | None = None,
    ) -> None:
        """Make the shop answer ``status`` (e.g. 401, 429, 503) or, for Shopify,
        ``THROTTLED``, for the next ``times`` requests (None: until cleared)."""
        if status is None and not throttle:
            raise ValueError("fault: give a status or throttle=True")
        self._find(shop).fault = _Fault(status, throttle, times, retry_after)

    def clear_faults(self, shop: str | None = None) -> None:
        with self._lock:
            for found in [self._find(shop)] if shop else list(self._shops.values()):
                found.fault = None

    def use(
        self,
        shop: str,
        code: str,
        *,
        customer_id: str | None = None,
        email: str | None = None,
        at: datetime | None = None,
    ) -> LocalCode:
        """Apply ``code`` at the checkout as the shop would: known, started, not expired,
        not used up, and for this customer (Shopify) or e-mail (WooCommerce)."""
        found = self._find(shop)
        moment = at or datetime.now(UTC)
        with self._lock:
            held = found.codes.get(code.strip().lower())
            if held is None:
                raise CodeRefused("unknown code")
            if held.starts_at and moment < held.starts_at:
                raise CodeRefused("not yet valid")
            if held.ends_at and moment >= held.ends_at:
                raise CodeRefused("expired")
            if held.usage_limit is not None and held.used >= held.usage_limit:
                raise CodeRefused("usage limit reached")
            if held.customer_ids:
                gid = str(customer_id or "")
                gid = f"gid://shopify/Customer/{gid}" if gid.isdigit() else gid
                if gid not in held.customer_ids:
                    raise CodeRefused("not eligible for this customer")
            if held.emails and (email or "").strip().lower() not in {
                e.lower() for e in held.emails
            }:
                raise CodeRefused("not eligible for this e-mail")
            held.used += 1
            if found.platform == "woocommerce":
                found.coupons[int(held.discount_id)]["usage_count"] = held.used
            return held

    # ------------------------------------------------------------------ faults
    def _take_fault(self, shop: _Shop) -> _Fault | None:
        with self._lock:
            fault = shop.fault
            if fault is None:
                return None
            if fault.times is not None:
                fault.times -= 1
                if fault.times <= 0:
                    shop.fault = None
            return fault


def _handler(shops: LocalShops):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        server_version = "memberflow-local-shops"
        # headers and body leave in separate writes: without this, Nagle's algorithm and
        # the client's delayed ACK hold every answer on a kept-alive connection ~40 ms
        disable_nagle_algorithm = True

        def log_message(self, fmt, *args):
            log.debug(fmt, *args)

        def _serve(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            url = urlsplit(self.path)
            path = unquote(url.path)
            shopify = _SHOPIFY_PATH.match(path)
            woo = _WOO_PATH.match(path)
            if shopify and self.command == "POST":
                status, headers, answer = shops.shopify(shopify.group(1), self.headers, body)
            elif woo:
                status, headers, answer = shops.woocommerce(
                    self.command, woo.group(1), woo.group(2), url.query, self.headers, body
                )
            else:
                status, headers, answer = 404, {}, {"errors": "Not Found"}
            data = json.dumps(answer).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json; charset=utf-8")
            self.send_header("Content-Length", str(len(data)))
            for name, value in headers.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_POST = _serve

    return Handler
