"""The loyalty engine on the store: orders, refunds, interactions, redemptions.

Each operation is a *plan*: a plain function of the member (and its order) as read,
applying the rules in memory (:mod:`memberflow.loyalty.accounts`) and returning the
:class:`Change` to commit. The unit of work (:mod:`memberflow.store.unit_of_work`) reads,
runs the plan and commits it in **one** ``TransactWriteItems`` under the versions it
read, replaying the plan on a conflict. A retried delivery finds its order already
applied and changes nothing.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime
from decimal import Decimal

from memberflow.clock import iso
from memberflow.config.programme import Programme
from memberflow.loyalty import accounts, lots
from memberflow.loyalty import points as rules
from memberflow.loyalty.points import InsufficientPoints
from memberflow.store import ledger
from memberflow.store.models import EarlyRefund, LedgerEntry, Member, Order
from memberflow.store.unit_of_work import (
    Change,
    ConcurrencyExhausted,
    Contended,
    MemberNotFound,
    copy_member,
    get_member,
    run,
)
from memberflow.webhooks.events import (
    Interaction,
    OrderCancelled,
    OrderPaid,
    OrderPending,
    OrderRefunded,
)

log = logging.getLogger("memberflow.loyalty")


class RedemptionConflict(ValueError):
    """A redemption reference was reused for a different number of points."""


def order_key(platform: str, shop: str | None, order_id: str) -> str:
    # Same key as memberflow.ingest.orders.order_key (kept here to avoid a cycle).
    return f"{platform}#{shop or ''}#{order_id}"


def _new_order(member: Member, key: str, event, placed_at: datetime) -> Order:
    return Order(
        order_key=key,
        member_id=member.member_id,
        placed_at=iso(placed_at),
        platform=event.platform,
        shop=event.shop or None,
        order_id=event.order_id,
        status="pending",
    )


# ------------------------------------------------------------------ orders
# Each ``plan_*`` returns the plan :func:`run` replays on fresh items after a conflict;
# the plans are plain functions of (member, order), so a test can replay them in memory.
Plan = Callable[[Member, Order | None], Change]


def plan_order_paid(event: OrderPaid, programme: Programme, now: datetime) -> Plan:
    key = order_key(event.platform, event.shop, event.order_id)

    def plan(current: Member, order: Order | None) -> Change:
        if order is None:
            order = _new_order(current, key, event, event.paid_at)
        if order.status in ("paid", "refunded", "cancelled"):
            # Already applied (a redelivery), or cancelled first: cancel is final.
            return Change(result=order)
        order.total = Decimal(event.total)
        order.currency = event.currency
        order.coupon_codes = list(event.coupon_codes)
        order.paid_at = event.paid_at
        if order.source_updated_at is None or event.updated_at > order.source_updated_at:
            order.source_updated_at = event.updated_at
        entries = accounts.pay(current, order, programme, now)
        accounts.refresh_review(current, programme, now)
        return Change(member=current, order=order, entries=entries, result=order)

    return plan


def plan_order_pending(event: OrderPending, programme: Programme, now: datetime) -> Plan:
    key = order_key(event.platform, event.shop, event.order_id)

    def plan(current: Member, order: Order | None) -> Change:
        if order is None:
            order = _new_order(current, key, event, event.created_at or event.updated_at)
        elif order.status != "pending" or (
            order.source_updated_at is not None and event.updated_at <= order.source_updated_at
        ):
            return Change(result=order)  # paid/cancelled already, or an older delivery
        order.total = Decimal(event.total)
        order.currency = event.currency
        order.coupon_codes = list(event.coupon_codes)
        order.source_updated_at = event.updated_at
        return Change(order=order, result=order)

    return plan


def plan_order_cancelled(event: OrderCancelled, programme: Programme, now: datetime) -> Plan:
    key = order_key(event.platform, event.shop, event.order_id)

    def plan(current: Member, order: Order | None) -> Change:
        if order is None:
            order = _new_order(current, key, event, event.cancelled_at)
        elif order.status == "cancelled":
            return Change(result=order)
        if order.source_updated_at is None or event.updated_at > order.source_updated_at:
            order.source_updated_at = event.updated_at
        order.cancelled_at = event.cancelled_at
        was_paid = order.status in ("paid", "refunded")
        entries = accounts.cancel(current, order, programme, now)
        if not was_paid:
            return Change(order=order, result=order)
        accounts.refresh_review(current, programme, now)
        return Change(member=current, order=order, entries=entries, result=order)

    return plan


def plan_refund(event: OrderRefunded, programme: Programme, now: datetime) -> Plan:
    key = order_key(event.platform, event.shop, event.order_id)
    amount = Decimal(str(event.amount))

    def plan(current: Member, order: Order | None) -> Change:
        if order is None:
            order = _new_order(current, key, event, event.refunded_at)
        seen = set(order.refund_ids or []) | {r.refund_id for r in order.early_refunds or []}
        if event.refund_id in seen or order.status == "cancelled":
            return Change(result=order)
        if order.status == "pending":
            order.early_refunds = [
                *(order.early_refunds or []),
                EarlyRefund(refund_id=event.refund_id, amount=amount, at=event.refunded_at),
            ]
            return Change(order=order, result=order)
        entries = accounts.refund_order(current, order, event.refund_id, amount, programme, now)
        accounts.refresh_review(current, programme, now)
        return Change(member=current, order=order, entries=entries, result=order)

    return plan


def plan_interaction(event: Interaction, programme: Programme, now: datetime) -> Plan:
    def plan(current: Member, _order) -> Change:
        if not accounts.interact(current, event.interaction_id, event.at, programme, now):
            return Change(result=False)
        accounts.refresh_review(current, programme, now)
        return Change(member=current, result=True)

    return plan


def _apply(member: Member, plan: Plan, key: str | None, read=None, receipt=None):
    """``read``: (member, order) as the caller has just read them, consistently (the
    order ``None`` when it does not exist): no second read of either."""
    seen: dict[str, Member] = {}

    def tracked(current: Member, order: Order | None) -> Change:
        seen["member"] = current
        return plan(current, order)

    first, first_order = read if read is not None else (None, None)
    result = run(
        member.member_id,
        tracked,
        order=key,
        first=first,
        first_order=first_order,
        receipt=receipt,
    )
    copy_member(member, seen["member"])
    return result


def apply_order_paid(
    member: Member,
    event: OrderPaid,
    *,
    programme: Programme,
    now: datetime,
    read: tuple[Member, Order | None] | None = None,
    receipt=None,
) -> Order:
    """Earn on a paid order, exactly once: points (tier held at payment, double-points
    window), spend, order times, immediate tier upgrade, stage, review date. Refunds
    that arrived first are netted. A cancelled order stays cancelled."""
    key = order_key(event.platform, event.shop, event.order_id)
    return _apply(member, plan_order_paid(event, programme, now), key, read, receipt)


def apply_order_pending(
    member: Member, event: OrderPending, *, programme: Programme, now: datetime
) -> Order:
    """Record a placed, unpaid order (nothing earned yet). Never regresses a paid one;
    an older ``updated_at`` never overwrites a newer one."""
    key = order_key(event.platform, event.shop, event.order_id)
    return _apply(member, plan_order_pending(event, programme, now), key)


def apply_order_cancelled(
    member: Member, event: OrderCancelled, *, programme: Programme, now: datetime
) -> Order | None:
    """Cancel: what is left of a paid order's points and spend is reversed, and it no
    longer counts as a purchase. An unknown order is recorded as cancelled, so a late
    paid event for it earns nothing."""
    key = order_key(event.platform, event.shop, event.order_id)
    return _apply(member, plan_order_cancelled(event, programme, now), key)


def apply_refund(
    member: Member,
    event: OrderRefunded,
    *,
    programme: Programme,
    now: datetime,
    read: tuple[Member, Order | None] | None = None,
    receipt=None,
) -> Order | None:
    """Reverse points and spend in proportion, once per ``refund_id``. A refund before
    its order is paid is kept on the order item and netted when payment arrives."""
    key = order_key(event.platform, event.shop, event.order_id)
    return _apply(member, plan_refund(event, programme, now), key, read, receipt)


# ------------------------------------------------------------------ interactions
def apply_interaction(
    member: Member, event: Interaction, *, programme: Programme, now: datetime
) -> bool:
    """Count an interaction toward activation (deduped by ``interaction_id``); True when
    it counted."""
    return bool(_apply(member, plan_interaction(event, programme, now), None))


# ------------------------------------------------------------------ points
def redemption_view(entry: LedgerEntry, balance: int, programme: Programme) -> dict:
    spent = -int(entry.points)
    return {
        "member_id": entry.member_id,
        "reference": entry.source,
        "points": spent,
        "value": format(rules.redemption_value(spent, programme), "f"),
        "balance": balance,
        "redeemed_at": iso(entry.created_at),
    }


def redeem(
    member_id: str, points: int, reference: str, *, programme: Programme, now: datetime
) -> dict:
    """Spend points (oldest-expiring lots first), once per ``reference``.

    Raises :class:`InsufficientPoints` (the API answers 409) when the unexpired balance
    is short, :class:`RedemptionConflict` when ``reference`` was already used for a
    different amount, :class:`MemberNotFound`, or ``ValueError`` for a non-positive
    amount. A repeated call with the same reference and amount returns the first result.
    """
    points_wanted = points
    if isinstance(points_wanted, bool) or not isinstance(points_wanted, int) or points_wanted <= 0:
        raise ValueError("points must be a positive whole number")
    if not reference or len(reference) > 128:
        raise ValueError("reference must be 1-128 characters")
    key = f"redemption#{reference}"

    def plan(current: Member, _order) -> Change:
        done = ledger.entry(member_id, key)
        if done is not None:
            if -int(done.points) != points_wanted:
                raise RedemptionConflict(f"reference already used for {-int(done.points)} points")
            return Change(
                result={
                    **redemption_view(done, int(current.points_balance or 0), programme),
                    "replayed": True,
                }
            )
        lots.redeem(current, points_wanted, now)
        entry = accounts.ledger_entry(current, "redemption", reference, -points_wanted, now)
        accounts.refresh_review(current, programme, now)
        view = redemption_view(entry, int(current.points_balance), programme)
        return Change(member=current, entries=[entry], result={**view, "replayed": False})

    return run(member_id, plan)


def post_credit(
    member_id: str,
    *,
    kind: str,
    source: str,
    amount: int,
    expires_at: datetime,
    now: datetime,
    programme: Programme | None = None,
) -> Member | None:
    """A one-off credit (a bonus) into a lot, exactly once; the committed member, or
    ``None`` when it was already applied."""

    def plan(current: Member, _order) -> Change:
        if ledger.entry(member_id, f"{kind}#{source}") is not None:
            return Change(result=None)
        lots.credit(current, amount, expires_at)
        if programme is not None:
            accounts.refresh_review(current, programme, now)
        elif current.review_at is None or expires_at < current.review_at:
            # Without the rules at hand, at least never let the lot's expiry go unseen.
            current.review_at = expires_at
            current.review_key = accounts.review.review_key(expires_at, member_id)
        entry = accounts.ledger_entry(current, kind, source, amount, now, expires_at)
        return Change(member=current, entries=[entry], result=current)

    return run(member_id, plan)


def refresh_review(member_id: str, *, programme: Programme, now: datetime) -> Member:
    """Recompute a member's review date (e.g. after sign-up)."""

    def plan(current: Member, _order) -> Change:
        before = (current.review_key, current.review_at)
        accounts.refresh_review(current, programme, now)
        if (current.review_key, current.review_at) == before:
            return Change(result=current)
        return Change(member=current, result=current)

    return run(member_id, plan)


def ledger_view(entry: LedgerEntry) -> dict:
    return {
        "entry_key": entry.entry_key,
        "kind": entry.kind,
        "points": int(entry.points),
        "source": entry.source,
        "created_at": iso(entry.created_at),
        "expires_at": iso(entry.expires_at) if entry.expires_at else None,
    }


def member_ledger(member_id: str) -> list[dict]:
    """Every points movement of a member, oldest first (``GET /members/{id}/ledger``)."""
    entries = ledger.entries(member_id)
    entries.sort(key=lambda e: (e.created_at, e.entry_key))
    return [ledger_view(e) for e in entries]


__all__ = [
    "Change",
    "ConcurrencyExhausted",
    "Contended",
    "InsufficientPoints",
    "MemberNotFound",
    "RedemptionConflict",
    "apply_interaction",
    "apply_order_cancelled",
    "apply_order_paid",
    "apply_order_pending",
    "apply_refund",
    "get_member",
    "member_ledger",
    "order_key",
    "post_credit",
    "redeem",
    "refresh_review",
    "run",
]
