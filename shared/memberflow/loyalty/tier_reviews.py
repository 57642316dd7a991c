"""The tier window and the periodic tier reviews, on plain tier state (no I/O).

Upgrades are immediate (:func:`memberflow.loyalty.accounts.pay`); a review lowers or
resets the tier at its own moment, evaluated as of then. The rules read a
:class:`TierState`, built once from the member item by :mod:`memberflow.loyalty.accounts`,
which writes what :func:`review_tier` returns onto the member.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from memberflow.config.programme import Programme
from memberflow.loyalty import tiers
from memberflow.loyalty._time import add_months


@dataclass(frozen=True)
class TierState:
    """What the tier reviews read of a member."""

    tier: str | None
    anchor: datetime  # the reviews' calendar starts here (joined, else created)
    window: tuple[tuple[datetime, Decimal], ...] = ()  # (paid at, amount) in the tier window
    order_times: tuple[datetime, ...] = ()  # the recent paid orders
    last_order_at: datetime | None = None
    reviewed_at: datetime | None = None  # the last periodic review applied

    @classmethod
    def of(cls, member) -> TierState:
        """From a member item."""
        return cls(
            tier=member.tier,
            anchor=member.joined_at or member.created_at,
            window=tuple((w.at, w.amount) for w in member.tier_window or ()),
            order_times=tuple(member.order_times or ()),
            last_order_at=member.last_order_at,
            reviewed_at=member.tier_reviewed_at,
        )


@dataclass(frozen=True)
class TierReview:
    """A periodic review applied: when, the tier after it, and why it moved (``None``:
    it did not)."""

    reviewed_at: datetime
    tier: str | None
    reason: str | None = None


# ------------------------------------------------------------------ tier window
def rolling(member: TierState, programme: Programme, now: datetime) -> Decimal:
    return tiers.rolling_value(list(member.window), programme, now)


# ------------------------------------------------------------------ tier reviews
def review_moments_until(member: TierState, programme: Programme, now: datetime) -> datetime | None:
    """The last periodic tier review at or before ``now`` (``None`` before the first)."""
    every, tz = programme.tiers["review_every_months"], programme.timezone
    anchor, last, k = member.anchor, None, 1
    # The calendar only goes forward: start from its last review in a month before now's.
    start, end = anchor.astimezone(tz), now.astimezone(tz)
    before = ((end.year - start.year) * 12 + end.month - start.month - 1) // every
    if before > 1:
        last, k = add_months(anchor, every * before, tz), before + 1
        if last > now:  # its wall time fell on a skipped day (Pacific/Enderbury,
            last, k = None, 1  # 31 December 1994), pushed past now: walk from the start
    while True:
        moment = add_months(anchor, every * k, tz)
        if moment > now:
            return last
        last, k = moment, k + 1


def _last_purchase(member: TierState, before: datetime | None = None) -> datetime | None:
    times = [t for t in member.order_times if before is None or t <= before]
    if times:
        return max(times)
    return (
        member.last_order_at
        if before is None or (member.last_order_at and member.last_order_at <= before)
        else None
    )


def tier_change_moment(member: TierState, programme: Programme, now: datetime) -> datetime | None:
    """Earliest moment a review would lower the tier if nothing else happened."""
    rank = tiers.rank(member.tier, programme)
    if rank == 0:
        return None  # the base tier cannot drop; upgrades are applied at once
    candidates = []
    last = _last_purchase(member)
    months = programme.tiers["reset_after_months_without_purchase"]
    if last is not None:
        candidates.append(add_months(last, months, programme.timezone))
    value = rolling(member, programme, now)
    if tiers.rank(tiers.tier_for(value, programme), programme) < rank:
        candidates.append(now)
    else:
        visits = programme.tiers["measure"] == "visits"
        start = tiers.window_start(programme, now)
        exits = sorted(
            (
                (add_months(at, programme.tiers["window_months"], programme.timezone), amount)
                for at, amount in member.window
                if start < at <= now
            ),
            key=lambda pair: pair[0],
        )
        for leaves, amount in exits:
            value -= 1 if visits else Decimal(amount)
            if tiers.rank(tiers.tier_for(value, programme), programme) < rank:
                candidates.append(max(leaves, now))
                break
    return min(candidates) if candidates else None


def next_tier_review(member: TierState, programme: Programme, now: datetime) -> datetime | None:
    """The first periodic review at or after the moment the tier would drop."""
    moment = tier_change_moment(member, programme, now)
    if moment is None:
        return None
    # At or after the drop, and strictly after the last review: a review that resets the
    # tier and lifts it again at once (the window still holds a purchase) leaves a drop
    # moment at or before it, and must not be filed for that review again.
    just_before = moment - timedelta(microseconds=1)
    since = member.reviewed_at
    floor = max(just_before, since) if since else just_before
    return tiers.next_tier_review(member.anchor, programme, floor)


def review_tier(member: TierState, programme: Programme, now: datetime) -> TierReview | None:
    """The last periodic review due by ``now``, once (``None``: none due).

    The review is evaluated *at* its own moment (rolling value and last purchase then),
    so the outcome does not depend on how late the sweep gets to it; purchases since
    then can only keep the tier up (upgrades are immediate).
    """
    moment = review_moments_until(member, programme, now)
    if moment is None or (member.reviewed_at and member.reviewed_at >= moment):
        return None
    tier, reason = tiers.at_review(
        member.tier,
        tiers.rolling_value(list(member.window), programme, moment),
        _last_purchase(member, moment),
        programme,
        moment,
    )
    tier = tiers.on_purchase(tier, rolling(member, programme, now), programme)
    return TierReview(moment, tier, reason if tier != member.tier else None)
