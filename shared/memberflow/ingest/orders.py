"""Orders, refunds, cancellations and interactions: resolve the member, hand the event to
the loyalty service (which owns orders, points, tiers and stages), then tell journeys.

Every step is idempotent (orders are keyed by platform, shop and order id; points by
their source in the ledger; conversions by order id), so a delivery that failed half-way
is finished by its retry without applying anything twice.
"""

from __future__ import annotations

import logging
from datetime import datetime

from pynamodb.exceptions import DoesNotExist

from memberflow.config import Programme
from memberflow.ingest.resolve import find_member, member_for
from memberflow.members import records
from memberflow.members.service import get_member
from memberflow.store import Member, Order
from memberflow.webhooks.events import (
    Interaction,
    OrderCancelled,
    OrderPaid,
    OrderPending,
    OrderRefunded,
)

log = logging.getLogger(__name__)


def order_key(platform: str, shop: str | None, order_id: str) -> str:
    """The Order item's hash key (the loyalty service writes Order items under it)."""
    return f"{platform}#{shop or ''}#{order_id}"


def get_order(platform: str, shop: str | None, order_id: str) -> Order | None:
    try:
        return Order.get(order_key(platform, shop, order_id), consistent_read=True)
    except DoesNotExist:
        return None


def _loyalty():
    from memberflow.loyalty import service

    return service


def _attribution():
    from memberflow.journeys import attribution

    return attribution


def _buyer(event: OrderPaid | OrderPending, programme: Programme, now: datetime) -> Member | None:
    existing = get_order(event.platform, event.shop, event.order_id)
    if existing is not None:
        return get_member(existing.member_id)
    email = event.email or (event.customer.email if event.customer else None)
    return member_for(
        platform=event.platform,
        shop=event.shop,
        customer_id=event.customer_id,
        email=email,
        member_id=getattr(event, "member_id", None),
        programme=programme,
        now=now,
        reason="order",
    )


def apply_order_paid(event: OrderPaid, *, programme: Programme, now: datetime) -> str | None:
    member = _buyer(event, programme, now)
    if member is None or member.erased:
        return None
    _loyalty().apply_order_paid(member, event, programme=programme, now=now)
    _apply_parked_refunds(member, event.platform, event.shop, event.order_id, programme, now)
    _attribution().on_purchase(
        member.member_id,
        order_id=event.order_id,
        revenue=event.total,
        at=event.paid_at,
        coupon_codes=tuple(event.coupon_codes),
    )
    return member.member_id


def apply_order_pending(event: OrderPending, *, programme: Programme, now: datetime) -> str | None:
    member = _buyer(event, programme, now)
    if member is None or member.erased:
        return None
    _loyalty().apply_order_pending(member, event, programme=programme, now=now)
    _apply_parked_refunds(member, event.platform, event.shop, event.order_id, programme, now)
    return member.member_id


def apply_order_cancelled(
    event: OrderCancelled, *, programme: Programme, now: datetime
) -> str | None:
    existing = get_order(event.platform, event.shop, event.order_id)
    if existing is not None:
        member = get_member(existing.member_id)
    else:
        member = member_for(
            platform=event.platform,
            shop=event.shop,
            customer_id=event.customer_id,
            email=event.email,
            programme=programme,
            now=now,
            reason="order",
        )
    if member is None or member.erased:
        return None
    _loyalty().apply_order_cancelled(member, event, programme=programme, now=now)
    return member.member_id


def _refund_member(event: OrderRefunded, programme: Programme, now: datetime) -> Member | None:
    existing = get_order(event.platform, event.shop, event.order_id)
    if existing is not None:
        return get_member(existing.member_id)
    if not (event.member_id or event.customer_id or event.email):
        return None
    return member_for(
        platform=event.platform,
        shop=event.shop,
        customer_id=event.customer_id,
        email=event.email,
        member_id=event.member_id,
        programme=programme,
        now=now,
        reason="order",
    )


def apply_refund(event: OrderRefunded, *, programme: Programme, now: datetime) -> str | None:
    """A refund reverses points and spend. When neither the order nor its buyer is known
    yet (a Shopify refund before its order), it is parked and applied with the order."""
    member = _refund_member(event, programme, now)
    if member is None and not (event.member_id or event.customer_id or event.email):
        key = order_key(event.platform, event.shop, event.order_id)
        records.park_refund(key, _refund_record(event), now)
        # The order may have landed while this refund was being parked: look again, so
        # that one of the two paths always applies it (applying twice is a no-op).
        order = get_order(event.platform, event.shop, event.order_id)
        if order is None:
            log.info("refund parked until its order arrives", extra={"order_key": key})
            return None
        member = get_member(order.member_id)
        if member is None or member.erased:
            return None
        _apply_parked_refunds(member, event.platform, event.shop, event.order_id, programme, now)
        return member.member_id
    if member is None or member.erased:
        return None
    _loyalty().apply_refund(member, event, programme=programme, now=now)
    return member.member_id


def _refund_record(event: OrderRefunded) -> dict:
    return {
        "platform": event.platform,
        "shop": event.shop,
        "order_id": event.order_id,
        "refund_id": event.refund_id,
        "amount": format(event.amount, "f"),
        "refunded_at": event.refunded_at.isoformat(),
        "currency": event.currency,
    }


def _apply_parked_refunds(
    member: Member, platform: str, shop: str, order_id: str, programme: Programme, now: datetime
) -> None:
    from memberflow.clock import parse_iso

    key = order_key(platform, shop, order_id)
    applied = []
    for data in records.parked_refunds(key):
        refund = OrderRefunded(
            platform=data["platform"],
            shop=data["shop"],
            order_id=data["order_id"],
            refund_id=data["refund_id"],
            customer_id=None,
            email=None,
            amount=data["amount"],
            refunded_at=parse_iso(data["refunded_at"]),
            currency=data.get("currency"),
        )
        _loyalty().apply_refund(member, refund, programme=programme, now=now)
        applied.append(data["refund_id"])
    if applied:
        records.unpark_refunds(key, applied)


def apply_interaction(event: Interaction, *, programme: Programme, now: datetime) -> str | None:
    if event.member_id:
        member = get_member(event.member_id)
    elif event.customer_id:
        member = member_for(
            platform=event.platform,
            shop=event.shop,
            customer_id=event.customer_id,
            email=None,
            programme=programme,
            now=now,
            reason="interaction",
        )
    else:
        member = None
    if member is None or member.erased:
        return None
    _loyalty().apply_interaction(member, event, programme=programme, now=now)
    # idempotent (it converts on the member's activation), so called on a retry too
    _attribution().on_interaction(member.member_id, kind=event.kind, at=event.at)
    return member.member_id


__all__ = [
    "apply_interaction",
    "apply_order_cancelled",
    "apply_order_paid",
    "apply_order_pending",
    "apply_refund",
    "find_member",
    "get_order",
    "order_key",
]
