"""Discount codes in the member's own shop (Shopify, WooCommerce).

The journeys' coupons and the point redemptions become codes a member can type at the
checkout only if they exist in the shop. This module is the one interface the journey
step and the redemption use; one adapter per platform implements it
(``shops/shopify.py`` over the Admin GraphQL API, ``shops/woocommerce.py`` over REST
``wc/v3``), and the local stack answers both with small endpoints of its own.

The shops of a programme (the sources with ``discounts.create``) come from
``memberflow.shops.factory.discount_shops(programme, credentials)``, or in a handler
from ``memberflow.runtime.app_context().discount_shops()``, which reads the credentials
from the ``ShopCredentialsSecretName`` secret; both are keyed by the source's canonical
name (``memberflow.webhooks.secrets.canonical_name``).

Two promises every adapter keeps:

- **Idempotent on memberflow's key.** ``key`` is memberflow's coupon key; creating the
  same key again (a retried step, a redelivered redemption) yields the code already in
  the shop, never a second one.
- **All or nothing per code.** A code is reported created only when the shop has it;
  a code the shop refused is reported with the reason, so the caller defers that member
  instead of sending a code that does not exist.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Literal, Protocol

DiscountKind = Literal["percentage", "fixed_amount"]


@dataclass(frozen=True)
class DiscountCode:
    """A code memberflow wants to exist in a shop, for one member."""

    key: str  # memberflow's coupon key: the idempotency key in the shop
    code: str  # what the member types at the checkout
    kind: DiscountKind
    value: Decimal  # percent off (0 < value <= 100) or an amount in the shop's currency
    starts_at: datetime
    ends_at: datetime | None
    customer_id: str  # the shop's own customer id (the member's identity in that shop)
    email: str | None = None  # WooCommerce restricts a coupon by e-mail; never logged
    title: str = ""  # the discount's title in the shop admin (configured per shop)


@dataclass(frozen=True)
class CreatedCode:
    key: str
    code: str
    shop_discount_id: str  # the platform's id: a Shopify gid, a WooCommerce coupon id


class ShopRefused(Exception):
    """The shop did not create a code.

    ``retryable`` tells a throttle, timeout or outage (defer the member, try again) from a
    refusal that a retry will not change (a missing scope, a rejected field)."""

    def __init__(self, reason: str, *, retryable: bool, field: str | None = None):
        super().__init__(reason)
        self.reason = reason
        self.retryable = retryable
        self.field = field


@dataclass(frozen=True)
class Creation:
    """The outcome of one ``create_codes`` call, per memberflow key."""

    created: Mapping[str, CreatedCode] = field(default_factory=dict)
    refused: Mapping[str, ShopRefused] = field(default_factory=dict)


class DiscountShop(Protocol):
    """One configured shop that memberflow creates codes in."""

    platform: str  # "shopify" | "woocommerce"
    shop: str  # the source's name in the programme (shop domain or site URL)

    def create_codes(self, codes: Sequence[DiscountCode]) -> Creation:
        """Creates every code not yet in the shop (in bulk where the platform allows) and
        reports each key as created (existing ones included) or refused."""
        ...
