"""Data-subject rights: export everything held on a member, erase it, and list the
data-access requests the operator has to answer.

Erasure is the one path for ``DELETE /members/{id}``, Shopify ``customers/redact`` and
``shop/redact``. It is idempotent and ordered so that a retry after a failure finishes
the work: the suppression record first (it needs the email hash), then the identity
links, then the member's personal attributes, then the journeys' hook.
"""

from __future__ import annotations

import base64
import binascii
import json
from datetime import datetime
from decimal import Decimal
from typing import Any

from pynamodb.attributes import MapAttribute
from pynamodb.exceptions import DoesNotExist, UpdateError

from memberflow.clock import iso
from memberflow.members import records
from memberflow.members.service import get_member, member_view
from memberflow.store import (
    Coupon,
    Enrolment,
    ExternalIdentity,
    LedgerEntry,
    Member,
    Message,
    Order,
    enrolments,
)
from memberflow.store.members import update_member

# Every attribute of Member that holds personal data (store/models.py marks them).
PERSONAL_ATTRIBUTES = ("email", "phone", "first_name", "last_name", "email_hash", "shop_identities")
# Free text a platform sent about the member: preferences and the ids of its
# interactions (a sender's own strings). Stage, tier and points are memberflow's.
FREE_TEXT_ATTRIBUTES = ("locale", "timezone", "interaction_ids")
# Free text on the member's orders: the discount codes the customer typed.
ORDER_FREE_TEXT = ("coupon_codes",)


def erase_member(member_id: str, *, now: datetime) -> dict[str, Any] | None:
    """Remove the member's personal data from every item it owns. None if unknown."""
    member = get_member(member_id)
    if member is None:
        return None
    if member.email_hash:
        records.suppress(member.email_hash, member_id, now)
    removed = 0
    for record in records.identities_of(member_id):
        records.tombstone(record.identity_key, member_id, now)
        record.delete()
        removed += 1
    actions = [getattr(Member, name).remove() for name in PERSONAL_ATTRIBUTES]
    actions += [getattr(Member, name).remove() for name in FREE_TEXT_ATTRIBUTES]
    actions += [
        Member.erased.set(True),
        Member.consent.email.set(False),
        Member.consent.sms.set(False),
        Member.consent.email_updated_at.set(now),
        Member.consent.sms_updated_at.set(now),
    ]
    # The same actions whatever the member is now; the unit of work orders the erasure
    # against a concurrent order or consent change instead of writing blind (a stale
    # read only costs a retry: the actions do not depend on it).
    update_member(member, lambda current: actions, read=False)
    _erase_order_text(member_id)
    # Orders (now without free text), ledger entries, enrolments, messages and coupons
    # hold ids, amounts and times only; they stay for the programme's accounts and KPIs,
    # keyed by the now-anonymous member id.
    exited = enrolments.on_erasure(member_id, now=now)
    return {
        "member_id": member_id,
        "identities_removed": removed,
        "enrolments_exited": exited,
        "erased_at": iso(now),
    }


def _erase_order_text(member_id: str) -> None:
    """Clear the orders' free text. The version bump makes a concurrent loyalty write of
    the same order (read before this) fail its condition and re-read, so it cannot
    write the codes back."""
    for order in Order.member_index.query(member_id):
        if not any(getattr(order, name) for name in ORDER_FREE_TEXT):
            continue
        try:
            order.update(
                actions=[getattr(Order, name).remove() for name in ORDER_FREE_TEXT]
                + [Order.version.add(1)],
                condition=Order.order_key.exists(),
            )
        except UpdateError:
            continue  # the order is gone: nothing left to clear


def list_data_requests(*, limit: int, after: str | None, now: datetime) -> dict[str, Any]:
    """The operator's list of data-access requests, soonest due first (see
    :func:`records.data_requests`); ``next`` continues it."""
    page, following = records.data_requests(limit=limit, after=after)
    out = []
    for record, data in page:
        due = datetime.fromisoformat(data["due_at"])
        member_id = data.get("member_id")
        out.append(
            {
                "platform": record.platform,
                "shop": record.shop,
                "request_id": data.get("request_id"),
                "member_id": member_id,
                "received_at": iso(datetime.fromisoformat(data["received_at"])),
                "due_at": iso(due),
                "overdue": now > due,
                # None: memberflow holds nothing on this customer (answer so).
                "export": f"/members/{member_id}/export" if member_id else None,
            }
        )
    return {"data_requests": out, "next": _cursor(following) if following else None}


def _cursor(key: str) -> str:
    return base64.urlsafe_b64encode(key.encode()).decode().rstrip("=")


def cursor_key(cursor: str) -> str | None:
    """The record key behind a ``next`` cursor, or None when it is not one."""
    if len(cursor) > 2048:
        return None
    try:
        key = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode("utf-8")
    except (binascii.Error, ValueError, UnicodeError):
        return None
    if not key.startswith(records.DATA_REQUEST_PREFIX) or not key.isprintable():
        return None
    return key


def _ts(value: datetime | None) -> str | None:
    return iso(value) if value else None


def _plain(item) -> dict[str, Any]:
    """A PynamoDB item as JSON-ready values (dates ISO, decimals as strings)."""
    out: dict[str, Any] = {}
    for name in item.get_attributes():
        value = getattr(item, name)
        out[name] = _jsonable(value)
    return out


def _jsonable(value):
    if isinstance(value, datetime):
        return iso(value)
    if isinstance(value, Decimal):
        return format(value, "f") if value != value.to_integral_value() else int(value)
    if isinstance(value, MapAttribute):
        return {k: _jsonable(v) for k, v in value.attribute_values.items()}
    if isinstance(value, (list, tuple, set)):
        return [_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    return value


def export_member(member_id: str) -> dict[str, Any] | None:
    """Everything held on the member (for a data-access request)."""
    member = get_member(member_id)
    if member is None:
        return None
    profile = member_view(member)
    profile["stage_history"] = _jsonable(list(member.stage_history or []))
    profile["consent_detail"] = _jsonable(member.consent) if member.consent else None
    held = records.records_of(member_id)
    return {
        "member": profile,
        "identities": [
            {
                "platform": r.platform,
                "shop": r.shop,
                "customer_id": r.customer_id,
                "linked_at": _ts(r.created_at),
            }
            for r in held
            if records.is_identity(r)
        ],
        "privacy_requests": [
            json.loads(r.payload or "{}") | {"recorded_at": _ts(r.created_at)}
            for r in held
            if r.kind == records.PRIVACY_REQUEST
        ],
        "orders": [_plain(o) for o in Order.member_index.query(member_id)],
        "ledger": [_plain(e) for e in LedgerEntry.query(member_id)],
        "enrolments": [_plain(e) for e in Enrolment.query(member_id)],
        "messages": [_plain(m) for m in Message.query(member_id)],
        "coupons": [_plain(c) for c in _coupons(member_id)],
    }


def _coupons(member_id: str) -> list[Coupon]:
    # Coupons are keyed by code; a member's codes are on its messages.
    codes = {m.coupon_code for m in Message.query(member_id) if m.coupon_code}
    out = []
    for code in sorted(codes):
        try:
            out.append(Coupon.get(code))
        except DoesNotExist:
            continue
    return out


__all__ = [
    "FREE_TEXT_ATTRIBUTES",
    "PERSONAL_ATTRIBUTES",
    "cursor_key",
    "erase_member",
    "export_member",
    "list_data_requests",
    "ExternalIdentity",
]
