"""A send's claim: one ``TransactWriteItems`` that makes a journey step's send exactly-once.

The claim writes, all or nothing:

* the send's record in the messages table (``<journey>#<cohort>#<step>``, condition: not
  there yet): a retried Map iteration or a re-run finds it and sends nothing;
* the enrolment's progress (the step reached, ``messages_sent + 1``; condition: still
  open and unchanged since read), so no second write is needed after the send;
* for a marketing send, the member's ``marketing_sends`` (the frequency cap's window)
  with ``version + 1``, on condition that the member is the version the step read: of
  two concurrent claims (two journeys) one fails and re-reads, so the cap is never
  exceeded, and consent, suppression and erasure are those of the member read, at the
  moment of the claim. A transactional send (welcome) only checks that the member is
  not erased;
* the step's coupon, when it has one, and the double points' window on the member;
* a points gift (memberflow.journeys.gifts): its ledger entry (condition: new) and the
  member's credited balance and lots, under the member's version (a transactional
  send's claim then writes the member too).

A claim whose send then fails is undone (``release``), its gift taken back in the same
transaction as its record. The provider's message id of a
send is recorded by the shard's next claim, in its transaction; the last one's at the
end of the shard (``record_provider_ids``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from pynamodb.exceptions import TransactWriteError
from pynamodb.expressions.condition import size
from pynamodb.transactions import TransactWrite

from memberflow.metrics import count_ledger
from memberflow.store import Coupon, Enrolment, LedgerEntry, Member, Message, unit_of_work

# Marketing sends kept on the member: the longest cap window an operator would set.
CAP_HISTORY = timedelta(days=90)


class Stale(Exception):
    """The claim's condition failed on an item read earlier: ``which`` to read again."""

    def __init__(self, which: str):
        super().__init__(which)
        self.which = which  # "message" (already claimed) | "enrolment" | "member"


@dataclass
class Gift:
    """Points given with the send (memberflow.journeys.gifts): the ledger entry, the
    member's fields with them credited, and the fields with them taken back from a
    member as it is then (the caller's rules: the store decides nothing)."""

    entry: LedgerEntry
    fields: dict
    taken_back: Callable[[Member], dict]


@dataclass
class Claim:
    record: Message
    enrolment: Enrolment
    member: Member
    step_mark: str
    reached_before: list[str]
    marketing: bool
    coupon: Coupon | None = None
    # Member fields the step's incentive sets (double points' window), written with the
    # cap under the same version check: a marketing claim only.
    member_fields: dict | None = None
    # Provider ids of the shard's earlier sends, recorded in this claim's transaction (no
    # write of their own): (record, provider id).
    provider_ids: list[tuple[Message, str]] | None = None
    gift: Gift | None = None


def changed_fields(member: Member, change: Callable[[Member], None]) -> dict:
    """The attributes ``change`` sets when applied to a copy of ``member`` (which stays
    as it is), by name (``None``: removed)."""
    copy = Member.from_raw_data(member.serialize(null_check=False))
    before = copy.serialize(null_check=False)
    change(copy)
    after = copy.serialize(null_check=False)
    return {
        name: getattr(copy, name)
        for name in Member.get_attributes()
        if name not in ("member_id", "version") and before.get(name) != after.get(name)
    }


def _set(fields: dict) -> list:
    return [
        getattr(Member, name).remove() if value is None else getattr(Member, name).set(value)
        for name, value in fields.items()
    ]


def _connection():
    return Message._get_connection().connection


def _version_is(expected):
    return Member.version.does_not_exist() if expected is None else Member.version == expected


def _steps_unchanged(reached: list[str]):
    condition = size(Enrolment.steps_reached) == len(reached)
    return (Enrolment.steps_reached.does_not_exist() | condition) if not reached else condition


def recent_sends(member: Member, now: datetime, per_days: int) -> list[datetime]:
    """The member's marketing sends inside the cap's window."""
    since = now - timedelta(days=per_days)
    return [t for t in member.marketing_sends or [] if t > since]


def claim(claim: Claim, now: datetime) -> None:
    """Write the claim, or raise ``Stale`` naming the item whose condition failed."""
    enrolment, member = claim.enrolment, claim.member
    reached = claim.reached_before
    items = ["message", "enrolment", "member"]
    try:
        with TransactWrite(connection=_connection()) as tx:
            tx.save(claim.record, condition=Message.message_key.does_not_exist())
            tx.update(
                enrolment,
                actions=[
                    Enrolment.steps_reached.set([*reached, claim.step_mark]),
                    Enrolment.messages_sent.add(1),
                ],
                condition=(Enrolment.status == "open") & _steps_unchanged(reached),
            )
            kept = [t for t in member.marketing_sends or [] if t > now - CAP_HISTORY]
            fields = {**(claim.member_fields or {}), **(claim.gift.fields if claim.gift else {})}
            if claim.marketing:
                fields["marketing_sends"] = [*kept, now]
            if claim.marketing or claim.gift is not None:
                tx.update(
                    member,
                    actions=[Member.version.set((member.version or 0) + 1), *_set(fields)],
                    condition=Member.member_id.exists() & _version_is(member.version),
                )
            else:
                tx.condition_check(
                    Member,
                    member.member_id,
                    condition=Member.member_id.exists() & (Member.erased != True),  # noqa: E712
                )
            if claim.coupon is not None:
                items.append("coupon")
                # Issued again only if an earlier claim was released before its send.
                tx.save(
                    claim.coupon,
                    condition=Coupon.code.does_not_exist()
                    | Coupon.redeemed_order_id.does_not_exist(),
                )
            if claim.gift is not None:
                # written only with its message's record and taken back with it: there
                # already, the send was claimed
                items.append("message")
                tx.save(claim.gift.entry, condition=LedgerEntry.entry_key.does_not_exist())
            for record, provider_id in claim.provider_ids or []:
                items.append("provider_id")
                tx.update(
                    record,
                    actions=[Message.provider_message_id.set(provider_id)],
                    condition=Message.message_key.exists(),
                )
    except TransactWriteError as error:
        reasons = [r.code if r else None for r in (error.cancellation_reasons or [])]
        for name, code in zip(items, reasons, strict=False):
            if code == "ConditionalCheckFailed":
                raise Stale(name) from None
        raise
    enrolment.steps_reached = [*reached, claim.step_mark]
    enrolment.messages_sent = int(enrolment.messages_sent or 0) + 1
    if claim.marketing or claim.gift is not None:
        member.version = (member.version or 0) + 1
        for name, value in fields.items():
            setattr(member, name, value)


def sent(claim: Claim) -> None:
    """The claimed send went out: its gift now counts in the metrics (a claim released
    after a failed send takes its gift back, and must not have counted it)."""
    if claim.gift is not None:
        count_ledger([claim.gift.entry])


def release(claim: Claim, now: datetime) -> None:
    """Undo a claim whose send did not happen, so a later pass sends it (exactly once).

    The record and the enrolment's progress go back together, and a gift with them (its
    entry and the member's points, under the member's version); the cap's entry is
    taken back through the member's write path (a crash in between leaves the cap
    counting one send too many for its window: never one too few)."""
    enrolment = claim.enrolment
    taken: dict | None = None
    try:
        with TransactWrite(connection=_connection()) as tx:
            tx.delete(claim.record, condition=Message.message_key.exists())
            _restore_enrolment(tx, claim)
            if claim.gift is not None:
                taken = _take_back_gift(tx, claim, claim.member, now)
        if taken is not None:
            claim.member.version = (claim.member.version or 0) + 1
            for name, value in taken.items():
                setattr(claim.member, name, value)
    except TransactWriteError:
        # Changed meanwhile (closed by an order, say): still release the send itself.
        if claim.gift is not None:
            _release_gift(claim, now)
        else:
            try:
                claim.record.delete()
            except Exception:  # noqa: BLE001 - gone already
                pass
    enrolment.steps_reached = list(claim.reached_before)
    enrolment.messages_sent = max(0, int(enrolment.messages_sent or 0) - 1)
    if claim.marketing:

        def take_back(current: Member | None, _order):
            if current is None or now not in (current.marketing_sends or []):
                return None
            sends = list(current.marketing_sends)
            sends.remove(now)
            current.marketing_sends = sends
            return unit_of_work.Change(member=current, result=True)

        unit_of_work.run(claim.member.member_id, take_back)


def _take_back_gift(tx, claim: Claim, member: Member, now: datetime) -> dict:
    """The gift's entry deleted and its points taken back from ``member`` as read, in
    ``tx`` (with the cap's entry of this send, when there)."""
    fields = claim.gift.taken_back(member)
    if now in (member.marketing_sends or []):
        fields["marketing_sends"] = [t for t in member.marketing_sends if t != now]
    tx.delete(claim.gift.entry, condition=LedgerEntry.entry_key.exists())
    tx.update(
        member,
        actions=[Member.version.set((member.version or 0) + 1), *_set(fields)],
        condition=Member.member_id.exists() & _version_is(member.version),
    )
    return fields


def _restore_enrolment(tx, claim: Claim) -> None:
    tx.update(
        claim.enrolment,
        actions=[
            Enrolment.steps_reached.set(claim.reached_before),
            Enrolment.messages_sent.add(-1),
        ],
        condition=size(Enrolment.steps_reached) == len(claim.reached_before) + 1,
    )


def _release_gift(claim: Claim, now: datetime, attempts: int = 100) -> None:
    """The send's record and its gift, on the member as it is now (re-read on each
    conflict), with the enrolment's progress while it is unchanged; the record alone
    once the gift is gone."""
    enrolment = True
    for attempt in range(attempts):
        member = unit_of_work.get_member(claim.member.member_id)
        try:
            with TransactWrite(connection=_connection()) as tx:
                _take_back_gift(tx, claim, member, now)
                tx.delete(claim.record)
                if enrolment:
                    _restore_enrolment(tx, claim)
        except TransactWriteError as error:
            reasons = [r.code if r else None for r in (error.cancellation_reasons or [])]
            if reasons and reasons[0] == "ConditionalCheckFailed":  # no gift (any more)
                claim.record.delete()
                return
            if len(reasons) > 3 and reasons[3] == "ConditionalCheckFailed":
                enrolment = False  # changed meanwhile (closed by an order, say)
                continue
            unit_of_work._backoff(attempt)  # the member changed meanwhile: read it again
            continue
        return
    raise unit_of_work.ConcurrencyExhausted(f"member {claim.member.member_id}: gift not taken back")


def record_provider_ids(sent: list[tuple[Message, str]]) -> None:
    """The providers' message ids that no later claim took along (a shard's last send),
    in batches of 25 (BatchWriteItem): each record written again whole, as claimed."""
    with Message.batch_write() as batch:
        for record, provider_id in sent:
            record.provider_message_id = provider_id
            batch.save(record)
