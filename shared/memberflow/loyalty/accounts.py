"""The loyalty rules applied to a member item, in memory (no I/O).

:mod:`memberflow.loyalty.service` reads a :class:`~memberflow.store.models.Member` (and
the :class:`~memberflow.store.models.Order`), calls these functions to change them, and
commits the result with the ledger entries they return in one transaction. Keeping the
mutations here, free of I/O, is what lets a conflicting write simply be re-read and
replayed. The pure rules (stages, tier reviews, hand-offs) read plain state built
here from the item (``facts_of``, ``TierState.of``, ``HandoffState.of``); their answers
are written back here.

Points live in lots on the member item (``points_lots``): one lot per UTC day of expiry,
so a member holds at most ~one lot per day of the expiry period, whatever the number of
orders. Invariant: ``points_balance == sum(lot.remaining) - points_debt``. A reversal
that finds no points left (they were redeemed) leaves a debt that the next credits pay
off first; the balance may then be negative.
"""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from decimal import Decimal

from memberflow.config import triggers
from memberflow.config.programme import Programme
from memberflow.loyalty import handoffs, lots, points, review, stages, tier_reviews, tiers
from memberflow.loyalty.tier_reviews import TierState, next_tier_review, rolling
from memberflow.members.service import change_stage
from memberflow.store.models import LedgerEntry, Member, Order, WindowPurchase

ORDER_TIMES_KEPT = 50  # the stage rules need the recent order gaps only
HANDOFFS_KEPT = 20
INTERACTION_IDS_KEPT = 20
ZERO = Decimal(0)


def utc(moment: datetime) -> datetime:
    return moment.astimezone(UTC)


def day_start(day) -> datetime:
    return datetime.combine(day, time(0), tzinfo=UTC)


# ------------------------------------------------------------------ facts
def facts_of(member: Member) -> stages.MemberFacts:
    return stages.MemberFacts(
        stage=member.stage,
        joined_at=member.joined_at or member.created_at,
        activated_at=member.activated_at,
        active_since=member.active_since,
        order_times=tuple(member.order_times or ()),
        interactions_in_first_window=int(member.interactions_in_first_window or 0),
        won_back=bool(member.won_back),
    )


def apply_stage(member: Member, decision: stages.StageDecision, now: datetime) -> bool:
    """Apply a pure decision: the dates it sets, and the recorded change (time, reason)."""
    if not decision.changed:
        return False
    after = stages.apply_decision(facts_of(member), decision, now)
    member.activated_at = after.activated_at
    member.active_since = after.active_since
    member.won_back = after.won_back
    return change_stage(member, decision.stage, decision.reason, now)


def ledger_entry(
    member: Member,
    kind: str,
    source: str,
    amount: int,
    now: datetime,
    expires_at: datetime | None = None,
) -> LedgerEntry:
    return LedgerEntry(
        member_id=member.member_id,
        entry_key=f"{kind}#{source}",
        kind=kind,
        points=amount,
        created_at=now,
        source=source,
        expires_at=expires_at,
        remaining=amount if amount > 0 else None,
    )


# ------------------------------------------------------------------ tiers
def _prune_window(member: Member, programme: Programme, now: datetime) -> None:
    start = tiers.window_start(programme, now)
    member.tier_window = [w for w in member.tier_window or [] if w.at > start]


def review_tier(member: Member, programme: Programme, now: datetime) -> str | None:
    """Apply the periodic tier review due by ``now`` (memberflow.loyalty.tier_reviews),
    once; the reason when the tier moved (the sweep's, the import's)."""
    review = tier_reviews.review_tier(TierState.of(member), programme, now)
    if review is None:
        return None
    member.tier_reviewed_at, member.tier = review.reviewed_at, review.tier
    return review.reason


# ------------------------------------------------------------------ orders
def _bonus(member: Member, paid_at: datetime) -> Decimal:
    until, multiplier = member.double_points_until, member.double_points_multiplier
    if until is not None and multiplier and paid_at < until:
        return Decimal(multiplier)
    return Decimal(1)


def _count_order(member: Member, order: Order) -> None:
    times = sorted([*(member.order_times or []), order.paid_at])
    member.order_times = times[-ORDER_TIMES_KEPT:]
    member.order_count = int(member.order_count or 0) + 1
    if member.last_order_at is None or order.paid_at > member.last_order_at:
        member.last_order_at = order.paid_at


def _uncount_order(member: Member, order: Order) -> None:
    times = list(member.order_times or [])
    if order.paid_at in times:
        times.remove(order.paid_at)
    member.order_times = times
    member.order_count = max(int(member.order_count or 0) - 1, 0)
    if times:
        member.last_order_at = max(times)
    member.tier_window = [w for w in member.tier_window or [] if w.order_key != order.order_key]


def pay(member: Member, order: Order, programme: Programme, now: datetime) -> list[LedgerEntry]:
    """A paid order (``order`` carries total and paid_at): points, spend, tier, stage.

    Refunds that arrived before the payment are then applied in turn, so refund-before-
    paid ends exactly where paid-before-refund does.
    """
    tier_at_payment = member.tier
    earned = points.points_for_order(
        order.total, tier_at_payment, programme, _bonus(member, order.paid_at)
    )
    order.status = "paid"
    order.earn_tier = tier_at_payment
    order.points_earned = earned
    order.points_reversed = 0
    order.refunded = ZERO
    entries = []
    if earned > 0:
        expiry = points.expires_at(order.paid_at, programme)
        lots.credit(member, earned, expiry)
        entries.append(ledger_entry(member, "earn", order.order_key, earned, now, expiry))
    member.lifetime_spend = Decimal(member.lifetime_spend or 0) + order.total
    _count_order(member, order)
    member.tier_window = [
        *(member.tier_window or []),
        WindowPurchase(order_key=order.order_key, at=order.paid_at, amount=order.total),
    ]
    _prune_window(member, programme, now)
    before = member.tier
    member.tier = tiers.on_purchase(
        member.tier, rolling(TierState.of(member), programme, now), programme
    )
    for journey in triggers.on_tier_entered(
        programme, tiers.rank(before, programme), tiers.rank(member.tier, programme), member.tier
    ):
        # Entered by the next daily sweep, with everyone else who moved up that day (one
        # cohort a day, not one execution per order).
        add_pending(member, journey, day_start(utc(now).date() + timedelta(days=1)))
    apply_stage(member, stages.on_purchase(facts_of(member), programme, now), now)
    early = list(order.early_refunds or [])
    order.early_refunds = []
    for refund in early:
        entries += refund_order(member, order, refund.refund_id, refund.amount, programme, now)
    return entries


def _fully_refunded(order: Order) -> bool:
    return order.refunded >= order.total


def refund_order(
    member: Member,
    order: Order,
    refund_id: str,
    amount: Decimal,
    programme: Programme,
    now: datetime,
) -> list[LedgerEntry]:
    """A refund on a paid order: proportional points and spend; a full refund also
    uncounts the order (it is no longer a purchase for stages and tiers)."""
    was_full = _fully_refunded(order) and order.total > 0
    refunded_before = Decimal(order.refunded or 0)
    amount = max(min(Decimal(amount), Decimal(order.total) - refunded_before), ZERO)
    reversed_points = points.points_reversed_for_refund(
        amount,
        order.total,
        int(order.points_earned or 0),
        previously_refunded=refunded_before,
        previously_reversed=int(order.points_reversed or 0),
    )
    order.refunded = refunded_before + amount
    order.points_reversed = int(order.points_reversed or 0) + reversed_points
    order.refund_ids = [*(order.refund_ids or []), refund_id]
    entries = []
    if reversed_points > 0:
        own = lots.lot_id_for(points.expires_at(order.paid_at, programme))
        lots.debit(member, reversed_points, own)
        source = f"{order.order_key}#{refund_id}"
        entries.append(ledger_entry(member, "reversal", source, -reversed_points, now))
    member.lifetime_spend = max(Decimal(member.lifetime_spend or 0) - amount, ZERO)
    for w in member.tier_window or []:
        if w.order_key == order.order_key:
            w.amount = max(Decimal(w.amount) - amount, ZERO)
    if _fully_refunded(order) and not was_full:
        order.status = "refunded"
        _uncount_order(member, order)
    return entries


def cancel(member: Member, order: Order, programme: Programme, now: datetime) -> list[LedgerEntry]:
    """A cancelled paid order: reverse whatever is left of it, fully."""
    entries = []
    if order.status in ("paid", "refunded") and order.paid_at is not None:
        left = Decimal(order.total) - Decimal(order.refunded or 0)
        if left > 0 or order.status == "paid":
            entries = refund_order(member, order, "cancel", left, programme, now)
        still_owed = int(order.points_earned or 0) - int(order.points_reversed or 0)
        if still_owed > 0:  # a free order (total 0) that earned points
            own = lots.lot_id_for(points.expires_at(order.paid_at, programme))
            lots.debit(member, still_owed, own)
            order.points_reversed = int(order.points_earned or 0)
            entries.append(
                ledger_entry(member, "reversal", f"{order.order_key}#cancel", -still_owed, now)
            )
    order.status = "cancelled"
    return entries


# ------------------------------------------------------------------ interactions
def interact(
    member: Member, interaction_id: str, at: datetime, programme: Programme, now: datetime
) -> bool:
    """Count an interaction toward activation; False when it cannot count."""
    if member.stage != stages.NEW or interaction_id in (member.interaction_ids or []):
        return False
    joined = member.joined_at or member.created_at
    window = timedelta(days=programme.stages["activation"]["window_days"])
    if not joined <= at < joined + window:
        return False
    member.interaction_ids = [*(member.interaction_ids or []), interaction_id][
        -INTERACTION_IDS_KEPT:
    ]
    member.interactions_in_first_window = int(member.interactions_in_first_window or 0) + 1
    apply_stage(member, stages.evaluate_stage(facts_of(member), programme, now), now)
    return True


# ------------------------------------------------------------------ the review index
# The journey hand-off rules live in memberflow.loyalty.handoffs, on plain state; these
# build that state from the member item and write what the rules return onto it.
def record_dates_over(
    member: Member, programme: Programme, now: datetime, attribute: str | None = None
) -> list[str]:
    """Record as handed off the date journeys whose date's local day is over
    (handoffs.dates_over): no late greeting. Returns the journeys recorded."""
    over = handoffs.dates_over(
        handoffs.HandoffState.of(member, programme), programme, now, attribute
    )
    records = [f"{j}#{at.astimezone(UTC).date().isoformat()}" for j, at in sorted(over.items())]
    if records:
        member.handoffs = [*(member.handoffs or []), *records][-HANDOFFS_KEPT:]
    return sorted(over)


def write_pending(member: Member, pending: handoffs.Pending) -> None:
    member.pending_handoff = pending.text
    member.handoff_due_at = pending.due_at


def pending_journeys(member: Member) -> list[str]:
    return handoffs.pending_journeys(handoffs.Pending.of(member))


def add_pending(member: Member, journey: str, due: datetime) -> None:
    write_pending(member, handoffs.add_pending(handoffs.Pending.of(member), journey, due))


def drop_pending(member: Member, journey: str) -> bool:
    """Drop ``journey`` from the member's pending hand-offs; False when it was not there."""
    rest = handoffs.drop_pending(handoffs.Pending.of(member), journey)
    if rest is None:
        return False
    write_pending(member, rest)
    return True


def not_activated_due(member: Member, programme: Programme) -> dict[str, datetime]:
    return handoffs.not_activated_due(handoffs.HandoffState.of(member, programme), programme)


def refresh_review(member: Member, programme: Programme, now: datetime) -> datetime | None:
    """Set ``review_at``/``review_key``: the earliest pending change (``None``: sparse)."""
    handed = handoffs.HandoffState.of(member, programme)
    moment = review_moment(facts_of(member), TierState.of(member), handed, programme, now)
    member.review_at = moment
    member.review_key = review.review_key(moment, member.member_id)
    # by_review_shard is keyed on (review_shard, review_at): sparse through review_at
    member.review_shard = review.shard_key(member.member_id)
    return moment


def review_moment(
    facts: stages.MemberFacts, tier: TierState, handed: handoffs.HandoffState, programme, now
) -> datetime | None:
    """The earliest pending change of a member's plain state (what refresh_review files)."""
    return review.next_review(
        stages.next_stage_review(facts, programme, now),
        next_tier_review(tier, programme, now),
        points.next_expiry(handed.lots),
        handoffs.activation_due_at(handed, programme),
        # a reminder already due is filed now, so a sweep within its look-back finds it
        *(max(m, now) for m in handoffs.points_expiry_due(handed, programme, now).values()),
        *(max(m, now) for m in handoffs.date_due(handed, programme, now).values()),
        handed.pending.due_at if handed.pending.journeys else None,
    )
