"""Data access of the go-live import: which customers exist, and batched writes.

Orders and ledger entries go first, with ``BatchWriteItem`` (25 a call): their keys
come from the platform's ids, so writing them again writes the same items. The member,
its identity link and its email link go last, in ``TransactWriteItems`` of up to 33
customers (99 items), each conditional on the member and the identity not existing: a
customer is created whole or not at all, and a re-run (or a webhook that created the
member meanwhile) cannot overwrite a live member.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable

from pynamodb.exceptions import TransactWriteError
from pynamodb.transactions import TransactWrite

from memberflow.store.identities import suppression_key
from memberflow.store.models import ExternalIdentity, LedgerEntry, Member, Order

TRANSACTION_ITEMS = 100  # TransactWriteItems' limit
ITEMS_PER_CUSTOMER = 3  # member, identity, email link
CUSTOMERS_PER_TRANSACTION = TRANSACTION_ITEMS // ITEMS_PER_CUSTOMER


def erased_identity_key(identity_key: str) -> str:
    # The tombstone an erasure leaves (memberflow.store.identities).
    return "suppressed#identity#" + hashlib.sha256(identity_key.encode()).hexdigest()


def existing_keys(keys: Iterable[str]) -> set[str]:
    """Which of these identity-table keys exist (``BatchGetItem``, 100 a call)."""
    wanted = sorted(set(keys))
    if not wanted:
        return set()
    return {
        item.identity_key
        for item in ExternalIdentity.batch_get(wanted, attributes_to_get=["identity_key"])
    }


def refused_keys(identity_keys: list[str], email_hashes: list[str]) -> tuple[set, set]:
    """(identity keys already linked to a member, identity keys or email hashes of
    erased people) in one pass of batched reads."""
    tombstones = {erased_identity_key(k): k for k in identity_keys}
    suppressed = {suppression_key(h): h for h in email_hashes}
    found = existing_keys([*identity_keys, *tombstones, *suppressed])
    present = {k for k in identity_keys if k in found}
    erased = {tombstones[k] for k in found if k in tombstones} | {
        suppressed[k] for k in found if k in suppressed
    }
    return present, erased


def write_history(orders: list[Order], entries: list[LedgerEntry]) -> None:
    """Orders and ledger entries, ``BatchWriteItem`` 25 at a time (unprocessed items
    are retried by PynamoDB)."""
    with Order.batch_write() as batch:
        for order in orders:
            batch.save(order)
    with LedgerEntry.batch_write() as batch:
        for entry in entries:
            batch.save(entry)


def _transaction(customers: list[tuple[Member, ExternalIdentity, ExternalIdentity | None]]):
    with TransactWrite(connection=Member._get_connection().connection) as tx:
        for member, identity, link in customers:
            tx.save(member, condition=Member.member_id.does_not_exist())
            tx.save(identity, condition=ExternalIdentity.identity_key.does_not_exist())
            if link is not None:
                tx.save(link)


def _condition_failed(error: TransactWriteError) -> bool:
    reasons = getattr(error, "cancellation_reasons", None) or []
    codes = {r.code for r in reasons if r is not None}
    return bool(codes & {"ConditionalCheckFailed", "TransactionConflict"})


def create_members(
    customers: list[tuple[Member, ExternalIdentity, ExternalIdentity | None]],
) -> int:
    """Create the members with their links; returns how many were created (a member or
    identity that exists by now is left as it is)."""
    created = 0
    for start in range(0, len(customers), CUSTOMERS_PER_TRANSACTION):
        chunk = customers[start : start + CUSTOMERS_PER_TRANSACTION]
        try:
            _transaction(chunk)
            created += len(chunk)
        except TransactWriteError as error:
            if not _condition_failed(error):
                raise
            # One of them exists (created meanwhile): the others one by one.
            for one in chunk:
                try:
                    _transaction([one])
                    created += 1
                except TransactWriteError as single:
                    if not _condition_failed(single):
                        raise
    return created
