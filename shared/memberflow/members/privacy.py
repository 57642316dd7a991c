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
from typing import Any

from memberflow.clock import iso
from memberflow.members.service import get_member, member_view
from memberflow.store import (
    ExternalIdentity,
    enrolments,
    holdings,
    identities,
    member_changes,
    orders,
)

# Every attribute of Member that holds personal data (store/models.py marks them).
PERSONAL_ATTRIBUTES = (
    "email",
    "phone",
    "first_name",
    "last_name",
    "birthday",
    "email_hash",
    "shop_identities",
)
# Free text a platform sent about the member: preferences and the ids of its
# interactions (a sender's own strings). Stage, tier and points are memberflow's.
FREE_TEXT_ATTRIBUTES = ("locale", "timezone", "interaction_ids")
# Derived from personal data: a date journey's hand-off record (``birthday#2026-01-06``)
# carries the birthday's month and day, and a pending hand-off comes due on it; the
# records only keep a journey from repeating, and an erased member enters none.
DERIVED_ATTRIBUTES = ("handoffs", "pending_handoff", "handoff_due_at")
# Free text on the member's orders: the discount codes the customer typed.
ORDER_FREE_TEXT = ("coupon_codes",)


def erase_member(member_id: str, *, now: datetime) -> dict[str, Any] | None:
    """Remove the member's personal data from every item it owns. None if unknown."""
    member = get_member(member_id)
    if member is None:
        return None
    if member.email_hash:
        identities.suppress(member.email_hash, member_id, now)
    removed = 0
    for record in identities.identities_of(member_id):
        identities.unlink(record, member_id, now)
        removed += 1
    member_changes.erase(
        member, PERSONAL_ATTRIBUTES + FREE_TEXT_ATTRIBUTES + DERIVED_ATTRIBUTES, now
    )
    orders.clear_attributes(member_id, ORDER_FREE_TEXT)
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


def list_data_requests(*, limit: int, after: str | None, now: datetime) -> dict[str, Any]:
    """The operator's list of data-access requests, soonest due first (see
    :func:`identities.data_requests`); ``next`` continues it."""
    page, following = identities.data_requests(limit=limit, after=after)
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
    if not key.startswith(identities.DATA_REQUEST_PREFIX) or not key.isprintable():
        return None
    return key


def _ts(value: datetime | None) -> str | None:
    return iso(value) if value else None


def export_member(member_id: str) -> dict[str, Any] | None:
    """Everything held on the member (for a data-access request)."""
    member = get_member(member_id)
    if member is None:
        return None
    profile = member_view(member)
    profile["stage_history"] = holdings.plain(list(member.stage_history or []))
    profile["consent_detail"] = holdings.plain(member.consent) if member.consent else None
    held = identities.records_of(member_id)
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
            if identities.is_identity(r)
        ],
        "privacy_requests": [
            json.loads(r.payload or "{}") | {"recorded_at": _ts(r.created_at)}
            for r in held
            if r.kind == identities.PRIVACY_REQUEST
        ],
        **holdings.member_items(member_id),
    }


__all__ = [
    "FREE_TEXT_ATTRIBUTES",
    "PERSONAL_ATTRIBUTES",
    "cursor_key",
    "erase_member",
    "export_member",
    "list_data_requests",
    "ExternalIdentity",
]
