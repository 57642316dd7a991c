"""Apply one verified delivery: each normalised event to the member store, once.

Two layers make a delivery count once:

* the delivery: a receipt in the IdempotencyTable, keyed on the delivery id
  (:func:`apply_once`, :mod:`memberflow.store.receipts`: Powertools Idempotency's
  semantics, its record written inside the delivery's own transaction). A redelivery
  gets the first answer back; a concurrent one waits for it (or, for a single-write
  delivery, loses the transaction and gets the winner's answer); another body under the
  same id is refused. When applying fails the record is dropped, so the platform's retry
  runs the delivery again;
* every event: each apply step is idempotent on its own (orders by order key, points
  by their ledger source, consent and profiles by ``updated_at``, journeys by cohort
  and order id), so that retry finishes the work without applying event 1 twice, and
  points stay exact even after the idempotency records expire.
"""

from __future__ import annotations

import json
import time
from datetime import datetime

from memberflow.ingest.consent import apply_consent_event
from memberflow.ingest.customers import WelcomeStart, apply_customer
from memberflow.ingest.orders import (
    apply_interaction,
    apply_order_cancelled,
    apply_order_paid,
    apply_order_pending,
    apply_refund,
)
from memberflow.ingest.privacy import apply_privacy
from memberflow.runtime import AppContext
from memberflow.store.receipts import COMPLETED, DeliveryFinished, DeliveryRaced, Receipt
from memberflow.webhooks import Delivery
from memberflow.webhooks.events import (
    ConsentChanged,
    CustomerUpserted,
    Interaction,
    OrderCancelled,
    OrderPaid,
    OrderPending,
    OrderRefunded,
    PrivacyRequest,
)

# A concurrent copy of a delivery waits this long for the first copy's answer (Shopify
# gives up after 5 s), then gets a 409 and the platform redelivers later.
WAIT_FOR_IN_PROGRESS_SECONDS = 3.0


class DeliveryInProgress(Exception):
    """The same delivery is being applied by another invocation right now."""


class DeliveryConflict(Exception):
    """The delivery id was used before with another body: one id means one message, so
    the second body is refused (409), never acknowledged and dropped."""


def apply_delivery(
    delivery: Delivery, context: AppContext, now: datetime, receipt: Receipt | None = None
) -> dict:
    """Apply every event of the delivery. Returns a summary with ids only (it is logged
    and returned to the platform).

    A delivery of one event hands its ``receipt`` to that event's last write, which
    records it in the same transaction (one call less per delivery, and for a
    single-write delivery the claim too); a delivery of several events completes its
    receipt on its own afterwards."""
    programme = context.programme
    members: list[str] = []
    skipped = 0
    if receipt is not None and len(delivery.events) == 1:
        receipt.base = {
            "delivery_id": delivery.delivery_id,
            "topic": delivery.topic,
            "events": 1,
        }
    else:
        receipt = None

    def journeys():
        return WelcomeStart(context, receipt)

    for event in delivery.events:
        member_ids: list[str] = []
        if isinstance(event, CustomerUpserted):
            member, _created = apply_customer(
                event, programme=programme, now=now, journeys=journeys, receipt=receipt
            )
            member_ids = [member.member_id] if member is not None else []
        elif isinstance(event, OrderPaid):
            member_ids = _one(
                apply_order_paid(event, programme=programme, now=now, receipt=receipt)
            )
        elif isinstance(event, OrderPending):
            member_ids = _one(apply_order_pending(event, programme=programme, now=now))
        elif isinstance(event, OrderCancelled):
            member_ids = _one(apply_order_cancelled(event, programme=programme, now=now))
        elif isinstance(event, OrderRefunded):
            member_ids = _one(apply_refund(event, programme=programme, now=now, receipt=receipt))
        elif isinstance(event, Interaction):
            member_ids = _one(apply_interaction(event, programme=programme, now=now))
        elif isinstance(event, ConsentChanged):
            member_ids = _one(apply_consent_event(event, programme=programme, now=now))
        elif isinstance(event, PrivacyRequest):
            member_ids = apply_privacy(event, now=now)
        else:  # pragma: no cover - the webhook layer produces only the kinds above
            raise TypeError(type(event).__name__)
        if not member_ids:
            skipped += 1
        members.extend(m for m in member_ids if m not in members)
    return {
        "delivery_id": delivery.delivery_id,
        "topic": delivery.topic,
        "member_ids": members,
        "events": len(delivery.events),
        "skipped": skipped,
    }


def _one(member_id: str | None) -> list[str]:
    return [member_id] if member_id else []


# ------------------------------------------------------------------ once per delivery
def _single_write(delivery: Delivery) -> bool:
    """A delivery whose whole effect is one transaction (a paid order, a refund): its
    receipt goes into that transaction, unclaimed (memberflow.store.receipts)."""
    return len(delivery.events) == 1 and isinstance(delivery.events[0], (OrderPaid, OrderRefunded))


def apply_once(delivery: Delivery, context: AppContext, now: datetime, lambda_context=None) -> dict:
    """Apply a delivery at most once per ``delivery_id`` (see the module's docstring).

    Raises :class:`DeliveryInProgress` when a concurrent copy is still being applied
    after :data:`WAIT_FOR_IN_PROGRESS_SECONDS`, :class:`DeliveryConflict` when the
    delivery id was applied (or is being applied) with another body.
    """
    if not context.settings.tables.get("IDEMPOTENCY_TABLE"):
        return apply_delivery(delivery, context, now)
    remaining = lambda_context.get_remaining_time_in_millis() if lambda_context else None
    deadline = time.monotonic() + WAIT_FOR_IN_PROGRESS_SECONDS
    pause = 0.02
    while True:
        receipt = Receipt(delivery.delivery_id, delivery.body_sha256, remaining)
        try:
            if not _single_write(delivery):
                receipt.claim()
            try:
                summary = apply_delivery(delivery, context, now, receipt=receipt)
                if not receipt.written:
                    receipt.complete(summary)
                return summary
            except (DeliveryFinished, DeliveryRaced):
                raise
            except Exception:
                receipt.release()  # the platform's retry applies it again
                raise
        except DeliveryRaced:
            continue
        except DeliveryFinished as finished:
            record = finished.record
            if record.validation != delivery.body_sha256:
                raise DeliveryConflict(delivery.delivery_id) from None
            if record.status == COMPLETED and record.data:
                return json.loads(record.data)
            if time.monotonic() + pause > deadline:
                raise DeliveryInProgress(delivery.delivery_id) from None
            time.sleep(pause)
            pause = min(pause * 2, 0.25)
