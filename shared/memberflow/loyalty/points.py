"""Points: earning, refund reversal, lots with expiry, FIFO redemption, redemption value.

Points are whole numbers, always rounded down. Each credit is a :class:`Lot` that
expires ``points.expiry_months`` calendar months after it was earned (day of month
clamped, in the programme's time zone). Redemptions consume the lots that expire
first.

Decisions where the domain text is silent:

- In a ``measure: visits`` programme with ``points.earn_per_visit``, an order (a visit)
  earns ``earn_per_visit`` × multipliers *instead of* spend-based points.
- Pass the tier the member held when the order was paid (before any upgrade the order
  itself causes): that is the tier whose multiplier the member was promised.
- Refund reversal rounds down too (in the member's favour); cumulative partial refunds
  are handled by passing what was refunded/reversed before, so refunding the whole
  order in parts reverses exactly what it earned. An order total of 0 (a free visit)
  reverses everything it earned.
- Several bonus windows at once do not stack: the highest multiplier applies.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from decimal import ROUND_CEILING, ROUND_DOWN, Decimal

from memberflow.config.programme import Programme
from memberflow.loyalty import tiers
from memberflow.loyalty._time import add_months, require_aware

Money = Decimal | int | float
ONE = Decimal(1)


class InsufficientPoints(ValueError):
    """A redemption asked for more points than the lots hold."""

    def __init__(self, needed: int, available: int):
        super().__init__(f"insufficient points: needed {needed}, available {available}")
        self.needed = needed
        self.available = available


def _dec(value: Money) -> Decimal:
    return value if isinstance(value, Decimal) else Decimal(str(value))


def _floor(value: Decimal) -> int:
    return int(value.to_integral_value(rounding=ROUND_DOWN))


def points_for_order(
    total: Money, tier: str, programme: Programme, bonus_multiplier: Money = ONE
) -> int:
    """Points a paid order earns: rate × tier multiplier × bonus multiplier, rounded down.

    The rate is ``earn_per_currency_unit`` × ``total``, or ``earn_per_visit`` for a
    ``measure: visits`` programme that sets it.
    """
    amount = _dec(total)
    bonus = _dec(bonus_multiplier)
    if amount < 0:
        raise ValueError("order total must not be negative")
    if bonus <= 0:
        raise ValueError("bonus multiplier must be positive")
    cfg = programme.points
    if programme.tiers["measure"] == "visits" and "earn_per_visit" in cfg:
        base = _dec(cfg["earn_per_visit"])
    else:
        base = amount * _dec(cfg["earn_per_currency_unit"])
    return _floor(base * tiers.multiplier(tier, programme) * bonus)


def points_reversed_for_refund(
    refund_amount: Money,
    order_total: Money,
    points_earned: int,
    *,
    previously_refunded: Money = 0,
    previously_reversed: int = 0,
) -> int:
    """Points to take back for a refund: proportional, rounded down, never more than earned.

    ``previously_refunded``/``previously_reversed``: earlier partial refunds of the same
    order, so the reversals add up to ``points_earned`` once the whole total is refunded.
    """
    refund, total, before = _dec(refund_amount), _dec(order_total), _dec(previously_refunded)
    if refund < 0 or before < 0 or total < 0:
        raise ValueError("amounts must not be negative")
    if points_earned < 0 or previously_reversed < 0:
        raise ValueError("points must not be negative")
    left = max(points_earned - previously_reversed, 0)
    if total == 0:
        return left
    refunded = min(before + refund, total)
    target = _floor(Decimal(points_earned) * refunded / total)
    return max(0, min(target - previously_reversed, left))


@dataclass(frozen=True)
class Lot:
    """Points credited together (one earning event), expiring together."""

    lot_id: str
    earned_at: datetime
    expires_at: datetime
    remaining: int

    def __post_init__(self) -> None:
        if self.remaining < 0:
            raise ValueError(f"lot {self.lot_id}: remaining must not be negative")


def lots_of(member) -> tuple[Lot, ...]:
    """A member item's ``points_lots`` as plain lots (the one conversion of them)."""
    return tuple(
        Lot(lot.lot_id, lot.expires_at, lot.expires_at, int(lot.remaining))
        for lot in member.points_lots or ()
    )


def expires_at(earned_at: datetime, programme: Programme) -> datetime:
    """``earned_at`` + ``expiry_months`` calendar months (day clamped), UTC."""
    return add_months(earned_at, programme.points["expiry_months"], programme.timezone)


def new_lot(lot_id: str, earned_at: datetime, amount: int, programme: Programme) -> Lot:
    return Lot(lot_id, earned_at, expires_at(earned_at, programme), amount)


def _fifo_order(lots: Iterable[Lot]) -> list[Lot]:
    return sorted(lots, key=lambda lot: (lot.expires_at, lot.earned_at, lot.lot_id))


def balance(lots: Iterable[Lot], now: datetime | None = None) -> int:
    """Points held; with ``now``, only lots not yet expired."""
    return sum(lot.remaining for lot in lots if now is None or lot.expires_at > now)


def consume_fifo(
    lots: Sequence[Lot], amount: int, now: datetime | None = None
) -> tuple[list[tuple[str, int]], list[Lot]]:
    """Take ``amount`` points from the lots that expire first.

    Returns ``([(lot_id, taken), ...], remaining_lots)``: ``remaining_lots`` are the lots
    with points left, in expiry order (emptied lots are dropped). With ``now``, lots already expired are not
    spent (they stay, for :func:`expire_due`). Raises :class:`InsufficientPoints`, and
    changes nothing, when the lots hold less than ``amount``.
    """
    if amount < 0:
        raise ValueError("amount must not be negative")
    ordered = _fifo_order(lots)
    spendable = [lot for lot in ordered if now is None or lot.expires_at > now]
    available = sum(lot.remaining for lot in spendable)
    if available < amount:
        raise InsufficientPoints(amount, available)
    takes: list[tuple[str, int]] = []
    left = amount
    out: list[Lot] = []
    for lot in ordered:
        if left > 0 and lot.remaining > 0 and (now is None or lot.expires_at > now):
            take = min(lot.remaining, left)
            takes.append((lot.lot_id, take))
            left -= take
            lot = replace(lot, remaining=lot.remaining - take)
        if lot.remaining > 0:
            out.append(lot)
    return takes, out


def expire_due(lots: Iterable[Lot], now: datetime) -> list[tuple[str, int]]:
    """``(lot_id, points)`` of every lot with points left whose expiry is at or before ``now``."""
    require_aware(now, "now")
    return [
        (lot.lot_id, lot.remaining)
        for lot in _fifo_order(lots)
        if lot.remaining > 0 and lot.expires_at <= now
    ]


def next_expiry(lots: Iterable[Lot]) -> datetime | None:
    """When the next lot with points left expires (a candidate for the review index)."""
    moments = [lot.expires_at for lot in lots if lot.remaining > 0]
    return min(moments) if moments else None


def expiring_between(lots: Iterable[Lot], now: datetime, until: datetime) -> int:
    """Points that expire in ``(now, until]`` (the recall reminder's "about to expire")."""
    return sum(lot.remaining for lot in lots if now < lot.expires_at <= until)


def redemption_value(points: int, programme: Programme, places: int = 2) -> Decimal:
    """Currency value of ``points``, rounded down to ``places`` decimals."""
    if points < 0:
        raise ValueError("points must not be negative")
    per_unit = programme.points["redemption"]["points_per_currency_unit"]
    quantum = Decimal(1).scaleb(-places)
    return (Decimal(points) / Decimal(per_unit)).quantize(quantum, rounding=ROUND_DOWN)


def points_for_value(amount: Money, programme: Programme) -> int:
    """Points needed for ``amount`` off (rounded up: never give more than paid for)."""
    value = _dec(amount)
    if value < 0:
        raise ValueError("amount must not be negative")
    per_unit = programme.points["redemption"]["points_per_currency_unit"]
    return int((value * per_unit).to_integral_value(rounding=ROUND_CEILING))


def bonus_points(kind: str, programme: Programme) -> int:
    """A one-off bonus from ``points.bonuses`` (``join``, ``phone_bound``, ``profile_completed``)."""
    bonuses = programme.points["bonuses"]
    if kind not in bonuses:
        raise KeyError(f"unknown bonus '{kind}'")
    return int(bonuses[kind])


@dataclass(frozen=True)
class BonusWindow:
    """A period ``[starts_at, ends_at)`` in which orders earn ``multiplier`` × points."""

    starts_at: datetime
    ends_at: datetime
    multiplier: Decimal

    @classmethod
    def from_incentive(cls, incentive: dict, starts_at: datetime) -> BonusWindow:
        """From a journey step's ``double_points`` incentive (``days``, ``multiplier``)."""
        if incentive.get("type") != "double_points":
            raise ValueError("not a double_points incentive")
        ends = starts_at + timedelta(days=incentive["days"])
        return cls(starts_at, ends, _dec(incentive["multiplier"]))


def bonus_multiplier(windows: Iterable[BonusWindow], at: datetime) -> Decimal:
    """The highest multiplier of the windows open at ``at`` (1 if none)."""
    require_aware(at, "at")
    open_ = [w.multiplier for w in windows if w.starts_at <= at < w.ends_at]
    return max(open_, default=ONE)
