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


def verify(
    headers: u.Headers, body: bytes, senders: list[tuple[str, bytes]], now: datetime
) -> tuple[str, str]:
    """Check a Standard Webhooks signature against each configured sender's key;
    return (message id, the sender whose key signed it). Every failure is a 401 naming
    the header at fault. The signature is the only thing that names the sender."""
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
    candidates = []
    for entry in signatures.split(" ")[:16]:
        version, _, value = entry.partition(",")
        if version != "v1" or not value:
            continue
        try:
            candidates.append(base64.b64decode(value, validate=True))
        except (binascii.Error, ValueError):
            continue
    matched: str | None = None
    for name, key in senders:
        expected = standard_digest(key, msg_id, stamp, body)
        for candidate in candidates:
            # no early exit: the time taken does not depend on which entry matched
            if hmac.compare_digest(expected, candidate) and matched is None:
                matched = name
    if matched is None:
        raise WebhookError(401, f"header:{SIGNATURE_HEADER}", "no matching signature")
    return msg_id, matched


# -- payloads -----------------------------------------------------------------------------


def _member(
    data: dict,
    base: str,
    *,
    platform: str,
    shop: str,
    default_time: datetime,
    received_at: datetime,
    clears: bool = False,
):
    """``received_at``: the server's clock, what a birthday "in the future" is judged
    against (the payload's own times are the sender's to choose). ``clears``: an explicit
    ``"birthday": null`` removes the stored birthday (member.upserted; absent: kept)."""
    created = u.opt_time(data.get("created_at"), f"{base}.created_at")
    updated = u.opt_time(data.get("updated_at"), f"{base}.updated_at")
    return CustomerUpserted(
        platform=platform,
        shop=shop,
        customer_id=u.ident(data["customer_id"], f"{base}.customer_id"),
        email=u.email(data.get("email"), f"{base}.email"),
        phone=u.phone(data.get("phone"), f"{base}.phone"),
        first_name=u.text(data.get("first_name"), f"{base}.first_name"),
        last_name=u.text(data.get("last_name"), f"{base}.last_name"),
        locale=u.locale(data.get("locale"), f"{base}.locale"),
        timezone=u.timezone(data.get("timezone"), f"{base}.timezone"),
        updated_at=updated or default_time,
        created_at=created,
        profile_completed=bool(data.get("profile_completed", False)),
        birthday=u.birthday(data.get("birthday"), f"{base}.birthday", received_at),
        birthday_cleared=clears and "birthday" in data and data["birthday"] is None,
    )


Addressed = Callable[[Any, Any, str], tuple[str, str]]


def _source(data: dict, addressed: Addressed) -> tuple[str, str]:
    """(platform, shop) the event names, checked against the configured sources."""
    return addressed(data.get("platform"), data.get("shop"), "body.data.shop")


def _member_upserted(
    data: dict, ts: datetime, addressed: Addressed, received_at: datetime
) -> list[Event]:
    platform, shop = _source(data, addressed)
    return [
        _member(
            data,
            "body.data",
            platform=platform,
            shop=shop,
            default_time=ts,
            received_at=received_at,
            clears=True,
        )
    ]


def _order_paid(
    data: dict, ts: datetime, addressed: Addressed, received_at: datetime
) -> list[Event]:
    platform, shop = _source(data, addressed)
    paid_at = u.parse_time(data["paid_at"], "body.data.paid_at")
    customer = None
    if isinstance(data.get("customer"), dict):
        customer = _member(
            data["customer"],
            "body.data.customer",
            platform=platform,
            shop=shop,
            default_time=paid_at,
            received_at=received_at,
        )
    return [
        OrderPaid(
            platform=platform,
            shop=shop,
            order_id=u.ident(data["order_id"], "body.data.order_id"),
            customer_id=u.opt_ident(data.get("customer_id"), "body.data.customer_id"),
            email=u.email(data.get("email"), "body.data.email")
            or (customer.email if customer else None),
            total=u.money(data["total"], "body.data.total"),
            currency=data["currency"],
            paid_at=paid_at,
            updated_at=u.opt_time(data.get("updated_at"), "body.data.updated_at") or paid_at,
            coupon_codes=tuple(
                c
                for c in (
                    u.text(code, f"body.data.coupon_codes[{i}]")
                    for i, code in enumerate(data.get("coupon_codes") or ())
                )
                if c
            ),
            customer=customer,
            member_id=u.opt_ident(data.get("member_id"), "body.data.member_id"),
        )
    ]


def _order_refunded(
    data: dict, ts: datetime, addressed: Addressed, _received_at: datetime
) -> list[Event]:
    platform, shop = _source(data, addressed)
    return [
        OrderRefunded(
            platform=platform,
            shop=shop,
            order_id=u.ident(data["order_id"], "body.data.order_id"),
            refund_id=u.ident(data["refund_id"], "body.data.refund_id"),
            customer_id=u.opt_ident(data.get("customer_id"), "body.data.customer_id"),
            email=u.email(data.get("email"), "body.data.email"),
            amount=u.money(data["amount"], "body.data.amount"),
            refunded_at=u.parse_time(data["refunded_at"], "body.data.refunded_at"),
            currency=data.get("currency"),
            member_id=u.opt_ident(data.get("member_id"), "body.data.member_id"),
        )
    ]


def _interaction(
    data: dict, ts: datetime, addressed: Addressed, _received_at: datetime
) -> list[Event]:
    platform, shop = _source(data, addressed)
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


def _consent_changed(
    data: dict, ts: datetime, addressed: Addressed, _received_at: datetime
) -> list[Event]:
    platform, shop = _source(data, addressed)
    return [
        ConsentChanged(
            platform=platform,
            shop=shop,
            customer_id=u.opt_ident(data.get("customer_id"), "body.data.customer_id"),
            email=u.email(data.get("email"), "body.data.email"),
            channel=data["channel"],
            granted=data["granted"],
            updated_at=u.opt_time(data.get("updated_at"), "body.data.updated_at") or ts,
            member_id=u.opt_ident(data.get("member_id"), "body.data.member_id"),
            state="subscribed" if data["granted"] else "unsubscribed",
        )
    ]


TYPES: dict[str, Callable[[dict, datetime, Addressed], list[Event]]] = {
    "member.upserted": _member_upserted,
    "order.paid": _order_paid,
    "order.refunded": _order_refunded,
    "interaction": _interaction,
    "consent.changed": _consent_changed,
}


def parse(body: Any, addressed: Addressed, received_at: datetime) -> tuple[str, str, list[Event]]:
    """(type, shop, events) of a parsed envelope; raises Ignored for unknown types.
    ``addressed(platform, shop, field)`` returns the configured source an event names
    (or raises a 403); ``received_at``: the server's clock when the request came."""
    validate("envelope.schema.json", body)
    kind = body["type"]
    timestamp = u.parse_time(body["timestamp"], "body.timestamp")
    if kind not in TYPES:
        raise u.Ignored(f"unknown type {kind!r}")
    validate(f"{kind}.schema.json", body)
    data = body["data"]
    events = TYPES[kind](data, timestamp, addressed, received_at)
    return kind, events[0].shop if events else "", events
