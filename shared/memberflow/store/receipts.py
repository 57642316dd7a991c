"""A delivery's receipt: the record that makes a webhook delivery count once.

Powertools Idempotency's semantics, with its record written *inside* the delivery's
business transaction instead of in calls of its own (docs/architecture.md, "Calls per
event"). One item per delivery id in the IdempotencyTable, in Powertools' attribute
names (``id``, ``expiration``, ``status``, ``data``, ``validation``,
``in_progress_expiration``):

* **claimed** deliveries (several writes, e.g. a sign-up: member, then the welcome
  execution) put ``INPROGRESS`` first, conditional on no live record, as Powertools
  does; a concurrent copy waits for it, a copy with another body is refused; the last
  write of the delivery turns it ``COMPLETED`` (in its own transaction when it can);
* **single-write** deliveries (a paid order, a refund: one ``TransactWriteItems``) are
  not claimed: the ``COMPLETED`` record is put in that same transaction, conditional on
  no live record. Atomic: a copy that loses the race changes nothing and gets the
  winner's answer (or 409 for another body); no in-progress window exists to wait on.

A record is live until ``expiration`` (a week: the platforms' retry window); an
``INPROGRESS`` one only until ``in_progress_expiration`` (the invocation's own timeout,
so a timed-out invocation does not block the retry). Times are wall-clock, as in
Powertools: they are about real retries and real Lambda timeouts.
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass, field

from pynamodb.attributes import NumberAttribute, UnicodeAttribute
from pynamodb.exceptions import DeleteError, DoesNotExist
from pynamodb.models import Model

from memberflow.store.attributes import UNBOUND

INPROGRESS = "INPROGRESS"
COMPLETED = "COMPLETED"
# Shopify retries for 4 hours, WooCommerce's queue for about a day: keep a week.
IDEMPOTENCY_SECONDS = 7 * 24 * 3600


class DeliveryRecord(Model):
    """The IdempotencyTable's item (Powertools' attribute names)."""

    class Meta:
        table_name = UNBOUND

    id = UnicodeAttribute(hash_key=True)
    expiration = NumberAttribute()  # epoch seconds (the table's TTL)
    status = UnicodeAttribute()
    in_progress_expiration = NumberAttribute(null=True)  # epoch milliseconds
    validation = UnicodeAttribute(null=True)  # sha256 of the body
    data = UnicodeAttribute(null=True)  # the answer (JSON, ids only)


def bind(table_name: str, region: str | None = None) -> None:
    DeliveryRecord.Meta.table_name = table_name
    if region:
        DeliveryRecord.Meta.region = region
    DeliveryRecord._connection = None


class DeliveryFinished(Exception):
    """A live record of this delivery id exists (found by a read or a failed condition)."""

    def __init__(self, record: DeliveryRecord):
        super().__init__(record.id)
        self.record = record


def live(now_s: float):
    """No live record: absent, expired, or an in-progress one whose invocation ended."""
    return (
        DeliveryRecord.id.does_not_exist()
        | (DeliveryRecord.expiration < int(now_s))
        | (
            (DeliveryRecord.status == INPROGRESS)
            & DeliveryRecord.in_progress_expiration.exists()
            & (DeliveryRecord.in_progress_expiration < int(now_s * 1000))
        )
    )


def is_live(record: DeliveryRecord, now_s: float) -> bool:
    if record.expiration < int(now_s):
        return False
    if record.status == INPROGRESS and record.in_progress_expiration is not None:
        return record.in_progress_expiration >= int(now_s * 1000)
    return True


@dataclass
class Receipt:
    """One delivery's record: its key, body hash and how it is written."""

    delivery_id: str
    body_sha256: str
    remaining_ms: int | None = None  # the invocation's time left (in-progress expiry)
    claimed: bool = False  # an INPROGRESS record of ours exists
    written: bool = False  # the COMPLETED record is written
    summary: dict | None = field(default=None, repr=False)
    base: dict | None = field(default=None, repr=False)  # the summary without its members

    def summary_for(self, member_id: str | None) -> dict:
        """The delivery's answer (apply_delivery's summary) for a one-event delivery."""
        ids = [member_id] if member_id else []
        return {**(self.base or {}), "member_ids": ids, "skipped": 0 if ids else 1}

    @property
    def key(self) -> str:
        return "delivery#" + hashlib.sha256(self.delivery_id.encode()).hexdigest()

    def _record(self, status: str, summary: dict | None, now_s: float) -> DeliveryRecord:
        record = DeliveryRecord(
            id=self.key,
            expiration=int(now_s) + IDEMPOTENCY_SECONDS,
            status=status,
            validation=self.body_sha256,
        )
        if status == INPROGRESS and self.remaining_ms is not None:
            record.in_progress_expiration = int(now_s * 1000) + self.remaining_ms
        if summary is not None:
            record.data = json.dumps(summary, sort_keys=True)
        return record

    # ---------------------------------------------------------------- standalone calls
    def claim(self) -> None:
        """Put INPROGRESS unless a live record exists (then :class:`DeliveryFinished`)."""
        now_s = time.time()
        refused = _put_unless(self._record(INPROGRESS, None, now_s), live(now_s))
        if refused is not None:
            raise refused
        self.claimed = True

    def complete(self, summary: dict) -> None:
        """The COMPLETED record on its own (the delivery's writes could not carry it)."""
        now_s = time.time()
        record = self._record(COMPLETED, summary, now_s)
        if self.claimed:
            record.save()
        else:
            refused = _put_unless(record, live(now_s))
            if refused is not None:
                raise refused
        self.written, self.summary = True, summary

    def release(self) -> None:
        """Applying failed: drop our record so the platform's retry applies it again
        (Powertools deletes its in-progress record the same way)."""
        if not (self.claimed or self.written):
            return
        try:
            DeliveryRecord(id=self.key).delete()
        except DeleteError:
            pass  # expires with its invocation anyway
        self.claimed = self.written = False

    def read(self) -> DeliveryRecord | None:
        try:
            return DeliveryRecord.get(self.key, consistent_read=True)
        except DoesNotExist:
            return None

    # ---------------------------------------------------------------- in a transaction
    def add_to(self, transaction, summary: dict) -> None:
        """Write the COMPLETED record in ``transaction``: an update of our claim, or a
        conditional put (no live record) when the delivery was not claimed. A failed
        condition cancels the whole transaction; :meth:`check` tells why."""
        now_s = time.time()
        record = self._record(COMPLETED, summary, now_s)
        if self.claimed:
            transaction.update(
                record,
                actions=[
                    DeliveryRecord.status.set(COMPLETED),
                    DeliveryRecord.data.set(record.data),
                    DeliveryRecord.expiration.set(record.expiration),
                    DeliveryRecord.validation.set(record.validation),
                ],
            )
        else:
            transaction.save(record, condition=live(now_s), return_values="ALL_OLD")
        self.summary = summary

    def committed(self) -> None:
        self.written = True

    def check(self, reason) -> None:
        """Raise :class:`DeliveryFinished` when ``reason`` (the cancellation reason of
        the record's transaction item) says a live record was there."""
        if reason is None or getattr(reason, "code", None) != "ConditionalCheckFailed":
            return
        if reason.raw_item:
            raise DeliveryFinished(DeliveryRecord.from_raw_data(reason.raw_item))
        record = self.read()
        if record is not None:
            raise DeliveryFinished(record)


class DeliveryRaced(Exception):
    """The record that refused our write is gone already: start again."""


def _put_unless(record: DeliveryRecord, condition) -> Exception | None:
    """Put ``record`` under ``condition``; when it fails, the record that refused it, as
    :class:`DeliveryFinished`, from the same call (``ReturnValuesOnConditionCheckFailure``,
    as Powertools' claim asks: PynamoDB's ``save`` cannot), or :class:`DeliveryRaced`
    when it is gone already."""
    from botocore.exceptions import ClientError
    from pynamodb.constants import ITEM

    connection = DeliveryRecord._get_connection().connection
    args, kwargs = record._get_save_args(condition=condition)
    operation = connection.get_operation_kwargs(
        DeliveryRecord.Meta.table_name,
        args[0],
        key=ITEM,
        attributes=kwargs["attributes"],
        condition=kwargs["condition"],
        return_values_on_condition_failure="ALL_OLD",
    )
    try:
        connection.client.put_item(**operation)
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") != "ConditionalCheckFailedException":
            raise
        raw = error.response.get("Item")
        if raw:
            return DeliveryFinished(DeliveryRecord.from_raw_data(raw))
        try:  # a store that does not return it: read it
            return DeliveryFinished(DeliveryRecord.get(record.id, consistent_read=True))
        except DoesNotExist:
            return DeliveryRaced(record.id)
    return None
