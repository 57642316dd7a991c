"""The one write path for a member item outside the loyalty engine's transactions.

A small unit of work under the member's optimistic lock (``Member.version``): read the
member consistently, let the caller compute its change from what it read (PynamoDB
actions), write it conditional on ``version`` being the one read (plus any guard the
caller keeps, such as an ``updated_at`` comparison) and set ``version + 1``. A
concurrent write (an order, a consent change...) fails the condition: the member is
read again and the change computed again, a bounded number of times. The loyalty
engine's ``TransactWriteItems`` (:mod:`memberflow.loyalty.service`) carry the same
condition, so every member write orders against every other by version and none is
lost.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable

from pynamodb.exceptions import DoesNotExist, UpdateError
from pynamodb.expressions.condition import Condition

from memberflow.store.models import Member

MAX_ATTEMPTS = 100
BACKOFF_BASE = 0.01  # seconds
BACKOFF_CAP = 0.25

Change = Callable[[Member], list | None]


class ConcurrencyExhausted(RuntimeError):
    """The member kept changing under a write for every attempt."""


def version_condition(expected: int | None) -> Condition:
    """The optimistic lock: the member is still at the version that was read."""
    return Member.version.does_not_exist() if expected is None else Member.version == expected


def _condition_failed(error: UpdateError) -> bool:
    return getattr(error, "cause_response_code", None) == "ConditionalCheckFailedException"


def _backoff(attempt: int) -> None:
    # Full jitter: writers of one member spread out instead of colliding again.
    time.sleep(random.uniform(0, min(BACKOFF_BASE * 2 ** min(attempt, 8), BACKOFF_CAP)))


def _read(member: Member) -> bool:
    """Refresh ``member`` in place with a strongly consistent read; False if it is gone."""
    try:
        member.refresh(consistent_read=True)
    except DoesNotExist:
        return False
    return True


def update_member(
    member: Member,
    change: Change,
    *,
    condition: Condition | None = None,
    read: bool = True,
) -> bool:
    """Apply ``change`` to the member under its version; True when it was written.

    ``change(member)`` returns the PynamoDB actions to apply to the member as read, or
    None (or nothing) when there is nothing to write; it may raise to refuse. It runs
    again on each retry, on the member as it is then. ``condition`` is an extra guard the
    write keeps: when it fails while the version held, the write is refused (False).
    ``read=False`` trusts ``member`` as a consistent read the caller has just made (one
    round trip less); a stale one only costs a retry. On success ``member`` holds the
    item as written (UpdateItem returns it), so callers keep using the same instance.
    """
    if read and not _read(member):
        return False
    for attempt in range(MAX_ATTEMPTS):
        actions = change(member)
        if not actions:
            return False
        read_version = member.version
        guard = Member.member_id.exists() & version_condition(read_version)
        if condition is not None:
            guard = guard & condition
        try:
            member.update(
                actions=[*actions, Member.version.set((read_version or 0) + 1)], condition=guard
            )
            return True
        except UpdateError as error:
            if not _condition_failed(error):
                raise
        if not _read(member):
            return False
        if member.version == read_version:
            return False  # the version held: the caller's own guard refused the write
        _backoff(attempt)
    raise ConcurrencyExhausted(f"member {member.member_id}: gave up after {MAX_ATTEMPTS} attempts")


def set_rfm(member_id: str, value: str) -> bool:
    """Write a member's RFM score in one UpdateItem, without reading the member first.

    The score depends on nothing the write could race with (the weekly job computed it
    from the whole base), so no read-compute-write is needed: the write only has to keep
    the optimistic lock's order, which ``ADD version 1`` does (any writer holding the
    version it read before this fails its condition and reads again). False when the
    member is gone, erased, or already has this score."""
    guard = (
        Member.member_id.exists()
        & (Member.erased.does_not_exist() | (Member.erased == False))  # noqa: E712 - an expression
        & (Member.rfm.does_not_exist() | (Member.rfm != value))
    )
    try:
        write_unread(member_id, [Member.rfm.set(value), Member.version.add(1)], guard)
    except UpdateError as error:
        if _condition_failed(error):
            return False
        raise
    return True


def write_unread(member_id: str, actions: list, condition: Condition) -> None:
    """One UpdateItem of a member that reads nothing back (``Model.update`` asks for the
    whole item, ALL_NEW, and deserialises it)."""
    Member._get_connection().update_item(
        member_id, actions=actions, condition=condition, return_values="NONE"
    )
