"""Discount codes on a WooCommerce site, over REST ``wc/v3`` (docs/platforms/woocommerce.md).

A cohort's codes go in batches of up to 100 (``POST coupons/batch``, WooCommerce's
limit per batch request). Each coupon: ``percent`` or ``fixed_cart``, usable once, once
per user, by the member's e-mail only (``email_restrictions``), until
``date_expires_gmt``; memberflow's key rides along in ``meta_data`` (``memberflow_key``).

Idempotent on memberflow's key: coupon codes are unique on a site, so a retried
creation comes back ``woocommerce_rest_coupon_code_already_exists`` for that item; the
adapter then reads the coupon by code (``GET coupons?code=``) and takes it as created
only if it carries the same key. A coupon of the same code without it is a refusal.

Authentication: the REST API key's consumer key and secret as HTTP Basic, which
WooCommerce accepts over HTTPS only (over plain HTTP it wants OAuth 1.0a signatures);
memberflow therefore calls sites over HTTPS only (the local stack's own endpoint, on
loopback, excepted). 429 and 5xx answers (the site's host or proxy) are retried with
backoff; a 401 or 403 refuses every code of the call.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping, Sequence
from datetime import UTC
from decimal import Decimal
from typing import Any
from urllib.parse import quote

from memberflow.shops import CreatedCode, Creation, DiscountCode, ShopRefused
from memberflow.shops.transport import Backoff, Transport, Unreachable

BATCH_MAX = 100  # WooCommerce's limit of objects per batch request
KEY_META = "memberflow_key"
ALREADY_EXISTS = "woocommerce_rest_coupon_code_already_exists"


def _gmt(moment) -> str:
    """``date_expires_gmt``: ISO 8601 in GMT, without an offset (as WooCommerce writes it)."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S")


class WooCommerceDiscounts:
    """A :class:`memberflow.shops.DiscountShop` for one WooCommerce site."""

    platform = "woocommerce"

    def __init__(
        self,
        site: str,
        *,
        consumer_key: str,
        consumer_secret: str,
        title: str = "memberflow",
        individual_use: bool = True,
        endpoint: str | None = None,
        backoff: Backoff | None = None,
        transport: Transport | None = None,
    ):
        self.shop = site
        self.title = title
        self.individual_use = individual_use
        base = endpoint or f"{site.rstrip('/')}/wp-json/wc/v3/"
        if not base.startswith("https://") and endpoint is None:
            raise ValueError(
                "WooCommerce takes REST keys over HTTPS only (plain HTTP needs OAuth 1.0a)"
            )
        self.base = base if base.endswith("/") else base + "/"
        pair = f"{consumer_key}:{consumer_secret}".encode()
        self._auth = "Basic " + base64.b64encode(pair).decode("ascii")
        self.backoff = backoff or Backoff()
        self._transport = transport or Transport()

    def __repr__(self) -> str:  # never print the keys
        return f"WooCommerceDiscounts({self.shop!r})"

    # ------------------------------------------------------------------ interface
    def create_codes(self, codes: Sequence[DiscountCode]) -> Creation:
        created: dict[str, CreatedCode] = {}
        refused: dict[str, ShopRefused] = {}
        pending: list[tuple[DiscountCode, dict]] = []
        for code in codes:
            try:
                pending.append((code, self.coupon_for(code)))
            except ShopRefused as refusal:
                refused[code.key] = refusal
        shop_wide: ShopRefused | None = None
        for start in range(0, len(pending), BATCH_MAX):
            chunk = pending[start : start + BATCH_MAX]
            if shop_wide is None:
                try:
                    self._create_batch(chunk, created, refused)
                    continue
                except _ShopWide as error:
                    shop_wide = error.refusal
            for code, _ in chunk:
                refused[code.key] = shop_wide
        return Creation(created=created, refused=refused)

    # ------------------------------------------------------------------ coupons
    def coupon_for(self, code: DiscountCode) -> dict[str, Any]:
        """The coupon memberflow sends for one code."""
        if not code.email:
            # without the restriction anyone could use the code
            raise ShopRefused(
                "WooCommerce coupons are restricted by e-mail", retryable=False, field="email"
            )
        if code.kind == "percentage":
            if not (0 < code.value <= 100):
                raise ShopRefused("percentage must be in (0, 100]", retryable=False, field="value")
            discount_type = "percent"
        elif code.kind == "fixed_amount":
            if code.value <= 0:
                raise ShopRefused("amount must be positive", retryable=False, field="value")
            discount_type = "fixed_cart"
        else:
            raise ShopRefused(f"unknown discount kind {code.kind!r}", retryable=False, field="kind")
        return {
            "code": code.code,
            "discount_type": discount_type,
            "amount": str(Decimal(code.value).quantize(Decimal("0.01"))),
            "description": code.title or self.title,
            "individual_use": self.individual_use,
            "email_restrictions": [code.email],
            "usage_limit": 1,
            "usage_limit_per_user": 1,
            "date_expires_gmt": _gmt(code.ends_at) if code.ends_at else None,
            "meta_data": [{"key": KEY_META, "value": code.key}],
        }

    def _create_batch(
        self,
        chunk: list[tuple[DiscountCode, dict]],
        created: dict[str, CreatedCode],
        refused: dict[str, ShopRefused],
    ) -> None:
        reply = self._call("POST", "coupons/batch", {"create": [c for _, c in chunk]})
        results = (reply or {}).get("create")
        if not isinstance(results, list) or len(results) != len(chunk):
            raise _ShopWide(ShopRefused("the site's batch answer was malformed", retryable=True))
        for (code, _), result in zip(chunk, results, strict=True):
            error = result.get("error") if isinstance(result, dict) else None
            if error is None and isinstance(result, dict) and result.get("id"):
                created[code.key] = CreatedCode(code.key, code.code, str(result["id"]))
                continue
            try:
                if error and error.get("code") == ALREADY_EXISTS:
                    created[code.key] = self._existing(code)
                else:
                    status = int(((error or {}).get("data") or {}).get("status") or 400)
                    raise ShopRefused(
                        f"{(error or {}).get('code') or 'refused'}: "
                        f"{(error or {}).get('message') or ''}"[:300],
                        retryable=status == 429 or status >= 500,
                    )
            except ShopRefused as refusal:
                refused[code.key] = refusal

    def _existing(self, code: DiscountCode) -> CreatedCode:
        found = self._call("GET", f"coupons?code={quote(code.code)}", None)
        for coupon in found if isinstance(found, list) else []:
            if str(coupon.get("code", "")).lower() != code.code.lower():
                continue
            keys = {
                m.get("value") for m in coupon.get("meta_data") or [] if m.get("key") == KEY_META
            }
            if keys == {code.key}:
                return CreatedCode(code.key, code.code, str(coupon["id"]))
            break
        else:
            raise ShopRefused("the code exists but is not yet readable", retryable=True)
        raise ShopRefused(
            "the code belongs to another coupon on the site", retryable=False, field="code"
        )

    # ------------------------------------------------------------------ transport
    def _call(self, method: str, path: str, body: Mapping[str, Any] | None) -> Any:
        attempt = 0
        while True:
            attempt += 1
            try:
                reply = self._transport.request(
                    method, self.base + path, headers={"Authorization": self._auth}, body=body
                )
            except Unreachable as error:
                self._retry_or_give_up(attempt, None, f"site unreachable ({error})")
                continue
            if 200 <= reply.status < 300:
                return reply.body
            if reply.status == 429 or reply.status >= 500:
                self._retry_or_give_up(attempt, reply.retry_after(), f"HTTP {reply.status}")
                continue
            code = (reply.body or {}).get("code") if isinstance(reply.body, dict) else None
            if reply.status in (401, 403):
                raise _ShopWide(
                    ShopRefused(
                        f"the site refused the REST API key (HTTP {reply.status}, {code})",
                        retryable=False,
                    )
                )
            raise _ShopWide(
                ShopRefused(f"the site answered HTTP {reply.status} ({code})", retryable=False)
            )

    def _retry_or_give_up(self, attempt: int, wait: float | None, why: str) -> None:
        if attempt >= self.backoff.attempts:
            raise _ShopWide(ShopRefused(f"{why}; gave up after {attempt} tries", retryable=True))
        self.backoff.sleep(self.backoff.delay(attempt, wait))


class _ShopWide(Exception):
    def __init__(self, refusal: ShopRefused):
        super().__init__(refusal.reason)
        self.refusal = refusal
