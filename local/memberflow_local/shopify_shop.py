"""The local Shopify Admin GraphQL endpoint: requests executed against the Admin API
schema subset with graphql-core, ``userErrors`` as Shopify answers them, and the
leaky-bucket cost on every answer (``THROTTLED`` when a request's cost is lacking)."""

from __future__ import annotations

import functools
import json
from decimal import Decimal, InvalidOperation
from typing import Any

from memberflow_local.shop_state import LocalCode, _parse_time, _Shop

MUTATION_COST = 10  # Shopify: a mutation costs 10 points
QUERY_COST = 2  # an object (1) and its connection-free fields: a small query


class ShopifyAdmin:
    """Part of :class:`memberflow_local.shops.LocalShops`: its Shopify shops."""

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
