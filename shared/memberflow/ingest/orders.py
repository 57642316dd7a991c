"""Orders, refunds, cancellations and interactions: resolve the member, hand the event to
the loyalty service (which owns orders, points, tiers and stages), then tell journeys.

Every step is idempotent (orders are keyed by platform, shop and order id; points by
their source in the ledger; conversions by order id), so a delivery that failed half-way
is finished by its retry without applying anything twice.
"""

from __future__ import annotations

import logging
import time
from datetime import datetime

from memberflow.config import Programme
from memberflow.ingest.resolve import find_member, member_for
from memberflow.members.identity import email_hash, identity_key, new_member_id
from memberflow.members.service import email_link_key, get_member
from memberflow.store import Coupon, ExternalIdentity, Member, Order, identities, orders, reads
from memberflow.store.receipts import DeliveryFinished, DeliveryRecord, is_live
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
    return orders.order(order_key(platform, shop, order_id))


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


def _coupon_key(code: str) -> str:
    return code.strip().upper()  # as journeys.attribution looks coupons up


def _email_of(event) -> str | None:
    customer = getattr(event, "customer", None)
    return getattr(event, "email", None) or (customer.email if customer else None)


def _order_reads(event, receipt) -> tuple[reads.Reads, str, str | None]:
    """One BatchGetItem for an order event: the receipt, the order, its parked refunds,
    the buyer's identity link and the member that identity derives, the coupons.
    Returns (reads, order key, the identity link's key)."""
    key = order_key(event.platform, event.shop, event.order_id)
    wanted: list[tuple] = [(Order, key), (ExternalIdentity, identities.parked_key(key))]
    if receipt is not None:
        wanted.append((DeliveryRecord, receipt.key))
    link = None
    customer_id = getattr(event, "customer_id", None)
    email = _email_of(event)
    if customer_id:
        link = identity_key(event.platform, event.shop, customer_id)
        wanted.append((Member, new_member_id(link)))
    elif email and email_hash(email):
        link = email_link_key(email_hash(email))
        wanted.append((Member, new_member_id(f"email#{email_hash(email)}")))
    if link:
        wanted.append((ExternalIdentity, link))
    for code in getattr(event, "coupon_codes", None) or ():
        if code and code.strip():
            wanted.append((Coupon, _coupon_key(code)))
    found = reads.read(wanted)
    if receipt is not None:
        record = found.get(DeliveryRecord, receipt.key)
        if record is not None and is_live(record, time.time()):
            raise DeliveryFinished(record)  # a redelivery: answered from the record
    return found, key, link


def _member_from(found: reads.Reads, member_id: str) -> Member | None:
    """The member read with the batch (the derived id), else read now."""
    if found.has(Member, member_id):
        return found.get(Member, member_id)
    return get_member(member_id)


def _known_buyer(event, found: reads.Reads, key: str, link: str | None) -> Member | None | bool:
    """The buyer from the batch: via the order, else the identity (or email) link.
    ``False`` when the batch cannot tell (no order, no link): resolve the long way."""
    order = found.get(Order, key)
    if order is not None:
        return _member_from(found, order.member_id)
    record = found.get(ExternalIdentity, link) if link else None
    if record is None:
        return False
    member = _member_from(found, record.member_id)
    if getattr(event, "customer_id", None) is None and (
        member is None or member.email_hash != email_hash(_email_of(event))
    ):
        return False  # a stale email link: find_by_email decides
    return member


def apply_order_paid(
    event: OrderPaid, *, programme: Programme, now: datetime, receipt=None
) -> str | None:
    """A paid order: one read (:mod:`memberflow.store.reads`), one transaction (order,
    member, ledger and the delivery's receipt), then journey attribution."""
    found, key, link = _order_reads(event, receipt)
    member = _known_buyer(event, found, key, link)
    known = member is not False  # read by key just now, with the order
    if member is False:
        member = _buyer(event, programme, now)
    if member is None or member.erased:
        return None
    parked = identities.parked_from(found.get(ExternalIdentity, identities.parked_key(key)))
    order = found.get(Order, key)
    _loyalty().apply_order_paid(
        member,
        event,
        programme=programme,
        now=now,
        read=(member, order) if known else None,
        # parked refunds are applied in writes of their own after the order's
        receipt=None if parked else receipt,
    )
    if parked:
        _apply_parked_refunds(member, event.platform, event.shop, event.order_id, programme, now)
    # Only the codes that are journey coupons (read with the batch): the others are the
    # platform's discount codes, which attribution would look up for nothing.
    ours = tuple(c for c in event.coupon_codes if c and found.has(Coupon, _coupon_key(c)))
    _attribution().on_purchase(
        member.member_id,
        order_id=event.order_id,
        revenue=event.total,
        at=event.paid_at,
        coupon_codes=ours,
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


def apply_refund(
    event: OrderRefunded, *, programme: Programme, now: datetime, receipt=None
) -> str | None:
    """A refund reverses points and spend. When neither the order nor its buyer is known
    yet (a Shopify refund before its order), it is parked and applied with the order.

    A known order: one read (the order and the receipt; the member too when the refund
    names its customer), the member by the order's key if not, one transaction."""
    found, key, link = _order_reads(event, receipt)
    order = found.get(Order, key)
    member = _known_buyer(event, found, key, link) if order is not None else False
    if member is not False:
        if member is None or member.erased:
            return None
        _loyalty().apply_refund(
            member,
            event,
            programme=programme,
            now=now,
            read=(member, order),
            receipt=receipt,
        )
        return member.member_id
    member = _refund_member(event, programme, now)
    if member is None and not (event.member_id or event.customer_id or event.email):
        key = order_key(event.platform, event.shop, event.order_id)
        identities.park_refund(key, _refund_record(event), now)
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
    for data in identities.parked_refunds(key):
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
        identities.unpark_refunds(key, applied)


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
