"""The loyalty engine on the store: orders, refunds, interactions, redemptions.

Each operation reads the member (and its order), applies the rules in memory
(:mod:`memberflow.loyalty.accounts`) and commits **one** ``TransactWriteItems``:

- the ledger entries, each put only if its key (``earn#<order_key>``,
  ``reversal#<order_key>#<refund_id>``, ``redemption#<reference>``...) is new;
- the order item, conditional on the version that was read;
- the member's changed attributes, conditional on the version that was read.

A conflicting concurrent write fails the condition; the operation then re-reads and
replays (optimistic locking). A retried delivery finds its order already applied and
changes nothing. Nothing of substance happens after the commit, so a crash at any point
leaves either nothing or everything applied.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

from pynamodb.connection import Connection
from pynamodb.constants import ALL_OLD
from pynamodb.exceptions import DoesNotExist, TransactWriteError
from pynamodb.transactions import TransactGet, TransactWrite

from memberflow.clock import iso
from memberflow.config.programme import Programme
from memberflow.loyalty import accounts
from memberflow.loyalty import points as rules
from memberflow.loyalty.points import InsufficientPoints
from memberflow.metrics import count_ledger
from memberflow.store.members import ConcurrencyExhausted  # one for both write paths
from memberflow.store.models import EarlyRefund, LedgerEntry, Member, Order
from memberflow.webhooks.events import (
    Interaction,
    OrderCancelled,
    OrderPaid,
    OrderPending,
    OrderRefunded,
)

log = logging.getLogger("memberflow.loyalty")

MAX_ATTEMPTS = 200
BACKOFF_BASE = 0.02  # seconds
BACKOFF_CAP = 0.5


class MemberNotFound(LookupError):
    pass


class Contended(RuntimeError):
    """A transaction of ``run(..., retry=False)`` lost to a concurrent write."""


class RedemptionConflict(ValueError):
    """A redemption reference was reused for a different number of points."""


def order_key(platform: str, shop: str | None, order_id: str) -> str:
    # Same key as memberflow.ingest.orders.order_key (kept here to avoid a cycle).
    return f"{platform}#{shop or ''}#{order_id}"


# ------------------------------------------------------------------ commit machinery
@dataclass
class Change:
    """What one attempt wants to commit."""

    member: Member | None = None  # None: the member is not written
    order: Order | None = None
    entries: list[LedgerEntry] = field(default_factory=list)
    result: object = None
    # Items that commit with the member in the same transaction, each put only if new
    # (identity links, a welcome cohort and its enrolment): (item, condition or None).
    puts: list = field(default_factory=list)
    create: bool = False  # the member is new: put, conditional on its id being free


def _snapshot(model) -> dict:
    return model.serialize(null_check=False)


def _member_actions(member: Member, before: dict) -> list:
    after = _snapshot(member)
    actions = []
    for name, attribute in Member.get_attributes().items():
        if name in ("member_id", "version") or after.get(name) == before.get(name):
            continue
        value = getattr(member, name)
        actions.append(attribute.remove() if value is None else attribute.set(value))
    return actions


def _version_condition(attribute, expected):
    return attribute.does_not_exist() if expected is None else attribute == expected


def _conflict(error: TransactWriteError) -> bool:
    reasons = getattr(error, "cancellation_reasons", None) or []
    codes = {r.code for r in reasons if r is not None}
    return bool(codes & {"ConditionalCheckFailed", "TransactionConflict"}) or (
        getattr(error, "cause_response_code", "") == "TransactionConflictException"
    )


def _committing(member_id: str, actions: list) -> None:
    """Called right before a transaction writing the member is sent, with the member's
    actions (a seam for tests: what commits between a write's read and its write)."""


def _committed(member_id: str, version: int | None) -> None:
    """Called after every successful commit (a seam for tests: crash injection, order)."""


def _connection() -> Connection:
    # The model's own connection: a new Connection per transaction would build a new
    # botocore client (and reload its service model) every time.
    return Member._get_connection().connection


def get_member(member_id: str) -> Member:
    try:
        return Member.get(member_id, consistent_read=True)
    except DoesNotExist:
        raise MemberNotFound(member_id) from None


def _get_order(key: str) -> Order | None:
    try:
        return Order.get(key, consistent_read=True)
    except DoesNotExist:
        return None


def _read(member_id: str, order: str | None) -> tuple[Member, Order | None]:
    """The member and its order in one strongly consistent round trip."""
    if order is None:
        return get_member(member_id), None
    with TransactGet(connection=_connection()) as tx:
        member_future = tx.get(Member, member_id)
        order_future = tx.get(Order, order)
    try:
        member = member_future.get()
    except DoesNotExist:
        raise MemberNotFound(member_id) from None
    try:
        return member, order_future.get()
    except DoesNotExist:
        return member, None


def _backoff(attempt: int) -> None:
    # Exponential backoff with full jitter: concurrent writers of one member spread out
    # instead of colliding again on the next round.
    time.sleep(random.uniform(0, min(BACKOFF_BASE * 2 ** min(attempt, 8), BACKOFF_CAP)))


def _reread_from(error: TransactWriteError, change: Change, member_raw: dict, order_raw):
    """The fresh member and order from a conflict's cancellation reasons (DynamoDB
    returns the current item when asked), so a retry needs no new read; ``None`` when a
    full re-read is needed (a ledger key that exists, or no item returned)."""
    reasons = list(getattr(error, "cancellation_reasons", None) or [])
    index = len(change.entries)
    if any(r is not None for r in reasons[:index]):
        return None  # a ledger entry exists: re-read, the plan will see it applied
    fresh_order = Order.from_raw_data(order_raw) if order_raw is not None else None
    if change.order is not None:
        reason = reasons[index] if index < len(reasons) else None
        index += 1
        if reason is not None:
            if not reason.raw_item:
                return None
            fresh_order = Order.from_raw_data(reason.raw_item)
    fresh_member = Member.from_raw_data(member_raw)
    if change.member is not None:
        reason = reasons[index] if index < len(reasons) else None
        if reason is not None:
            if not reason.raw_item:
                return None
            fresh_member = Member.from_raw_data(reason.raw_item)
    return fresh_member, fresh_order


def run(
    member_id: str,
    plan: Callable[[Member, Order | None], Change | None],
    *,
    order: str | None = None,
    first: Member | None = None,
    first_order: Order | None = None,
    receipt=None,
    retry: bool = True,
) -> object:
    """Read, plan, commit under conditions; on a conflict, replay the plan on the items
    as they are now (returned by the failed transaction, or read again).

    ``first`` (and ``first_order``, the order read with it: ``None`` when it does not
    exist) are consistent reads the caller has just made: the first attempt plans on
    them instead of reading again. ``receipt`` (memberflow.ingest.receipts): the
    delivery's record, written in the same transaction when one is committed
    (``receipt.written`` tells); a live record of the delivery found there raises
    ``DeliveryFinished`` and nothing is written. ``retry=False``: a conflict raises
    :class:`Contended` (the caller reads again its own way) instead of replaying."""
    fresh: tuple[Member, Order | None] | None = None
    if first is not None:
        fresh = (first, first_order if order is not None else None)
    for attempt in range(MAX_ATTEMPTS):
        member, current = fresh if fresh is not None else _read(member_id, order)
        fresh = None
        member_before = _snapshot(member)
        order_raw = _snapshot(current) if current is not None else None
        member_version = member.version
        order_version = current.version if current is not None else None
        order_existed = current is not None
        change = plan(member, current)
        if change is None:
            return None
        actions = _member_actions(change.member, member_before) if change.member else []
        if change.member is not None and not change.create and not actions and not change.entries:
            # Nothing of the member changed. (Ledger entries always come with a member
            # write: their amounts were computed from this version, so it is checked.)
            change.member = None
        if change.member is None and change.order is None and not (change.entries or change.puts):
            return change.result  # nothing changed: write nothing
        new_version = member_version
        if change.member is not None:
            _committing(member_id, actions)
        try:
            with TransactWrite(connection=_connection()) as tx:
                for entry in change.entries:
                    tx.save(entry, condition=LedgerEntry.entry_key.does_not_exist())
                for item, condition in change.puts:
                    tx.save(item, condition=condition)
                if change.order is not None:
                    change.order.version = (order_version or 0) + 1
                    tx.save(
                        change.order,
                        condition=_version_condition(Order.version, order_version)
                        if order_existed
                        else Order.order_key.does_not_exist(),
                        return_values=ALL_OLD,
                    )
                if change.member is not None and change.create:
                    new_version = 1
                    change.member.version = new_version
                    tx.save(change.member, condition=Member.member_id.does_not_exist())
                elif change.member is not None:
                    new_version = (member_version or 0) + 1
                    actions.append(Member.version.set(new_version))
                    tx.update(
                        change.member,
                        actions=actions,
                        condition=Member.member_id.exists()
                        & _version_condition(Member.version, member_version),
                        return_values=ALL_OLD,
                    )
                if receipt is not None:
                    receipt.add_to(tx, receipt.summary_for(member_id))
        except TransactWriteError as error:
            if receipt is not None:
                reasons = list(getattr(error, "cancellation_reasons", None) or [])
                receipt.check(reasons[-1] if reasons else None)
            if not _conflict(error):
                raise
            if not retry:
                raise Contended(member_id) from None
            if change.create or change.puts:
                fresh = None  # a new item was taken meanwhile: read again
                _backoff(attempt)
                continue
            # Someone else wrote first: replay on the items as they are now.
            fresh = _reread_from(error, change, member_before, order_raw)
            if fresh is not None and fresh[0].member_id != member_id:
                fresh = None
            _backoff(attempt)
            continue
        if change.member is not None:
            change.member.version = new_version
        if receipt is not None:
            receipt.committed()
        _committed(member_id, new_version if change.member is not None else None)
        count_ledger(change.entries)
        return change.result
    raise ConcurrencyExhausted(f"member {member_id}: gave up after {MAX_ATTEMPTS} attempts")


def _copy_into(target: Member, source: Member) -> None:
    """Refresh the caller's member object with what was committed."""
    if target is source:
        return
    for name in Member.get_attributes():
        setattr(target, name, getattr(source, name))


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
    _copy_into(member, seen["member"])
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
        try:
            done = LedgerEntry.get(member_id, key, consistent_read=True)
        except DoesNotExist:
            done = None
        if done is not None:
            if -int(done.points) != points_wanted:
                raise RedemptionConflict(f"reference already used for {-int(done.points)} points")
            return Change(
                result={
                    **redemption_view(done, int(current.points_balance or 0), programme),
                    "replayed": True,
                }
            )
        accounts.redeem(current, points_wanted, now)
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
        try:
            LedgerEntry.get(member_id, f"{kind}#{source}", consistent_read=True)
            return Change(result=None)
        except DoesNotExist:
            pass
        accounts.credit(current, amount, expires_at)
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
    entries = list(LedgerEntry.query(member_id, consistent_read=True))
    entries.sort(key=lambda e: (e.created_at, e.entry_key))
    return [ledger_view(e) for e in entries]


__all__ = [
    "ConcurrencyExhausted",
    "InsufficientPoints",
    "MemberNotFound",
    "RedemptionConflict",
    "apply_interaction",
    "apply_order_cancelled",
    "apply_order_paid",
    "apply_order_pending",
    "apply_refund",
    "member_ledger",
    "order_key",
    "post_credit",
    "redeem",
    "refresh_review",
]
