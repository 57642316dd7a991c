"""The member directory: a member by id or by email hash, a new member written with its
identity links, and one more identity linked to a member. The identity links and
email links themselves are built by the caller (:mod:`memberflow.members.service`)."""

from __future__ import annotations

from pynamodb.exceptions import DoesNotExist, TransactWriteError
from pynamodb.transactions import TransactWrite

from memberflow.store.models import ExternalIdentity, Member


def member(member_id: str) -> Member | None:
    """The member, read consistently; None when there is none."""
    try:
        return Member.get(member_id, consistent_read=True)
    except DoesNotExist:
        return None


def member_id_by_email_hash(hashed: str) -> str | None:
    """A member whose email hashes to ``hashed``, from the by_email index (eventually
    consistent: for members written before email links existed)."""
    for hit in Member.email_index.query(hashed, limit=1):
        return hit.member_id
    return None


def exists(identity_key: str) -> bool:
    """Whether the identities table holds ``identity_key`` (an eventually consistent
    read: suppression records are written long before they are asked about)."""
    try:
        ExternalIdentity.get(identity_key)
        return True
    except DoesNotExist:
        return False


def create(
    new: Member,
    *,
    email_link: ExternalIdentity | None = None,
    identity: ExternalIdentity | None = None,
) -> bool:
    """Write a new member with its links in one transaction, conditional on the member
    id and the identity's key being free (the email link is written as it is: a stale
    one is harmless). False when a concurrent writer took one of them first."""
    try:
        # the model's cached connection: a new Connection is a new botocore session
        with TransactWrite(connection=Member._get_connection().connection) as transaction:
            transaction.save(new, condition=Member.member_id.does_not_exist())
            if email_link is not None:
                transaction.save(email_link)
            if identity is not None:
                transaction.save(identity, condition=ExternalIdentity.identity_key.does_not_exist())
        return True
    except TransactWriteError as error:
        return _lost_a_race(error)


def link(member_id: str, identity: ExternalIdentity) -> bool:
    """Link one more identity to a member; False when it was linked already.

    The member's list of identity keys (a coupon step's lookup) is dropped with the new
    link, in one transaction, under a version bump: the next coupon step reads the
    identities index again instead of trusting a list that lacks this shop."""
    try:
        with TransactWrite(connection=Member._get_connection().connection) as transaction:
            transaction.save(identity, condition=ExternalIdentity.identity_key.does_not_exist())
            transaction.update(
                Member(member_id=member_id),
                actions=[Member.shop_identities.remove(), Member.version.add(1)],
                condition=Member.member_id.exists(),
            )
        return True
    except TransactWriteError as error:
        return _lost_a_race(error)


def _lost_a_race(error: TransactWriteError) -> bool:
    """False when a condition failed or a concurrent transaction held the items (another
    writer took the key first, or the member is gone); any other failure (throttling, a
    validation error) is raised, never taken for "linked already"."""
    reasons = [r.code if r else None for r in (error.cancellation_reasons or [])]
    if {"ConditionalCheckFailed", "TransactionConflict"} & set(reasons):
        return False
    raise error
