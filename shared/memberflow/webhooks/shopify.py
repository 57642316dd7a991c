"""Shopify: ``X-Shopify-*`` headers, REST-shaped JSON bodies (API 2025-01 and later)."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime
from decimal import Decimal
from typing import Any

from memberflow.webhooks import _util as u
from memberflow.webhooks import shopify_metafields as metafields
from memberflow.webhooks._schema import validate
from memberflow.webhooks.errors import WebhookError
from memberflow.webhooks.events import (
    ConsentChanged,
    CustomerUpserted,
    Event,
    OrderCancelled,
    OrderPaid,
    OrderPending,
    OrderRefunded,
    PrivacyRequest,
)

PLATFORM = "shopify"
HMAC_HEADER = "X-Shopify-Hmac-Sha256"
TOPIC_HEADER = "X-Shopify-Topic"
SHOP_HEADER = "X-Shopify-Shop-Domain"
EVENT_ID_HEADER = "X-Shopify-Event-Id"
WEBHOOK_ID_HEADER = "X-Shopify-Webhook-Id"
TRIGGERED_AT_HEADER = "X-Shopify-Triggered-At"

_SHOP = re.compile(r"[a-z0-9][a-z0-9.-]{0,254}", re.IGNORECASE)
_TOPIC = re.compile(r"[a-z0-9_]{1,64}/[a-z0-9_]{1,64}")


class Context:
    """What the headers say about a delivery, plus the fallback time; ``received_at``:
    the server's clock when the request came (what "in the future" is judged against)."""

    def __init__(
        self,
        shop: str,
        topic: str,
        event_id: str,
        triggered_at: datetime,
        received_at: datetime | None = None,
    ):
        self.shop, self.topic, self.event_id, self.triggered_at = (
            shop,
            topic,
            event_id,
            triggered_at,
        )
        self.received_at = received_at or triggered_at


def read_shop(headers: u.Headers) -> str:
    """The shop the delivery claims to come from (unsigned: it only picks the secret)."""
    shop = headers.require(SHOP_HEADER).lower()
    if not _SHOP.fullmatch(shop):
        raise WebhookError(400, f"header:{SHOP_HEADER}", "malformed shop domain")
    return shop


def read_headers(headers: u.Headers, now: datetime, *, shop: str) -> Context:
    """``shop``: the configured source whose secret verified the body."""
    topic = headers.require(TOPIC_HEADER).lower()
    if not _TOPIC.fullmatch(topic):
        raise WebhookError(400, f"header:{TOPIC_HEADER}", "malformed topic")
    if headers.get(EVENT_ID_HEADER) is not None:
        event_id = headers.token(EVENT_ID_HEADER)
    elif headers.get(WEBHOOK_ID_HEADER) is not None:
        event_id = headers.token(WEBHOOK_ID_HEADER)
    else:
        raise WebhookError(400, f"header:{EVENT_ID_HEADER}", "missing header")
    triggered = headers.get(TRIGGERED_AT_HEADER)
    try:
        triggered_at = u.parse_time(triggered, "") if triggered else now
    except WebhookError:
        triggered_at = now  # informative only: a fallback time, never worth a refusal
    return Context(shop, topic, event_id, triggered_at, now)


def delivery_id(ctx: Context) -> str:
    return f"shopify:{ctx.shop}:{ctx.topic}:{ctx.event_id}"


# -- payloads -----------------------------------------------------------------------------


def _profile_completed(first: Any, last: Any, email: Any, address: dict) -> bool:
    return all(
        u.text(v)
        for v in (
            first,
            last,
            email,
            address.get("address1"),
            address.get("city"),
            address.get("country_code"),
        )
    )


def _customer(
    ctx: Context,
    doc: dict,
    base: str,
    *,
    fallback_time: datetime,
    email: Any = None,
    phone: Any = None,
    billing: dict | None = None,
    locale: Any = None,
) -> CustomerUpserted:
    """A CustomerUpserted from a customer object (a customers/* body, or the ``customer``
    embedded in an order, where ``billing`` and the order's email fill the gaps)."""
    billing = billing or {}
    birthday = metafields.birthday(doc, base, ctx.received_at)
    address_field = (
        f"{base}.default_address" if doc.get("default_address") else "body.billing_address"
    )
    address = u.obj(doc.get("default_address")) or billing
    first = u.text(doc.get("first_name"), f"{base}.first_name") or u.text(
        billing.get("first_name"), "body.billing_address.first_name"
    )
    last = u.text(doc.get("last_name"), f"{base}.last_name") or u.text(
        billing.get("last_name"), "body.billing_address.last_name"
    )
    mail = u.email(doc.get("email"), f"{base}.email") or email
    updated = u.opt_time(doc.get("updated_at"), f"{base}.updated_at")
    created = u.opt_time(doc.get("created_at"), f"{base}.created_at")
    return CustomerUpserted(
        platform=PLATFORM,
        shop=ctx.shop,
        customer_id=u.ident(doc["id"], f"{base}.id"),
        email=mail,
        phone=u.phone(doc.get("phone"), f"{base}.phone")
        or u.phone(phone, "body.phone")
        or u.phone(address.get("phone"), f"{address_field}.phone"),
        first_name=first,
        last_name=last,
        locale=u.locale(locale, "body.customer_locale"),
        timezone=None,
        updated_at=updated or created or fallback_time,
        created_at=created,
        profile_completed=_profile_completed(first, last, mail, address),
        birthday=birthday,
        birthday_cleared=birthday is None and metafields.says_no_birthday(doc),
    )


def _resource(ctx: Context, body: dict, kind: str) -> None:
    """The topic must agree with the body: Shopify names every resource in
    ``admin_graphql_api_id`` (``gid://shopify/Order/<id>``); when present it must name
    the topic's kind of resource."""
    gid = body.get("admin_graphql_api_id")
    if gid is None:
        return
    if not isinstance(gid, str) or not gid.startswith(f"gid://shopify/{kind}/"):
        raise WebhookError(
            400, "body.admin_graphql_api_id", f"must be a {kind} for topic {ctx.topic}"
        )


def _customers(ctx: Context, body: dict) -> list[Event]:
    validate("shopify/customer.json", body)
    _resource(ctx, body, "Customer")
    if "line_items" in body or "order_number" in body:
        raise WebhookError(400, "body", f"an order is not a customer (topic {ctx.topic})")
    return [_customer(ctx, body, "body", fallback_time=ctx.triggered_at)]


def _order_common(ctx: Context, body: dict) -> tuple[dict, dict]:
    """(fields shared by the order events, the order's own times)"""
    validate("shopify/order.json", body)
    _resource(ctx, body, "Order")
    created = u.opt_time(body.get("created_at"), "body.created_at")
    processed = u.opt_time(body.get("processed_at"), "body.processed_at")
    updated = u.opt_time(body.get("updated_at"), "body.updated_at") or processed or created
    updated = updated or ctx.triggered_at
    customer_doc = body.get("customer")
    email = u.email(body.get("email"), "body.email") or u.email(
        body.get("contact_email"), "body.contact_email"
    )
    customer = None
    if isinstance(customer_doc, dict):
        customer = _customer(
            ctx,
            customer_doc,
            "body.customer",
            fallback_time=created or updated,
            email=email,
            phone=body.get("phone"),
            billing=u.obj(body.get("billing_address")),
            locale=body.get("customer_locale"),
        )
        email = email or customer.email
    if body.get("current_total_price") is not None:
        total = u.money(body["current_total_price"], "body.current_total_price")
    else:
        total = u.money(body["total_price"], "body.total_price")
    common = {
        "platform": PLATFORM,
        "shop": ctx.shop,
        "order_id": u.ident(body["id"], "body.id"),
        "customer_id": customer.customer_id if customer else None,
        "email": email,
        "total": total,
        "currency": body["currency"],
        "updated_at": updated,
        "coupon_codes": tuple(
            code
            for code in (
                u.text(d["code"], f"body.discount_codes[{i}].code")
                for i, d in enumerate(body.get("discount_codes") or [])
            )
            if code
        ),
        "customer": customer,
    }
    times = {
        "created": created,
        "processed": processed,
        "cancelled": u.opt_time(body.get("cancelled_at"), "body.cancelled_at"),
    }
    return common, times


def _orders_create(ctx: Context, body: dict) -> list[Event]:
    common, times = _order_common(ctx, body)
    return [OrderPending(**common, created_at=times["created"])]


# financial states of an order that has been paid (orders/paid fires on "paid"; a
# retried delivery may carry a later state)
PAID_STATES = ("paid", "partially_refunded", "refunded")


def _orders_paid(ctx: Context, body: dict) -> list[Event]:
    common, times = _order_common(ctx, body)
    if str(body.get("financial_status") or "").lower() not in PAID_STATES:
        # a captured orders/create body sent as orders/paid must not credit an unpaid order
        raise WebhookError(400, "body.financial_status", "must be paid for topic orders/paid")
    # Shopify sends no payment time: the order's processed_at is the order date used in
    # Shopify's own reports (and what the member sees), so it is the purchase time here.
    paid_at = times["processed"] or times["created"] or common["updated_at"]
    return [OrderPaid(**common, paid_at=paid_at)]


def _orders_cancelled(ctx: Context, body: dict) -> list[Event]:
    common, times = _order_common(ctx, body)
    if times["cancelled"] is None:
        # a paid body sent as orders/cancelled must not cancel the order
        raise WebhookError(400, "body.cancelled_at", "must be set for topic orders/cancelled")
    return [
        OrderCancelled(
            platform=PLATFORM,
            shop=ctx.shop,
            order_id=common["order_id"],
            customer_id=common["customer_id"],
            email=common["email"],
            cancelled_at=times["cancelled"],
            updated_at=common["updated_at"],
        )
    ]


def _refunds_create(ctx: Context, body: dict) -> list[Event]:
    validate("shopify/refund.json", body)
    _resource(ctx, body, "Refund")
    order_id = u.ident(body["order_id"], "body.order_id")
    # a refund of this order: every transaction and line it carries names the same order
    for i, tx in enumerate(body.get("transactions") or []):
        if tx.get("order_id") is not None and str(tx["order_id"]) != order_id:
            raise WebhookError(
                400, f"body.transactions[{i}].order_id", "must be the refund's order_id"
            )
    amount, currency, any_tx = Decimal(0), None, False
    for i, tx in enumerate(body.get("transactions") or []):
        if tx.get("kind") == "refund" and tx.get("status") == "success" and "amount" in tx:
            amount += u.money(tx["amount"], f"body.transactions[{i}].amount")
            currency = currency or u.text(tx.get("currency"), f"body.transactions[{i}].currency")
            any_tx = True
    if not any_tx:  # no money moved through a transaction: value the refunded lines
        for i, line in enumerate(body.get("refund_line_items") or []):
            shop_money = u.obj(u.obj(line.get("subtotal_set")).get("shop_money"))
            if "amount" in shop_money:
                base = f"body.refund_line_items[{i}].subtotal_set.shop_money.amount"
                amount += u.money(shop_money["amount"], base)
                currency = currency or u.text(shop_money.get("currency_code"), base)
            elif "subtotal" in line:
                amount += u.money(line["subtotal"], f"body.refund_line_items[{i}].subtotal")
    refunded_at = u.opt_time(body.get("processed_at"), "body.processed_at") or u.opt_time(
        body.get("created_at"), "body.created_at"
    )
    return [
        OrderRefunded(
            platform=PLATFORM,
            shop=ctx.shop,
            order_id=order_id,
            refund_id=u.ident(body["id"], "body.id"),
            customer_id=None,
            email=None,
            amount=amount,
            refunded_at=refunded_at or ctx.triggered_at,
            currency=currency,
        )
    ]


def _consent(channel: str, schema: str, key: str, contact: str) -> Callable:
    def parse(ctx: Context, body: dict) -> list[Event]:
        validate(schema, body)
        consent = u.obj(body.get(key))
        state = u.text(consent.get("state"), f"body.{key}.state")
        if state is None:
            raise u.Ignored("no consent state")  # e.g. Shopify's test notification
        field = "customer_id" if body.get("customer_id") is not None else "id"
        updated = u.opt_time(consent.get("consent_updated_at"), f"body.{key}.consent_updated_at")
        return [
            ConsentChanged(
                platform=PLATFORM,
                shop=ctx.shop,
                customer_id=u.ident(body[field], f"body.{field}"),
                email=u.email(body.get(contact), f"body.{contact}") if channel == "email" else None,
                channel=channel,  # type: ignore[arg-type]
                granted=state.lower() == "subscribed",
                updated_at=updated or ctx.triggered_at,
                state=state.lower()[:32],
            )
        ]

    return parse


def _privacy(kind: str, schema: str) -> Callable:
    def parse(ctx: Context, body: dict) -> list[Event]:
        validate(schema, body)
        customer = u.obj(body.get("customer"))
        request = u.obj(body.get("data_request"))
        return [
            PrivacyRequest(
                platform=PLATFORM,
                shop=ctx.shop,
                kind=kind,  # type: ignore[arg-type]
                customer_id=u.opt_ident(customer.get("id"), "body.customer.id"),
                email=u.email(customer.get("email"), "body.customer.email"),
                request_id=(
                    u.ident(request["id"], "body.data_request.id") if request else ctx.event_id
                ),
            )
        ]

    return parse


TOPICS: dict[str, Callable[[Context, dict], list[Event]]] = {
    "customers/create": _customers,
    "customers/update": _customers,
    "customers/email_marketing_consent_update": _consent(
        "email", "shopify/email_marketing_consent.json", "email_marketing_consent", "email_address"
    ),
    "customers/marketing_consent_update": _consent(
        "sms", "shopify/sms_marketing_consent.json", "sms_marketing_consent", "phone"
    ),
    "orders/create": _orders_create,
    "orders/paid": _orders_paid,
    "orders/cancelled": _orders_cancelled,
    "refunds/create": _refunds_create,
    "customers/data_request": _privacy("data_request", "shopify/customers_data_request.json"),
    "customers/redact": _privacy("redact", "shopify/customers_redact.json"),
    "shop/redact": _privacy("shop_redact", "shopify/shop_redact.json"),
}
