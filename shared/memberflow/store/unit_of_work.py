"""The member's unit of work: read, plan, commit in one ``TransactWriteItems``.

:func:`run` reads the member (and an order) consistently, hands them to a *plan* (plain
code of the caller's: the loyalty rules) and commits what the plan returns (a
:class:`Change`) in one transaction:

- the ledger entries, each put only if its key is new;
- the order item, conditional on the version that was read;
- the member's changed attributes, conditional on the version that was read;
- items that commit with the member (identity links, a welcome cohort...), each under
  its own condition, and the delivery's receipt.

A conflicting concurrent write fails the condition; the plan is then replayed on the
items as they are now (optimistic locking). Nothing of substance happens after the
commit, so a crash at any point leaves either nothing or everything applied.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from pynamodb.connection import Connection
from pynamodb.constants import ALL_OLD
from pynamodb.exceptions import DoesNotExist, TransactWriteError
from pynamodb.transactions import TransactGet, TransactWrite

from memberflow.metrics import count_ledger
from memberflow.store.members import ConcurrencyExhausted  # one for both write paths
from memberflow.store.models import LedgerEntry, Member, Order

MAX_ATTEMPTS = 200
BACKOFF_BASE = 0.02  # seconds
BACKOFF_CAP = 0.5


class MemberNotFound(LookupError):
    pass


class Contended(RuntimeError):
    """A transaction of ``run(..., retry=False)`` lost to a concurrent write."""


@dataclass
class Change:
    """What one attempt wants to commit."""

    member: Member | None = None  # None: the member is not written
    order: Order | None = None
    entries: list[LedgerEntry] = field(default_factory=list)
    result: object = None
    # Items that commit with the member in the same transaction, each put only if new
    # (identity links, a welcome cohort and its enrolment): (item, condition or None).
    puts: list = field(default_factory=list)
    create: bool = False  # the member is new: put, conditional on its id being free


def _snapshot(model) -> dict:
    return model.serialize(null_check=False)


def _member_actions(member: Member, before: dict) -> list:
    after = _snapshot(member)
    actions = []
    for name, attribute in Member.get_attributes().items():
        if name in ("member_id", "version") or after.get(name) == before.get(name):
            continue
        value = getattr(member, name)
        actions.append(attribute.remove() if value is None else attribute.set(value))
    return actions


def _version_condition(attribute, expected):
    return attribute.does_not_exist() if expected is None else attribute == expected


def _conflict(error: TransactWriteError) -> bool:
    reasons = getattr(error, "cancellation_reasons", None) or []
    codes = {r.code for r in reasons if r is not None}
    return bool(codes & {"ConditionalCheckFailed", "TransactionConflict"}) or (
        getattr(error, "cause_response_code", "") == "TransactionConflictException"
    )


def _committing(member_id: str, actions: list) -> None:
    """Called right before a transaction writing the member is sent, with the member's
    actions (a seam for tests: what commits between a write's read and its write)."""


def _committed(member_id: str, version: int | None) -> None:
    """Called after every successful commit (a seam for tests: crash injection, order)."""


def _connection() -> Connection:
    # The model's own connection: a new Connection per transaction would build a new
    # botocore client (and reload its service model) every time.
    return Member._get_connection().connection


def get_member(member_id: str) -> Member:
    try:
        return Member.get(member_id, consistent_read=True)
    except DoesNotExist:
        raise MemberNotFound(member_id) from None


def _get_order(key: str) -> Order | None:
    try:
        return Order.get(key, consistent_read=True)
    except DoesNotExist:
        return None


def _read(member_id: str, order: str | None) -> tuple[Member, Order | None]:
    """The member and its order in one strongly consistent round trip."""
    if order is None:
        return get_member(member_id), None
    with TransactGet(connection=_connection()) as tx:
        member_future = tx.get(Member, member_id)
        order_future = tx.get(Order, order)
    try:
        member = member_future.get()
    except DoesNotExist:
        raise MemberNotFound(member_id) from None
    try:
        return member, order_future.get()
    except DoesNotExist:
        return member, None


def _backoff(attempt: int) -> None:
    # Exponential backoff with full jitter: concurrent writers of one member spread out
    # instead of colliding again on the next round.
    time.sleep(random.uniform(0, min(BACKOFF_BASE * 2 ** min(attempt, 8), BACKOFF_CAP)))


def _reread_from(error: TransactWriteError, change: Change, member_raw: dict, order_raw):
    """The fresh member and order from a conflict's cancellation reasons (DynamoDB
    returns the current item when asked), so a retry needs no new read; ``None`` when a
    full re-read is needed (a ledger key that exists, or no item returned)."""
    reasons = list(getattr(error, "cancellation_reasons", None) or [])
    index = len(change.entries)
    if any(r is not None for r in reasons[:index]):
        return None  # a ledger entry exists: re-read, the plan will see it applied
    fresh_order = Order.from_raw_data(order_raw) if order_raw is not None else None
    if change.order is not None:
        reason = reasons[index] if index < len(reasons) else None
        index += 1
        if reason is not None:
            if not reason.raw_item:
                return None
            fresh_order = Order.from_raw_data(reason.raw_item)
    fresh_member = Member.from_raw_data(member_raw)
    if change.member is not None:
        reason = reasons[index] if index < len(reasons) else None
        if reason is not None:
            if not reason.raw_item:
                return None
            fresh_member = Member.from_raw_data(reason.raw_item)
    return fresh_member, fresh_order


def run(
    member_id: str,
    plan: Callable[[Member, Order | None], Change | None],
    *,
    order: str | None = None,
    first: Member | None = None,
    first_order: Order | None = None,
    receipt=None,
    retry: bool = True,
) -> object:
    """Read, plan, commit under conditions; on a conflict, replay the plan on the items
    as they are now (returned by the failed transaction, or read again).

    ``first`` (and ``first_order``, the order read with it: ``None`` when it does not
    exist) are consistent reads the caller has just made: the first attempt plans on
    them instead of reading again. ``receipt`` (memberflow.store.receipts): the
    delivery's record, written in the same transaction when one is committed
    (``receipt.written`` tells); a live record of the delivery found there raises
    ``DeliveryFinished`` and nothing is written. ``retry=False``: a conflict raises
    :class:`Contended` (the caller reads again its own way) instead of replaying."""
    fresh: tuple[Member, Order | None] | None = None
    if first is not None:
        fresh = (first, first_order if order is not None else None)
    for attempt in range(MAX_ATTEMPTS):
        member, current = fresh if fresh is not None else _read(member_id, order)
        fresh = None
        member_before = _snapshot(member)
        order_raw = _snapshot(current) if current is not None else None
        member_version = member.version
        order_version = current.version if current is not None else None
        order_existed = current is not None
        change = plan(member, current)
        if change is None:
            return None
        actions = _member_actions(change.member, member_before) if change.member else []
        if change.member is not None and not change.create and not actions and not change.entries:
            # Nothing of the member changed. (Ledger entries always come with a member
            # write: their amounts were computed from this version, so it is checked.)
            change.member = None
        if change.member is None and change.order is None and not (change.entries or change.puts):
            return change.result  # nothing changed: write nothing
        new_version = member_version
        if change.member is not None:
            _committing(member_id, actions)
        try:
            with TransactWrite(connection=_connection()) as tx:
                for entry in change.entries:
                    tx.save(entry, condition=LedgerEntry.entry_key.does_not_exist())
                for item, condition in change.puts:
                    tx.save(item, condition=condition)
                if change.order is not None:
                    change.order.version = (order_version or 0) + 1
                    tx.save(
                        change.order,
                        condition=_version_condition(Order.version, order_version)
                        if order_existed
                        else Order.order_key.does_not_exist(),
                        return_values=ALL_OLD,
                    )
                if change.member is not None and change.create:
                    new_version = 1
                    change.member.version = new_version
                    tx.save(change.member, condition=Member.member_id.does_not_exist())
                elif change.member is not None:
                    new_version = (member_version or 0) + 1
                    actions.append(Member.version.set(new_version))
                    tx.update(
                        change.member,
                        actions=actions,
                        condition=Member.member_id.exists()
                        & _version_condition(Member.version, member_version),
                        return_values=ALL_OLD,
                    )
                if receipt is not None:
                    receipt.add_to(tx, receipt.summary_for(member_id))
        except TransactWriteError as error:
            if receipt is not None:
                reasons = list(getattr(error, "cancellation_reasons", None) or [])
                receipt.check(reasons[-1] if reasons else None)
            if not _conflict(error):
                raise
            if not retry:
                raise Contended(member_id) from None
            if change.create or change.puts:
                fresh = None  # a new item was taken meanwhile: read again
                _backoff(attempt)
                continue
            # Someone else wrote first: replay on the items as they are now.
            fresh = _reread_from(error, change, member_before, order_raw)
            if fresh is not None and fresh[0].member_id != member_id:
                fresh = None
            _backoff(attempt)
            continue
        if change.member is not None:
            change.member.version = new_version
        if receipt is not None:
            receipt.committed()
        _committed(member_id, new_version if change.member is not None else None)
        count_ledger(change.entries)
        return change.result
    raise ConcurrencyExhausted(f"member {member_id}: gave up after {MAX_ATTEMPTS} attempts")


def copy_member(target: Member, source: Member) -> None:
    """Refresh the caller's member object with what was committed."""
    if target is source:
        return
    for name in Member.get_attributes():
        setattr(target, name, getattr(source, name))


__all__ = [
    "ConcurrencyExhausted",
    "Change",
    "Contended",
    "MemberNotFound",
    "copy_member",
    "get_member",
    "run",
]
