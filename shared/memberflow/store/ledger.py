"""The points ledger: one item per movement, keyed by its source.

A movement, the member's balance and its points lots commit in one
``TransactWriteItems`` (see :mod:`memberflow.loyalty.service`): the entry is put only if
its key is new and the member only if it did not change since it was read, so a retried
or concurrent delivery can neither credit twice nor lose an update.
"""

from __future__ import annotations

from datetime import datetime

from memberflow.store.models import LedgerEntry, Member


def post_movement(
    member: Member,
    *,
    kind: str,
    source: str,
    points: int,
    now: datetime,
    expires_at: datetime | None = None,
    programme=None,
) -> bool:
    """Apply one credit (a bonus) exactly once. Returns False when it was already applied.

    Credits go into a points lot expiring at ``expires_at`` (required for credits);
    with ``programme`` the member's review date is recomputed too.
    """
    # The loyalty engine owns the balance arithmetic; imported here to keep the store
    # layer importable on its own.
    from memberflow.loyalty import service

    if points <= 0 or expires_at is None:
        raise ValueError("post_movement books credits (points > 0 with expires_at)")
    committed = service.post_credit(
        member.member_id,
        kind=kind,
        source=source,
        amount=points,
        expires_at=expires_at,
        now=now,
        programme=programme,
    )
    if committed is None:
        return False
    member.points_balance = committed.points_balance
    member.points_lots = committed.points_lots
    member.review_key, member.review_at = committed.review_key, committed.review_at
    member.version = committed.version
    return True


def entries(member_id: str) -> list[LedgerEntry]:
    return list(LedgerEntry.query(member_id))
