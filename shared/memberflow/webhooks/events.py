"""Normalised events: what a verified delivery means, independent of the platform.

Every event carries ``platform`` and ``shop``; with ``customer_id`` they form the key
of a member's identity at its source. ``shop`` is ``""`` when the source gave none
(a memberflow event addressed by ``member_id`` only). Times are timezone-aware UTC,
money is :class:`decimal.Decimal`, ids are strings. Emails are normalised (stripped,
lower-cased); an empty email or phone is ``None``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Literal

ConsentChannel = Literal["email", "sms"]
InteractionKind = Literal["login", "app_open", "review", "check_in"]
PrivacyKind = Literal["data_request", "redact", "shop_redact"]


@dataclass(frozen=True)
class CustomerUpserted:
    """A customer was created or changed at the source (sign-up, profile update).

    ``profile_completed``: first name, last name, email and a postal address (street,
    city, country) are all present, or the source said so explicitly. ``birthday``:
    ``YYYY-MM-DD`` or ``--MM-DD`` (memberflow.members.birthdays); ``None`` when the
    source did not send one (the stored birthday stays, as with the other fields).
    ``birthday_cleared``: the source said explicitly that there is none (the stored
    birthday is removed).
    """

    platform: str
    shop: str
    customer_id: str
    email: str | None
    phone: str | None
    first_name: str | None
    last_name: str | None
    locale: str | None
    timezone: str | None
    updated_at: datetime
    created_at: datetime | None
    profile_completed: bool
    birthday: str | None = None
    birthday_cleared: bool = False


@dataclass(frozen=True)
class ConsentChanged:
    """Marketing consent for one channel changed; ``granted`` only for an explicit opt-in."""

    platform: str
    shop: str
    customer_id: str | None
    email: str | None
    channel: ConsentChannel
    granted: bool
    updated_at: datetime
    member_id: str | None = None
    state: str | None = None  # the source's own state name, e.g. "not_subscribed"


@dataclass(frozen=True)
class OrderPaid:
    """An order was paid. ``customer`` is the buyer as embedded in the order (Shopify's
    ``customer``, WooCommerce's billing data; ``None`` for guests), so that a stub member
    can be created when the order arrives before its customer. It is not authoritative
    for a member that already exists."""

    platform: str
    shop: str
    order_id: str
    customer_id: str | None
    email: str | None
    total: Decimal
    currency: str
    paid_at: datetime
    updated_at: datetime
    coupon_codes: tuple[str, ...]
    customer: CustomerUpserted | None
    member_id: str | None = None


@dataclass(frozen=True)
class OrderPending:
    """An order was placed but is not paid yet (Shopify orders/create, WooCommerce
    pending / on-hold)."""

    platform: str
    shop: str
    order_id: str
    customer_id: str | None
    email: str | None
    total: Decimal
    currency: str
    updated_at: datetime
    coupon_codes: tuple[str, ...]
    customer: CustomerUpserted | None
    created_at: datetime | None = None


@dataclass(frozen=True)
class OrderCancelled:
    platform: str
    shop: str
    order_id: str
    customer_id: str | None
    email: str | None
    cancelled_at: datetime
    updated_at: datetime


@dataclass(frozen=True)
class OrderRefunded:
    """Money was given back on an order. ``refund_id`` is unique per refund within the
    order (WooCommerce full refunds use ``f"{order_id}:full"``). ``customer_id`` and
    ``email`` are ``None`` when the source does not say (Shopify refunds/create): look
    the order up instead."""

    platform: str
    shop: str
    order_id: str
    refund_id: str
    customer_id: str | None
    email: str | None
    amount: Decimal
    refunded_at: datetime
    currency: str | None = None
    member_id: str | None = None


@dataclass(frozen=True)
class Interaction:
    """A non-purchase interaction that counts toward activation."""

    platform: str
    shop: str
    customer_id: str | None
    member_id: str | None
    kind: InteractionKind
    at: datetime
    interaction_id: str


@dataclass(frozen=True)
class PrivacyRequest:
    """A data-subject request. ``request_id`` is the platform's id for it (Shopify
    ``data_request.id``) or, when it has none, the delivery's event id."""

    platform: str
    shop: str
    kind: PrivacyKind
    customer_id: str | None
    email: str | None
    request_id: str


Event = (
    CustomerUpserted
    | ConsentChanged
    | OrderPaid
    | OrderPending
    | OrderCancelled
    | OrderRefunded
    | Interaction
    | PrivacyRequest
)

__all__ = [
    "ConsentChanged",
    "CustomerUpserted",
    "Event",
    "Interaction",
    "OrderCancelled",
    "OrderPaid",
    "OrderPending",
    "OrderRefunded",
    "PrivacyRequest",
]
