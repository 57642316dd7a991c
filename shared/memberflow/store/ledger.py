"""The points ledger: one item per movement, keyed by its source.

A movement and the member's balance change commit in one ``TransactWriteItems``: the
entry is put only if its key is new, so a retried or concurrent delivery can neither
credit twice nor lose an update.
"""

from __future__ import annotations

from datetime import datetime

from pynamodb.connection import Connection
from pynamodb.exceptions import TransactWriteError
from pynamodb.transactions import TransactWrite

from memberflow.store.models import LedgerEntry, Member


def _condition_failed(error: TransactWriteError) -> bool:
    reasons = getattr(error, "cancellation_reasons", None) or []
    return any(r is not None and r.code == "ConditionalCheckFailed" for r in reasons)


def post_movement(
    member: Member,
    *,
    kind: str,
    source: str,
    points: int,
    now: datetime,
    expires_at: datetime | None = None,
) -> bool:
    """Apply one movement exactly once. Returns False when it was already applied."""
    entry = LedgerEntry(
        member_id=member.member_id,
        entry_key=f"{kind}#{source}",
        kind=kind,
        points=points,
        created_at=now,
        source=source,
        expires_at=expires_at,
        remaining=points if points > 0 else None,
    )
    connection = Connection(region=Member.Meta.region)
    try:
        with TransactWrite(connection=connection) as transaction:
            transaction.save(entry, condition=LedgerEntry.entry_key.does_not_exist())
            transaction.update(
                member,
                actions=[Member.points_balance.add(points)],
                condition=Member.member_id.exists(),
            )
    except TransactWriteError as error:
        if _condition_failed(error):
            return False
        raise
    member.points_balance = (member.points_balance or 0) + points
    return True


def entries(member_id: str) -> list[LedgerEntry]:
    return list(LedgerEntry.query(member_id))
