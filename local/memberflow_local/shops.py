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

import base64
import functools
import itertools
import json
import logging
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

log = logging.getLogger("memberflow.local.shops")

MUTATION_COST = 10  # Shopify: a mutation costs 10 points
QUERY_COST = 2  # an object (1) and its connection-free fields: a small query
WOO_BATCH_MAX = 100
_SHOPIFY_PATH = re.compile(r"^/shopify/([^/]+)/admin/api/(\d{4}-\d{2}|unstable)/graphql\.json$")
_WOO_PATH = re.compile(r"^/woocommerce/(.+?/)wp-json/wc/v3/(coupons(?:/batch)?)$")


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


class LocalShops:
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

    # ------------------------------------------------------------------ Shopify
    def _bucket(self, shop: _Shop) -> None:
        now = self.clock()
        shop.available = min(
            self.bucket_size, shop.available + (now - shop.refilled_at) * self.restore_rate
        )
        shop.refilled_at = now

    def _cost(self, shop: _Shop, requested: float, actual: float | None) -> dict:
        return {
            "requestedQueryCost": requested,
            "actualQueryCost": actual,
            "throttleStatus": {
                "maximumAvailable": self.bucket_size,
                "currentlyAvailable": round(shop.available, 1),
                "restoreRate": self.restore_rate,
            },
        }

    def shopify(self, shop_name: str, headers, body: bytes) -> tuple[int, dict, dict]:
        from graphql import OperationType, execute, get_operation_ast
        from graphql.error import GraphQLError

        from memberflow_local.shopify_admin_schema import admin_schema

        try:
            shop = self._find(shop_name)
        except KeyError:
            return 404, {}, {"errors": "Not Found"}
        if shop.platform != "shopify":
            return 404, {}, {"errors": "Not Found"}
        with self._lock:
            shop.requests += 1
        if headers.get("X-Shopify-Access-Token") != shop.credentials:
            return (
                401,
                {},
                {
                    "errors": "[API] Invalid API key or access token (unrecognized login or wrong password)"
                },
            )
        try:
            request = json.loads(body or b"{}")
            document, invalid = _prepared(request["query"])
        except (ValueError, KeyError, TypeError):
            return 400, {}, {"errors": {"query": "Required parameter missing or invalid"}}
        except GraphQLError as error:
            return 200, {}, {"errors": [error.formatted]}
        if invalid:
            return 200, {}, {"errors": invalid}
        operation = get_operation_ast(document, request.get("operationName"))
        mutation = operation is not None and operation.operation == OperationType.MUTATION
        requested = MUTATION_COST if mutation else QUERY_COST
        fault = self._take_fault(shop)
        with self._lock:
            self._bucket(shop)
            throttled = (fault is not None and fault.throttle) or shop.available < requested
            if fault is not None and fault.throttle:
                shop.available = 0.0
            if throttled:
                return (
                    200,
                    {},
                    {
                        "errors": [
                            {
                                "message": "Throttled",
                                "extensions": {
                                    "code": "THROTTLED",
                                    "documentation": "https://shopify.dev/api/usage/rate-limits",
                                },
                            }
                        ],
                        "extensions": {"cost": self._cost(shop, requested, None)},
                    },
                )
        if fault is not None and fault.status is not None:
            extra = {"Retry-After": str(fault.retry_after)} if fault.retry_after else {}
            return fault.status, extra, {"errors": f"HTTP {fault.status}"}
        root = {
            "discountCodeBasicCreate": lambda info, basicCodeDiscount: self._shopify_create(
                shop, basicCodeDiscount
            ),
            "codeDiscountNodeByCode": lambda info, code: self._shopify_node(shop, code),
        }
        with self._lock:
            shop.available -= requested
        result = execute(
            admin_schema(),
            document,
            root_value=root,
            variable_values=request.get("variables") or {},
            operation_name=request.get("operationName"),
        )
        answer: dict[str, Any] = {}
        if result.errors:
            answer["errors"] = [e.formatted for e in result.errors]
        if result.data is not None:
            answer["data"] = result.data
        with self._lock:
            answer["extensions"] = {"cost": self._cost(shop, requested, requested)}
        return 200, {}, answer

    def _shopify_node(self, shop: _Shop, code: str) -> dict | None:
        with self._lock:
            held = shop.codes.get(code.strip().lower())
            return None if held is None else _node(held)

    def _shopify_create(self, shop: _Shop, given: dict) -> dict:
        def refuse(field_name: str, code: str, message: str) -> dict:
            return {
                "codeDiscountNode": None,
                "userErrors": [
                    {"field": ["basicCodeDiscount", field_name], "code": code, "message": message}
                ],
            }

        for name in ("title", "code", "startsAt", "customerGets", "context"):
            if given.get(name) in (None, "", {}):
                return refuse(name, "BLANK", f"{name} can't be blank")
        code = str(given["code"]).strip()
        if len(code) > 255:
            return refuse("code", "TOO_LONG", "Code is too long (maximum is 255 characters)")
        value = (given["customerGets"] or {}).get("value") or {}
        if ("percentage" in value) == ("discountAmount" in value):
            return refuse("customerGets", "INVALID", "Value must be a percentage or an amount")
        if "percentage" in value:
            percentage = value["percentage"]
            if percentage is None or not (0 < percentage <= 1):
                return refuse(
                    "customerGets", "VALUE_OUTSIDE_RANGE", "Percentage must be between 0 and 1"
                )
            kind, amount = "percentage", Decimal(str(percentage)) * 100
        else:
            try:
                amount = Decimal(str((value["discountAmount"] or {}).get("amount")))
            except InvalidOperation:
                return refuse("customerGets", "INVALID", "Amount is invalid")
            if amount <= 0:
                return refuse("customerGets", "GREATER_THAN", "Amount must be greater than 0")
            kind = "fixed_amount"
        try:
            starts, ends = _parse_time(given["startsAt"]), _parse_time(given.get("endsAt"))
        except ValueError:
            return refuse("startsAt", "INVALID", "Dates must be ISO 8601")
        if ends is not None and ends <= starts:
            return refuse("endsAt", "INVALID", "Ends at needs to be after starts_at")
        context = given["context"]
        customers = tuple((context.get("customers") or {}).get("add") or ())
        if not customers and context.get("all") != "ALL":
            return refuse("context", "BLANK", "Context must name buyers")
        with self._lock:
            if code.lower() in shop.codes:
                return refuse("code", "TAKEN", "Code must be unique. Please try a different code.")
            held = LocalCode(
                platform="shopify",
                shop=shop.name,
                code=code,
                discount_id=f"gid://shopify/DiscountCodeNode/{next(self._ids)}",
                kind=kind,
                value=amount.normalize(),
                starts_at=starts,
                ends_at=ends,
                customer_ids=customers,
                usage_limit=given.get("usageLimit"),
                title=given["title"],
            )
            shop.codes[code.lower()] = held
            return {"codeDiscountNode": _node(held), "userErrors": []}

    # ------------------------------------------------------------------ WooCommerce
    def woocommerce(
        self, method: str, site: str, resource: str, query: str, headers, body: bytes
    ) -> tuple[int, dict, Any]:
        try:
            shop = self._find(site)
        except KeyError:
            return 404, {}, _woo_error("rest_no_route", "No route was found.", 404)
        with self._lock:
            shop.requests += 1
        if not self._woo_authorised(shop, headers, parse_qs(query)):
            return (
                401,
                {},
                _woo_error(
                    "woocommerce_rest_authentication_error", "Consumer key is invalid.", 401
                ),
            )
        fault = self._take_fault(shop)
        if fault is not None and fault.status is not None:
            extra = {"Retry-After": str(fault.retry_after)} if fault.retry_after else {}
            return (
                fault.status,
                extra,
                _woo_error("local_fault", f"HTTP {fault.status}", fault.status),
            )
        if resource == "coupons" and method == "GET":
            wanted = (parse_qs(query).get("code") or [""])[0].strip().lower()
            with self._lock:
                found = [c for c in shop.coupons.values() if c["code"].lower() == wanted]
            return 200, {}, found
        try:
            request = json.loads(body or b"{}")
        except ValueError:
            return 400, {}, _woo_error("rest_invalid_json", "Invalid JSON body passed.", 400)
        if resource == "coupons" and method == "POST":
            status, answer = self._woo_create(shop, request)
            return status, {}, answer
        if resource == "coupons/batch" and method == "POST":
            items = request.get("create") or []
            if not isinstance(items, list):
                return (
                    400,
                    {},
                    _woo_error("rest_invalid_param", "Invalid parameter(s): create", 400),
                )
            if (
                len(items) + len(request.get("update") or []) + len(request.get("delete") or [])
                > WOO_BATCH_MAX
            ):
                return (
                    413,
                    {},
                    _woo_error(
                        "woocommerce_rest_request_entity_too_large",
                        f"Unable to accept more than {WOO_BATCH_MAX} items for this request.",
                        413,
                    ),
                )
            out = []
            for item in items:
                status, answer = self._woo_create(shop, item)
                out.append(answer if status == 201 else {"id": 0, "error": answer})
            return 200, {}, {"create": out}
        return (
            404,
            {},
            _woo_error(
                "rest_no_route", "No route was found matching the URL and request method.", 404
            ),
        )

    @staticmethod
    def _woo_authorised(shop: _Shop, headers, query: dict) -> bool:
        given = None
        auth = headers.get("Authorization") or ""
        if auth.startswith("Basic "):
            try:
                given = tuple(base64.b64decode(auth[6:]).decode().split(":", 1))
            except ValueError:
                return False
        elif query.get("consumer_key"):
            given = (query["consumer_key"][0], (query.get("consumer_secret") or [""])[0])
        return given == tuple(shop.credentials)

    def _woo_create(self, shop: _Shop, given: Any) -> tuple[int, dict]:
        if not isinstance(given, dict):
            return 400, _woo_error("rest_invalid_param", "Invalid parameter(s): body", 400)
        code = str(given.get("code") or "").strip()
        if not code:
            return 400, _woo_error(
                "woocommerce_rest_empty_coupon_code", "The coupon code cannot be empty.", 400
            )
        discount_type = given.get("discount_type", "fixed_cart")
        if discount_type not in ("percent", "fixed_cart", "fixed_product"):
            return 400, _woo_error(
                "rest_invalid_param",
                "Invalid parameter(s): discount_type (discount_type is not one of percent, fixed_cart, and fixed_product.)",
                400,
            )
        try:
            amount = Decimal(str(given.get("amount", "0")))
        except InvalidOperation:
            return 400, _woo_error("rest_invalid_param", "Invalid parameter(s): amount", 400)
        emails = given.get("email_restrictions") or []
        if not isinstance(emails, list) or not all(isinstance(e, str) for e in emails):
            return 400, _woo_error(
                "rest_invalid_param", "Invalid parameter(s): email_restrictions", 400
            )
        try:
            expires = _parse_time(given.get("date_expires_gmt") or given.get("date_expires"))
        except ValueError:
            return 400, _woo_error("rest_invalid_param", "Invalid parameter(s): date_expires", 400)
        meta = given.get("meta_data") or []
        with self._lock:
            if code.lower() in shop.codes:
                return 400, _woo_error(
                    "woocommerce_rest_coupon_code_already_exists",
                    "The coupon code already exists",
                    400,
                )
            coupon_id = next(self._ids)
            coupon = {
                "id": coupon_id,
                "code": code.lower(),  # WooCommerce stores coupon codes in lower case
                "amount": f"{amount:.2f}",
                "discount_type": discount_type,
                "description": str(given.get("description") or ""),
                "date_expires": expires.strftime("%Y-%m-%dT%H:%M:%S") if expires else None,
                "date_expires_gmt": expires.strftime("%Y-%m-%dT%H:%M:%S") if expires else None,
                "usage_count": 0,
                "individual_use": bool(given.get("individual_use", False)),
                "usage_limit": given.get("usage_limit"),
                "usage_limit_per_user": given.get("usage_limit_per_user"),
                "email_restrictions": list(emails),
                "meta_data": [
                    {"id": i + 1, "key": m.get("key"), "value": m.get("value")}
                    for i, m in enumerate(meta)
                    if isinstance(m, dict)
                ],
            }
            shop.coupons[coupon_id] = coupon
            key = next(
                (m["value"] for m in coupon["meta_data"] if m["key"] == "memberflow_key"), None
            )
            shop.codes[code.lower()] = LocalCode(
                platform="woocommerce",
                shop=shop.name,
                code=code,
                discount_id=str(coupon_id),
                kind="percentage" if discount_type == "percent" else "fixed_amount",
                value=amount.normalize(),
                starts_at=None,
                ends_at=expires,
                emails=tuple(emails),
                usage_limit=given.get("usage_limit"),
                title=coupon["description"],
                key=key,
            )
            return 201, dict(coupon)


@functools.lru_cache(maxsize=64)
def _prepared(source: str):
    """A document parsed and validated against the schema once (memberflow sends the same
    few documents again and again): ``(document, validation errors as answered)``."""
    from graphql import parse, validate

    from memberflow_local.shopify_admin_schema import admin_schema

    if not isinstance(source, str):
        raise TypeError("query must be a string")
    document = parse(source)
    return document, [e.formatted for e in validate(admin_schema(), document)]


def _node(held: LocalCode) -> dict:
    return {
        "id": held.discount_id,
        "codeDiscount": {
            "__typename": "DiscountCodeBasic",
            "title": held.title,
            "startsAt": held.starts_at.isoformat() if held.starts_at else None,
            "endsAt": held.ends_at.isoformat() if held.ends_at else None,
            "usageLimit": held.usage_limit,
            "appliesOncePerCustomer": True,
            "asyncUsageCount": held.used,
            "status": "ACTIVE",
            "context": (
                {
                    "__typename": "DiscountCustomers",
                    "customers": [{"id": c} for c in held.customer_ids],
                }
                if held.customer_ids
                else {"__typename": "DiscountBuyerSelectionAll", "all": "ALL"}
            ),
        },
    }


def _woo_error(code: str, message: str, status: int) -> dict:
    return {"code": code, "message": message, "data": {"status": status}}


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
