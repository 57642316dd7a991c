"""Tier ladder: upgrade at once, downgrade only at the periodic review.

The ladder, its measure (``spend`` or ``visits``) and the rolling window come from
``programme.tiers``. The measured value is the spend (or the number of visits) in the
rolling window of ``window_months`` calendar months ending at ``now`` (half-open:
``(now - window, now]``, months counted in the programme's time zone).

Decisions where the domain text is silent:

- A tier name no longer in the ladder (the configuration changed) ranks as the base
  tier: :func:`on_purchase` and :func:`at_review` then return a ladder tier.
- :func:`at_review` resets to the base tier when ``now`` is at or after
  ``last_purchase_at + reset_after_months_without_purchase`` months; a member with no
  purchase at all (``last_purchase_at is None``) gets the tier their rolling value
  supports (normally the base tier).
- A review also applies an upgrade that was missed (reason ``upgrade``).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from decimal import Decimal

from memberflow.config.programme import Programme
from memberflow.loyalty._time import add_months, require_aware

Number = Decimal | int | float


def _dec(value: Number) -> Decimal:
    return value if isinstance(value, Decimal) else Decimal(str(value))


def ladder(programme: Programme) -> list[dict]:
    """The ladder, lowest threshold first."""
    return sorted(programme.tiers["ladder"], key=lambda t: _dec(t["threshold"]))


def rank(tier: str, programme: Programme) -> int:
    """Position on the ladder (base = 0); an unknown tier ranks as the base tier."""
    for i, entry in enumerate(ladder(programme)):
        if entry["name"] == tier:
            return i
    return 0


def tier_for(measure_value: Number, programme: Programme) -> str:
    """The highest tier whose threshold the value reaches."""
    value = _dec(measure_value)
    best = programme.base_tier
    for entry in ladder(programme):
        if value >= _dec(entry["threshold"]):
            best = entry["name"]
    return best


def _known(tier: str, programme: Programme) -> str:
    names = [t["name"] for t in ladder(programme)]
    return tier if tier in names else programme.base_tier


def on_purchase(current_tier: str, rolling_value: Number, programme: Programme) -> str:
    """Tier after a purchase: upgrade at once, never downgrade."""
    supported = tier_for(rolling_value, programme)
    if rank(supported, programme) > rank(current_tier, programme):
        return supported
    return _known(current_tier, programme)


def at_review(
    current_tier: str,
    rolling_value: Number,
    last_purchase_at: datetime | None,
    programme: Programme,
    now: datetime,
) -> tuple[str, str]:
    """Tier at the periodic review and the reason.

    Reasons: ``no_purchase_<n>m`` (reset to base), ``downgrade``, ``upgrade``,
    ``unchanged``.
    """
    require_aware(now, "now")
    cfg = programme.tiers
    base = programme.base_tier
    months = cfg["reset_after_months_without_purchase"]
    if last_purchase_at is not None:
        if now >= add_months(last_purchase_at, months, programme.timezone):
            if current_tier != base:
                return base, f"no_purchase_{months}m"
            return base, "unchanged"
    supported = tier_for(rolling_value, programme)
    have, want = rank(current_tier, programme), rank(supported, programme)
    if want < have:
        return supported, "downgrade"
    if want > have:
        return supported, "upgrade"
    known = _known(current_tier, programme)
    return known, "unchanged" if known == current_tier else "unknown_tier"


def next_tier_review(
    since: datetime, programme: Programme, now: datetime | None = None
) -> datetime:
    """Next periodic review: ``since`` (last review, or join) + ``review_every_months``.

    With ``now``, the first ``since + k × review_every_months`` (k ≥ 1) strictly after
    ``now``: catches up on missed reviews and, when ``since`` is the join date, does not
    drift with month-end clamping (Jan 31 → Feb 28 → Mar 31).
    """
    every = programme.tiers["review_every_months"]
    tz = programme.timezone
    k = 1
    moment = add_months(since, every, tz)
    if now is not None:
        require_aware(now, "now")
        while moment <= now:
            k += 1
            moment = add_months(since, every * k, tz)
    return moment


def multiplier(tier: str, programme: Programme) -> Decimal:
    """The tier's points multiplier (unknown tier: the base tier's)."""
    return _dec(programme.tier(tier)["points_multiplier"])


def discount_percent(tier: str, programme: Programme) -> Decimal:
    return _dec(programme.tier(tier)["discount_percent"])


def window_start(programme: Programme, now: datetime) -> datetime:
    """Start (exclusive) of the rolling window ending at ``now``."""
    return add_months(now, -programme.tiers["window_months"], programme.timezone)


def rolling_value(
    purchases: Iterable[tuple[datetime, Number]], programme: Programme, now: datetime
) -> Decimal:
    """The tier measure over ``(now - window_months, now]``.

    ``spend``: the sum of the amounts (pass net amounts; refunds reverse spend).
    ``visits``: the number of entries (amounts are ignored).
    """
    require_aware(now, "now")
    start = window_start(programme, now)
    inside = [amount for at, amount in purchases if start < at <= now]
    if programme.tiers["measure"] == "visits":
        return Decimal(len(inside))
    return sum((_dec(a) for a in inside), Decimal(0))
