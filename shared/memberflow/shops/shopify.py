"""Discount codes in a Shopify shop, over the Admin GraphQL API (docs/platforms/shopify.md).

One basic code discount per member (``discountCodeBasicCreate``): the discount is what
carries the eligibility, so a discount limited to one customer holds that customer's
code only. (Adding many codes to one discount in bulk would let any of the cohort use
any of its codes.) Each code: percentage or fixed amount off the order, ``startsAt`` /
``endsAt``, ``usageLimit`` 1, once per customer, eligible to that customer only
(``context.customers``, API 2025-10 and later), combinations and title as configured.

Idempotent on memberflow's key: the code is unique in a shop, so a retried creation is
answered "code must be unique" (``TAKEN``); the adapter then reads the discount with
that code (``codeDiscountNodeByCode``, scope ``read_discounts``) and takes it as created
only if it is a basic discount for the same customer. Any other owner of the code is a
refusal: memberflow must not send a code another discount (or member) holds.

Rate limits: Shopify's GraphQL API meters cost in a leaky bucket; a request over it is
answered ``THROTTLED`` (HTTP 200, ``errors[].extensions.code``), with the bucket's state
in ``extensions.cost.throttleStatus``. The adapter waits for the points it needs (from
that state) and retries, a bounded number of times; it also waits before a request when
the last answer left too few points. HTTP 429 and 5xx are retried with backoff.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any

from memberflow.shops import CreatedCode, Creation, DiscountCode, ShopRefused
from memberflow.shops.transport import Backoff, Reply, Transport, Unreachable

# What a mutation of one discount costs (Shopify's published cost: 10 points a mutation);
# used before the first answer tells the real figure.
MUTATION_COST = 10

CREATE_DOCUMENT = """
mutation MemberflowCreateCode($basicCodeDiscount: DiscountCodeBasicInput!) {
  discountCodeBasicCreate(basicCodeDiscount: $basicCodeDiscount) {
    codeDiscountNode { id }
    userErrors { field code message }
  }
}
""".strip()

LOOKUP_DOCUMENT = """
query MemberflowFindCode($code: String!) {
  codeDiscountNodeByCode(code: $code) {
    id
    codeDiscount {
      __typename
      ... on DiscountCodeBasic {
        context {
          __typename
          ... on DiscountCustomers { customers { id } }
        }
      }
    }
  }
}
""".strip()

_GID = re.compile(r"^gid://shopify/Customer/[0-9]+$")


def customer_gid(customer_id: str) -> str:
    """The customer's global id (memberflow keeps Shopify's numeric id or the gid)."""
    text = str(customer_id).strip()
    if text.isdigit():
        return f"gid://shopify/Customer/{text}"
    if _GID.match(text):
        return text
    raise ShopRefused("not a Shopify customer id", retryable=False, field="customer_id")


def _money(value: Decimal) -> str:
    return str(Decimal(value).quantize(Decimal("0.01")))


def _iso(moment) -> str:
    return moment.isoformat().replace("+00:00", "Z")


class ShopifyDiscounts:
    """A :class:`memberflow.shops.DiscountShop` for one Shopify shop."""

    platform = "shopify"

    def __init__(
        self,
        shop: str,
        *,
        token: str,
        api_version: str,
        title: str = "memberflow",
        combines_with: Mapping[str, bool] | None = None,
        endpoint: str | None = None,
        backoff: Backoff | None = None,
        transport: Transport | None = None,
    ):
        self.shop = shop
        self.api_version = api_version
        self.title = title
        combines = dict(combines_with or {})
        self.combines_with = {
            "orderDiscounts": bool(combines.get("order_discounts", False)),
            "productDiscounts": bool(combines.get("product_discounts", False)),
            "shippingDiscounts": bool(combines.get("shipping_discounts", True)),
        }
        self.url = endpoint or f"https://{shop}/admin/api/{api_version}/graphql.json"
        self._token = token
        self.backoff = backoff or Backoff()
        self._transport = transport or Transport()
        # points left in the shop's bucket after the last answer, and its refill rate
        self._available: float | None = None
        self._restore_rate: float = 50.0
        self._last_cost: float = MUTATION_COST

    def __repr__(self) -> str:  # never print the token
        return f"ShopifyDiscounts({self.shop!r}, api_version={self.api_version!r})"

    # ------------------------------------------------------------------ interface
    def create_codes(self, codes: Sequence[DiscountCode]) -> Creation:
        created: dict[str, CreatedCode] = {}
        refused: dict[str, ShopRefused] = {}
        shop_wide: ShopRefused | None = None
        for code in codes:
            if shop_wide is not None:
                # the shop refused the token, or stayed throttled: the rest would fare alike
                refused[code.key] = shop_wide
                continue
            try:
                created[code.key] = self._create(code)
            except _ShopWide as error:
                shop_wide = error.refusal
                refused[code.key] = shop_wide
            except ShopRefused as refusal:
                refused[code.key] = refusal
        return Creation(created=created, refused=refused)

    # ------------------------------------------------------------------ one code
    def input_for(self, code: DiscountCode) -> dict[str, Any]:
        """The ``DiscountCodeBasicInput`` for one code (what memberflow sends)."""
        if code.kind == "percentage":
            if not (0 < code.value <= 100):
                raise ShopRefused("percentage must be in (0, 100]", retryable=False, field="value")
            value: dict[str, Any] = {"percentage": float(Decimal(code.value) / 100)}
        elif code.kind == "fixed_amount":
            if code.value <= 0:
                raise ShopRefused("amount must be positive", retryable=False, field="value")
            value = {"discountAmount": {"amount": _money(code.value), "appliesOnEachItem": False}}
        else:
            raise ShopRefused(f"unknown discount kind {code.kind!r}", retryable=False, field="kind")
        return {
            "title": code.title or self.title,
            "code": code.code,
            "startsAt": _iso(code.starts_at),
            "endsAt": _iso(code.ends_at) if code.ends_at else None,
            "context": {"customers": {"add": [customer_gid(code.customer_id)]}},
            "customerGets": {"value": value, "items": {"all": True}},
            "usageLimit": 1,
            "appliesOncePerCustomer": True,
            "combinesWith": dict(self.combines_with),
        }

    def _create(self, code: DiscountCode) -> CreatedCode:
        variables = {"basicCodeDiscount": self.input_for(code)}
        data = self._graphql(CREATE_DOCUMENT, variables)
        payload = (data or {}).get("discountCodeBasicCreate") or {}
        errors = payload.get("userErrors") or []
        node = payload.get("codeDiscountNode")
        if not errors and node and node.get("id"):
            return CreatedCode(code.key, code.code, node["id"])
        if any(e.get("code") == "TAKEN" for e in errors):
            return self._existing(code)
        if not errors:
            raise ShopRefused("the shop created no discount", retryable=True)
        first = errors[0]
        field = ".".join(str(p) for p in (first.get("field") or [])[1:]) or None
        raise ShopRefused(
            f"{first.get('code') or 'INVALID'}: {first.get('message') or 'refused'}",
            retryable=False,
            field=field,
        )

    def _existing(self, code: DiscountCode) -> CreatedCode:
        """The code exists: ours (a retry) if it is a basic discount for this customer."""
        data = self._graphql(LOOKUP_DOCUMENT, {"code": code.code})
        node = (data or {}).get("codeDiscountNodeByCode")
        if node is None:
            # taken, yet not found: read-after-write lag on Shopify's side; try again later
            raise ShopRefused("the code is taken but not yet readable", retryable=True)
        discount = node.get("codeDiscount") or {}
        context = discount.get("context") or {}
        customers = {c.get("id") for c in context.get("customers") or []}
        if discount.get("__typename") == "DiscountCodeBasic" and customers == {
            customer_gid(code.customer_id)
        }:
            return CreatedCode(code.key, code.code, node["id"])
        raise ShopRefused(
            "the code belongs to another discount in the shop", retryable=False, field="code"
        )

    # ------------------------------------------------------------------ transport
    def _graphql(self, document: str, variables: Mapping[str, Any]) -> Any:
        """POST one operation; retries throttling and outages, bounded. Returns ``data``."""
        attempt = 0
        while True:
            attempt += 1
            self._wait_for_points()
            try:
                reply = self._transport.request(
                    "POST",
                    self.url,
                    headers={"X-Shopify-Access-Token": self._token},
                    body={"query": document, "variables": variables},
                )
            except Unreachable as error:
                self._retry_or_give_up(attempt, None, f"shop unreachable ({error})")
                continue
            if reply.status == 200:
                self._note_cost(reply)
                throttled = _throttled(reply)
                if throttled is not None:
                    self._retry_or_give_up(attempt, throttled, "throttled (GraphQL cost)")
                    continue
                errors = (reply.body or {}).get("errors")
                if errors:
                    codes = {str((e.get("extensions") or {}).get("code")) for e in errors}
                    if "ACCESS_DENIED" in codes:
                        raise _ShopWide(
                            ShopRefused(
                                "the access token lacks a scope (write_discounts, read_discounts)",
                                retryable=False,
                            )
                        )
                    if codes & {"INTERNAL_SERVER_ERROR", "SERVICE_UNAVAILABLE"}:
                        self._retry_or_give_up(attempt, None, "the shop's API failed")
                        continue
                    # the messages can echo the variables (codes, customer ids): not kept
                    raise ShopRefused(
                        "the shop refused the request (GraphQL errors: "
                        + ", ".join(sorted(c for c in codes if c != "None") or ["no code"])
                        + ")",
                        retryable=False,
                    )
                return (reply.body or {}).get("data")
            if reply.status in (429, 500, 502, 503, 504):
                self._retry_or_give_up(attempt, reply.retry_after(), f"HTTP {reply.status}")
                continue
            raise _ShopWide(_refusal_for_status(reply.status))

    def _retry_or_give_up(self, attempt: int, wait: float | None, why: str) -> None:
        if attempt >= self.backoff.attempts:
            raise _ShopWide(ShopRefused(f"{why}; gave up after {attempt} tries", retryable=True))
        self.backoff.sleep(self.backoff.delay(attempt, wait))

    def _note_cost(self, reply: Reply) -> None:
        cost = ((reply.body or {}).get("extensions") or {}).get("cost") or {}
        status = cost.get("throttleStatus") or {}
        if "currentlyAvailable" in status:
            self._available = float(status["currentlyAvailable"])
            self._restore_rate = float(status.get("restoreRate") or self._restore_rate)
        spent = cost.get("actualQueryCost") or cost.get("requestedQueryCost")
        if spent:
            self._last_cost = float(spent)

    def _wait_for_points(self) -> None:
        """Wait, before sending, for the points the last answer says are missing."""
        if self._available is None or self._available >= self._last_cost:
            return
        missing = self._last_cost - self._available
        self.backoff.sleep(min(self.backoff.cap, missing / max(self._restore_rate, 1.0)))
        self._available = None  # the next answer tells the bucket's state again


def _throttled(reply: Reply) -> float | None:
    """Seconds to wait when the answer is THROTTLED (None when it is not)."""
    body = reply.body or {}
    errors = body.get("errors") or []
    if not any((e.get("extensions") or {}).get("code") == "THROTTLED" for e in errors):
        return None
    cost = (body.get("extensions") or {}).get("cost") or {}
    status = cost.get("throttleStatus") or {}
    try:
        missing = float(cost.get("requestedQueryCost", MUTATION_COST)) - float(
            status.get("currentlyAvailable", 0)
        )
        return max(0.0, missing) / max(float(status.get("restoreRate", 50)), 1.0)
    except (TypeError, ValueError):
        return None


def _refusal_for_status(status: int) -> ShopRefused:
    reasons = {
        401: "the shop refused the Admin API access token (HTTP 401)",
        402: "the shop is frozen: its plan is unpaid (HTTP 402)",
        403: "the access token lacks a scope (write_discounts, read_discounts) (HTTP 403)",
        404: "no such shop or API version (HTTP 404)",
        423: "the shop is locked (HTTP 423)",
    }
    return ShopRefused(reasons.get(status, f"the shop answered HTTP {status}"), retryable=False)


class _ShopWide(Exception):
    """A refusal that holds for every code of the call (token, scope, outage)."""

    def __init__(self, refusal: ShopRefused):
        super().__init__(refusal.reason)
        self.refusal = refusal
