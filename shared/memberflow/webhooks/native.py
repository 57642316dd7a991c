"""memberflow's own events (``POST /webhooks/events``), signed with Standard Webhooks.

The body is an envelope ``{"type", "timestamp", "data"}``; ``schemas/README.md``
documents every type. Unknown types are accepted and ignored so that senders can
be upgraded before receivers.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import re
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from memberflow.webhooks import _util as u
from memberflow.webhooks._schema import validate
from memberflow.webhooks.errors import WebhookError
from memberflow.webhooks.events import (
    ConsentChanged,
    CustomerUpserted,
    Event,
    Interaction,
    OrderPaid,
    OrderRefunded,
)
from memberflow.webhooks.signing import standard_digest

PLATFORM = "events"
ID_HEADER = "webhook-id"
TIMESTAMP_HEADER = "webhook-timestamp"
SIGNATURE_HEADER = "webhook-signature"
TOLERANCE = timedelta(minutes=5)

_TIMESTAMP = re.compile(r"[0-9]{1,12}")


def verify(headers: u.Headers, body: bytes, key: bytes, now: datetime) -> str:
    """Check a Standard Webhooks signature; return the message id. Every failure is a
    401 naming the header at fault."""
    msg_id = headers.token(ID_HEADER, status=401)
    stamp = headers.require(TIMESTAMP_HEADER, status=401)
    if not _TIMESTAMP.fullmatch(stamp):
        raise WebhookError(401, f"header:{TIMESTAMP_HEADER}", "malformed timestamp")
    sent = int(stamp)
    current = now.timestamp()
    if sent < current - TOLERANCE.total_seconds():
        raise WebhookError(401, f"header:{TIMESTAMP_HEADER}", "timestamp too old")
    if sent > current + TOLERANCE.total_seconds():
        raise WebhookError(401, f"header:{TIMESTAMP_HEADER}", "timestamp too new")
    signatures = headers.require(SIGNATURE_HEADER, status=401)
    expected = standard_digest(key, msg_id, stamp, body)
    matched = False
    for entry in signatures.split(" ")[:16]:
        version, _, value = entry.partition(",")
        if version != "v1" or not value:
            continue
        try:
            candidate = base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError):
            continue
        # no early exit: the time taken does not depend on which entry matched
        matched |= hmac.compare_digest(expected, candidate)
    if not matched:
        raise WebhookError(401, f"header:{SIGNATURE_HEADER}", "no matching signature")
    return msg_id


# -- payloads -----------------------------------------------------------------------------


def _member(data: dict, base: str, *, platform: str, shop: str, default_time: datetime):
    created = u.opt_time(data.get("created_at"), f"{base}.created_at")
    updated = u.opt_time(data.get("updated_at"), f"{base}.updated_at")
    return CustomerUpserted(
        platform=platform,
        shop=shop,
        customer_id=u.ident(data["customer_id"], f"{base}.customer_id"),
        email=u.email(data.get("email")),
        phone=u.text(data.get("phone")),
        first_name=u.text(data.get("first_name")),
        last_name=u.text(data.get("last_name")),
        locale=u.text(data.get("locale")),
        timezone=u.text(data.get("timezone")),
        updated_at=updated or default_time,
        created_at=created,
        profile_completed=bool(data.get("profile_completed", False)),
    )


def _source(data: dict) -> tuple[str, str]:
    return data.get("platform") or PLATFORM, data.get("shop") or ""


def _member_upserted(data: dict, ts: datetime) -> list[Event]:
    platform, shop = _source(data)
    return [_member(data, "body.data", platform=platform, shop=shop, default_time=ts)]


def _order_paid(data: dict, ts: datetime) -> list[Event]:
    platform, shop = _source(data)
    paid_at = u.parse_time(data["paid_at"], "body.data.paid_at")
    customer = None
    if isinstance(data.get("customer"), dict):
        customer = _member(
            data["customer"],
            "body.data.customer",
            platform=platform,
            shop=shop,
            default_time=paid_at,
        )
    return [
        OrderPaid(
            platform=platform,
            shop=shop,
            order_id=u.ident(data["order_id"], "body.data.order_id"),
            customer_id=u.opt_ident(data.get("customer_id"), "body.data.customer_id"),
            email=u.email(data.get("email")) or (customer.email if customer else None),
            total=u.money(data["total"], "body.data.total"),
            currency=data["currency"],
            paid_at=paid_at,
            updated_at=u.opt_time(data.get("updated_at"), "body.data.updated_at") or paid_at,
            coupon_codes=tuple(data.get("coupon_codes") or ()),
            customer=customer,
            member_id=u.opt_ident(data.get("member_id"), "body.data.member_id"),
        )
    ]


def _order_refunded(data: dict, ts: datetime) -> list[Event]:
    platform, shop = _source(data)
    return [
        OrderRefunded(
            platform=platform,
            shop=shop,
            order_id=u.ident(data["order_id"], "body.data.order_id"),
            refund_id=u.ident(data["refund_id"], "body.data.refund_id"),
            customer_id=u.opt_ident(data.get("customer_id"), "body.data.customer_id"),
            email=u.email(data.get("email")),
            amount=u.money(data["amount"], "body.data.amount"),
            refunded_at=u.parse_time(data["refunded_at"], "body.data.refunded_at"),
            currency=data.get("currency"),
            member_id=u.opt_ident(data.get("member_id"), "body.data.member_id"),
        )
    ]


def _interaction(data: dict, ts: datetime) -> list[Event]:
    platform, shop = _source(data)
    return [
        Interaction(
            platform=platform,
            shop=shop,
            customer_id=u.opt_ident(data.get("customer_id"), "body.data.customer_id"),
            member_id=u.opt_ident(data.get("member_id"), "body.data.member_id"),
            kind=data["kind"],
            at=u.parse_time(data["at"], "body.data.at"),
            interaction_id=u.ident(data["interaction_id"], "body.data.interaction_id"),
        )
    ]


def _consent_changed(data: dict, ts: datetime) -> list[Event]:
    platform, shop = _source(data)
    return [
        ConsentChanged(
            platform=platform,
            shop=shop,
            customer_id=u.opt_ident(data.get("customer_id"), "body.data.customer_id"),
            email=u.email(data.get("email")),
            channel=data["channel"],
            granted=data["granted"],
            updated_at=u.opt_time(data.get("updated_at"), "body.data.updated_at") or ts,
            member_id=u.opt_ident(data.get("member_id"), "body.data.member_id"),
            state="subscribed" if data["granted"] else "unsubscribed",
        )
    ]


TYPES: dict[str, Callable[[dict, datetime], list[Event]]] = {
    "member.upserted": _member_upserted,
    "order.paid": _order_paid,
    "order.refunded": _order_refunded,
    "interaction": _interaction,
    "consent.changed": _consent_changed,
}


def parse(body: Any) -> tuple[str, str, list[Event]]:
    """(type, shop, events) of a parsed envelope; raises Ignored for unknown types."""
    validate("envelope.schema.json", body)
    kind = body["type"]
    timestamp = u.parse_time(body["timestamp"], "body.timestamp")
    if kind not in TYPES:
        raise u.Ignored(f"unknown type {kind!r}")
    validate(f"{kind}.schema.json", body)
    data = body["data"]
    return kind, data.get("shop") or "", TYPES[kind](data, timestamp)
