"""The tier window and the periodic tier reviews, on the member item in memory (no I/O).

Upgrades are immediate (:func:`memberflow.loyalty.accounts.pay`); a review lowers or
resets the tier at its own moment, evaluated as of then. Moved out of
:mod:`memberflow.loyalty.accounts`, which re-exports these names.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal

from memberflow.config.programme import Programme
from memberflow.loyalty import tiers
from memberflow.loyalty._time import add_months
from memberflow.store.models import Member


# ------------------------------------------------------------------ tier window
def _window(member: Member) -> list[tuple[datetime, Decimal]]:
    return [(w.at, w.amount) for w in member.tier_window or []]


def rolling(member: Member, programme: Programme, now: datetime) -> Decimal:
    return tiers.rolling_value(_window(member), programme, now)


def _prune_window(member: Member, programme: Programme, now: datetime) -> None:
    start = tiers.window_start(programme, now)
    member.tier_window = [w for w in member.tier_window or [] if w.at > start]


# ------------------------------------------------------------------ tier reviews
def _anchor(member: Member) -> datetime:
    return member.joined_at or member.created_at


def review_moments_until(member: Member, programme: Programme, now: datetime) -> datetime | None:
    """The last periodic tier review at or before ``now`` (``None`` before the first)."""
    every = programme.tiers["review_every_months"]
    anchor, last, k = _anchor(member), None, 1
    while True:
        moment = add_months(anchor, every * k, programme.timezone)
        if moment > now:
            return last
        last, k = moment, k + 1


def _last_purchase(member: Member, before: datetime | None = None) -> datetime | None:
    times = [t for t in member.order_times or [] if before is None or t <= before]
    if times:
        return max(times)
    return (
        member.last_order_at
        if before is None or (member.last_order_at and member.last_order_at <= before)
        else None
    )


def tier_change_moment(member: Member, programme: Programme, now: datetime) -> datetime | None:
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
                (add_months(w.at, programme.tiers["window_months"], programme.timezone), w)
                for w in member.tier_window or []
                if start < w.at <= now
            ),
            key=lambda pair: pair[0],
        )
        for leaves, w in exits:
            value -= 1 if visits else Decimal(w.amount)
            if tiers.rank(tiers.tier_for(value, programme), programme) < rank:
                candidates.append(max(leaves, now))
                break
    return min(candidates) if candidates else None


def next_tier_review(member: Member, programme: Programme, now: datetime) -> datetime | None:
    """The first periodic review at or after the moment the tier would drop."""
    moment = tier_change_moment(member, programme, now)
    if moment is None:
        return None
    since = member.tier_reviewed_at
    floor = max(moment, since) if since else moment
    return tiers.next_tier_review(_anchor(member), programme, floor - timedelta(microseconds=1))


def review_tier(member: Member, programme: Programme, now: datetime) -> str | None:
    """Apply the last periodic review due by ``now``, once; the reason when the tier moved.

    The review is evaluated *at* its own moment (rolling value and last purchase then),
    so the outcome does not depend on how late the sweep gets to it; purchases since
    then can only keep the tier up (upgrades are immediate).
    """
    moment = review_moments_until(member, programme, now)
    if moment is None or (member.tier_reviewed_at and member.tier_reviewed_at >= moment):
        return None
    tier, reason = tiers.at_review(
        member.tier,
        tiers.rolling_value(_window(member), programme, moment),
        _last_purchase(member, moment),
        programme,
        moment,
    )
    tier = tiers.on_purchase(tier, rolling(member, programme, now), programme)
    member.tier_reviewed_at = moment
    if tier == member.tier:
        return None
    member.tier = tier
    return reason
