"""The local WooCommerce REST endpoint: ``coupons`` (GET by code, POST) and
``coupons/batch`` (at most 100 objects), HTTP Basic or query-string keys checked, and
WooCommerce's own error bodies."""

from __future__ import annotations

import base64
import json
from decimal import Decimal, InvalidOperation
from typing import Any
from urllib.parse import parse_qs

from memberflow_local.shop_state import LocalCode, _parse_time, _Shop

WOO_BATCH_MAX = 100


class WooCommerceRest:
    """Part of :class:`memberflow_local.shops.LocalShops`: its WooCommerce sites."""

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


def _woo_error(code: str, message: str, status: int) -> dict:
    return {"code": code, "message": message, "data": {"status": status}}
