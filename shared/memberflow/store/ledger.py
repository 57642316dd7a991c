"""The points ledger: one item per movement, keyed by its source (``earn#<order>``,
``redemption#<reference>``...). Entries are written by the unit of work
(:mod:`memberflow.store.unit_of_work`), each put only if its key is new, in the
transaction that changes the balance; what is read or changed here besides is a
redemption's payout status.
"""

from __future__ import annotations

from pynamodb.exceptions import DoesNotExist, TransactWriteError
from pynamodb.transactions import TransactWrite

from memberflow.store.models import Coupon, LedgerEntry


def entry(member_id: str, entry_key: str) -> LedgerEntry | None:
    """One movement, read consistently; None when it was never booked."""
    try:
        return LedgerEntry.get(member_id, entry_key, consistent_read=True)
    except DoesNotExist:
        return None


def entries(member_id: str) -> list[LedgerEntry]:
    """Every movement of a member, read consistently."""
    return list(LedgerEntry.query(member_id, consistent_read=True))


def replacing(entry: LedgerEntry, payout_status: str) -> tuple:
    """A put for :class:`~memberflow.store.unit_of_work.Change.puts` that replaces the
    entry only while its payout is still ``payout_status``."""
    return (entry, LedgerEntry.payout_status == payout_status)


def settle_payout(entry: LedgerEntry, coupon: Coupon, *, was: str, now_status: str) -> bool:
    """The entry's payout turned ``was`` -> ``now_status`` and the coupon item saved,
    together; False when the entry's payout is no longer ``was``."""
    try:
        with TransactWrite(connection=LedgerEntry._get_connection().connection) as tx:
            tx.update(
                entry,
                actions=[LedgerEntry.payout_status.set(now_status)],
                condition=LedgerEntry.payout_status == was,
            )
            tx.save(coupon)
    except TransactWriteError as error:
        reasons = [r.code if r else None for r in (error.cancellation_reasons or [])]
        if reasons and reasons[0] == "ConditionalCheckFailed":
            return False
        raise
    entry.payout_status = now_status
    return True
