"""WooCommerce: ``X-WC-Webhook-*`` headers, wc/v3 REST-shaped JSON bodies."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime

from memberflow.webhooks import _util as u
from memberflow.webhooks._schema import validate
from memberflow.webhooks.errors import WebhookError
from memberflow.webhooks.events import (
    CustomerUpserted,
    Event,
    OrderCancelled,
    OrderPaid,
    OrderPending,
    OrderRefunded,
)

PLATFORM = "woocommerce"
SIGNATURE_HEADER = "X-WC-Webhook-Signature"
TOPIC_HEADER = "X-WC-Webhook-Topic"
SOURCE_HEADER = "X-WC-Webhook-Source"
DELIVERY_HEADER = "X-WC-Webhook-Delivery-ID"

# WC_Webhook::deliver_ping posts exactly this, form-encoded, unsigned, without headers
PING = re.compile(rb"\s*webhook_id=([0-9]{1,20})\s*")
_TOPIC = re.compile(r"[a-z0-9_]{1,64}\.[a-z0-9_.-]{1,128}")
_SOURCE = re.compile(r"https?://[!-~]{1,2040}", re.IGNORECASE)

PAID = ("processing", "completed")
PENDING = ("pending", "on-hold")


class Context:
    def __init__(self, source: str, topic: str, delivery: str):
        self.shop, self.topic, self.delivery = source, topic, delivery


def read_source(headers: u.Headers) -> str:
    """The site the delivery claims to come from (unsigned: it only picks the secret)."""
    source = headers.require(SOURCE_HEADER)
    if not _SOURCE.fullmatch(source):
        raise WebhookError(400, f"header:{SOURCE_HEADER}", "must be the shop's URL")
    return source


def read_headers(headers: u.Headers, *, site: str) -> Context:
    """``site``: the configured source whose secret verified the body."""
    topic = headers.require(TOPIC_HEADER).lower()
    if not _TOPIC.fullmatch(topic):
        raise WebhookError(400, f"header:{TOPIC_HEADER}", "malformed topic")
    return Context(site, topic, headers.token(DELIVERY_HEADER))


def delivery_id(ctx: Context) -> str:
    return f"woocommerce:{ctx.shop}:{ctx.topic}:{ctx.delivery}"


def _updated_at(body: dict) -> datetime:
    modified = u.opt_time(body.get("date_modified_gmt"), "body.date_modified_gmt")
    created = u.opt_time(body.get("date_created_gmt"), "body.date_created_gmt")
    if modified or created:
        return modified or created  # type: ignore[return-value]
    raise WebhookError(400, "body.date_modified_gmt", "required")


def _profile_completed(first, last, email, billing: dict) -> bool:
    return all(
        u.text(v)
        for v in (
            first,
            last,
            email,
            billing.get("address_1"),
            billing.get("city"),
            billing.get("country"),
        )
    )


def _billing(billing: dict) -> tuple[str | None, str | None, str | None, str | None]:
    """(first, last, email, phone) of a billing address, checked and cleaned."""
    return (
        u.text(billing.get("first_name"), "body.billing.first_name"),
        u.text(billing.get("last_name"), "body.billing.last_name"),
        u.email(billing.get("email"), "body.billing.email"),
        u.phone(billing.get("phone"), "body.billing.phone"),
    )


def _customers(ctx: Context, body: dict) -> list[Event]:
    validate("woocommerce/customer.json", body)
    if "status" in body or "line_items" in body:
        raise WebhookError(400, "body", f"an order is not a customer (topic {ctx.topic})")
    billing = u.obj(body.get("billing"))
    b_first, b_last, b_email, b_phone = _billing(billing)
    first = u.text(body.get("first_name"), "body.first_name") or b_first
    last = u.text(body.get("last_name"), "body.last_name") or b_last
    email = u.email(body.get("email"), "body.email") or b_email
    return [
        CustomerUpserted(
            platform=PLATFORM,
            shop=ctx.shop,
            customer_id=u.ident(body["id"], "body.id"),
            email=email,
            phone=b_phone,
            first_name=first,
            last_name=last,
            locale=None,
            timezone=None,
            updated_at=_updated_at(body),
            created_at=u.opt_time(body.get("date_created_gmt"), "body.date_created_gmt"),
            profile_completed=_profile_completed(first, last, email, billing),
        )
    ]


def _orders(ctx: Context, body: dict) -> list[Event]:
    validate("woocommerce/order.json", body)
    status = body["status"].lower()
    order_id = u.ident(body["id"], "body.id")
    raw_customer = str(body.get("customer_id", 0)).strip()
    customer_id = None if raw_customer in ("", "0") else u.ident(raw_customer, "body.customer_id")
    billing = u.obj(body.get("billing"))
    first, last, email, phone = _billing(billing)
    updated = _updated_at(body)
    created = u.opt_time(body.get("date_created_gmt"), "body.date_created_gmt")
    common = {
        "platform": PLATFORM,
        "shop": ctx.shop,
        "order_id": order_id,
        "customer_id": customer_id,
        "email": email,
    }

    if status in PAID or status in PENDING:
        customer = None
        if customer_id is not None:  # the buyer as the order knows them: a stub member
            customer = CustomerUpserted(
                platform=PLATFORM,
                shop=ctx.shop,
                customer_id=customer_id,
                email=email,
                phone=phone,
                first_name=first,
                last_name=last,
                locale=None,
                timezone=None,
                # billing data as of the order (see OrderPaid.customer)
                updated_at=created or updated,
                created_at=None,
                profile_completed=_profile_completed(first, last, email, billing),
            )
        order = {
            **common,
            "total": u.money(body["total"], "body.total"),
            "currency": body["currency"],
            "updated_at": updated,
            "coupon_codes": tuple(
                c
                for c in (
                    u.text(line["code"], f"body.coupon_lines[{i}].code")
                    for i, line in enumerate(body.get("coupon_lines") or [])
                )
                if c
            ),
            "customer": customer,
        }
        if status in PENDING:
            return [OrderPending(**order, created_at=created)]
        paid = u.opt_time(body.get("date_paid_gmt"), "body.date_paid_gmt")
        completed = u.opt_time(body.get("date_completed_gmt"), "body.date_completed_gmt")
        return [OrderPaid(**order, paid_at=paid or completed or created or updated)]
    if status == "cancelled":
        return [OrderCancelled(**common, cancelled_at=updated, updated_at=updated)]
    if status == "refunded":
        return [
            OrderRefunded(
                **common,
                refund_id=f"{order_id}:full",
                amount=u.money(body["total"], "body.total"),
                refunded_at=updated,
                currency=body["currency"],
            )
        ]
    raise u.Ignored(f"order status {re.sub(r'[^a-z0-9_-]', '', status)[:32]!r} not tracked")


TOPICS: dict[str, Callable[[Context, dict], list[Event]]] = {
    "customer.created": _customers,
    "customer.updated": _customers,
    "order.created": _orders,
    "order.updated": _orders,
}
