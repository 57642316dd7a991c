"""A member item's points lots, changed in memory (no I/O): credit, debit, redeem and
expire, keeping ``points_balance == sum(lot.remaining) - points_debt``. The lot rules
themselves (FIFO, expiry) are plain functions in :mod:`memberflow.loyalty.points`; the
callers commit the item (see :mod:`memberflow.loyalty.accounts`)."""

from __future__ import annotations

from datetime import UTC, datetime

from memberflow.loyalty import points
from memberflow.store.models import Member, PointsLot


def lot_id_for(expires_at: datetime) -> str:
    return expires_at.astimezone(UTC).date().isoformat()


def _lots(member: Member) -> list[points.Lot]:
    return list(points.lots_of(member))


def _store_lots(member: Member, lots: list[points.Lot]) -> None:
    member.points_lots = [
        PointsLot(lot_id=lot.lot_id, expires_at=lot.expires_at, remaining=lot.remaining)
        for lot in sorted(lots, key=lambda lot: (lot.expires_at, lot.lot_id))
        if lot.remaining > 0
    ]


def credit(member: Member, amount: int, expires_at: datetime) -> None:
    """Add ``amount`` points expiring at ``expires_at``; a debt is paid off first."""
    if amount <= 0:
        return
    debt = int(member.points_debt or 0)
    pay = min(debt, amount)
    member.points_debt = debt - pay
    member.points_balance = int(member.points_balance or 0) + amount
    keep = amount - pay
    if keep <= 0:
        return
    lot_id = lot_id_for(expires_at)
    lots = _lots(member)
    for i, lot in enumerate(lots):
        if lot.lot_id == lot_id:
            # Credits expiring the same day share a lot; the later expiry wins (the
            # member keeps the points a few hours longer, never less).
            later = max(lot.expires_at, expires_at)
            lots[i] = points.Lot(lot_id, lot.earned_at, later, lot.remaining + keep)
            break
    else:
        lots.append(points.Lot(lot_id, expires_at, expires_at, keep))
    _store_lots(member, lots)


def debit(member: Member, amount: int, own_lot: str | None = None) -> None:
    """Take back ``amount`` points: from ``own_lot`` first, then the oldest lots; the
    shortfall (points already redeemed) becomes a debt."""
    if amount <= 0:
        return
    lots = _lots(member)
    left = amount
    if own_lot is not None:
        for i, lot in enumerate(lots):
            if lot.lot_id == own_lot and lot.remaining > 0:
                take = min(lot.remaining, left)
                lots[i] = points.Lot(
                    lot.lot_id, lot.earned_at, lot.expires_at, lot.remaining - take
                )
                left -= take
    held = points.balance(lots)
    take = min(held, left)
    if take:
        _, lots = points.consume_fifo(lots, take)
    member.points_debt = int(member.points_debt or 0) + (left - take)
    member.points_balance = int(member.points_balance or 0) - amount
    _store_lots(member, lots)


def redeem(member: Member, amount: int, now: datetime) -> None:
    """Spend ``amount`` from the lots that expire first (never expired ones).

    Raises :class:`~memberflow.loyalty.points.InsufficientPoints` and changes nothing
    when the unexpired lots (net of any debt) hold less.
    """
    lots = _lots(member)
    debt = int(member.points_debt or 0)
    available = points.balance(lots, now) - debt
    if amount > available:
        raise points.InsufficientPoints(amount, max(available, 0))
    _, remaining = points.consume_fifo(lots, amount, now)
    member.points_balance = int(member.points_balance or 0) - amount
    _store_lots(member, remaining)


def expire(member: Member, now: datetime) -> list[tuple[str, int]]:
    """Remove the lots whose expiry has come; ``[(lot_id, points), ...]``."""
    lots = _lots(member)
    due = points.expire_due(lots, now)
    if not due:
        return []
    gone = {lot_id for lot_id, _ in due}
    member.points_balance = int(member.points_balance or 0) - sum(n for _, n in due)
    _store_lots(member, [lot for lot in lots if lot.lot_id not in gone])
    return due
