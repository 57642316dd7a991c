"""Apply one verified delivery: each normalised event to the member store, once.

Two layers make a delivery count once:

* the delivery: Powertools Idempotency on the IdempotencyTable, keyed on the
  delivery id (:func:`apply_once`). A redelivery gets the first answer back; a
  concurrent one waits for it. When applying fails, Powertools deletes the in-progress
  record, so the platform's retry runs the delivery again;
* every event: each apply step is idempotent on its own (orders by order key, points
  by their ledger source, consent and profiles by ``updated_at``, journeys by cohort
  and order id), so that retry finishes the work without applying event 1 twice, and
  points stay exact even after the idempotency records expire.
"""

from __future__ import annotations

import time
from datetime import datetime
from typing import Any

from memberflow.ingest.consent import apply_consent_event
from memberflow.ingest.customers import apply_customer
from memberflow.ingest.orders import (
    apply_interaction,
    apply_order_cancelled,
    apply_order_paid,
    apply_order_pending,
    apply_refund,
)
from memberflow.ingest.privacy import apply_privacy
from memberflow.runtime import AppContext
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

# Shopify retries for 4 hours, WooCommerce's queue for about a day: keep a week.
IDEMPOTENCY_SECONDS = 7 * 24 * 3600
# A concurrent copy of a delivery waits this long for the first copy's answer (Shopify
# gives up after 5 s), then gets a 409 and the platform redelivers later.
WAIT_FOR_IN_PROGRESS_SECONDS = 3.0


class DeliveryInProgress(Exception):
    """The same delivery is being applied by another invocation right now."""


class DeliveryConflict(Exception):
    """The delivery id was used before with another body: one id means one message, so
    the second body is refused (409), never acknowledged and dropped."""


def apply_delivery(delivery: Delivery, context: AppContext, now: datetime) -> dict:
    """Apply every event of the delivery. Returns a summary with ids only (it is logged
    and returned to the platform)."""
    programme = context.programme
    members: list[str] = []
    skipped = 0

    def journeys():
        from memberflow.journeys.entry import JourneyEntry

        return JourneyEntry(context)

    for event in delivery.events:
        member_ids: list[str] = []
        if isinstance(event, CustomerUpserted):
            member, _created = apply_customer(
                event, programme=programme, now=now, journeys=journeys
            )
            member_ids = [member.member_id] if member is not None else []
        elif isinstance(event, OrderPaid):
            member_ids = _one(apply_order_paid(event, programme=programme, now=now))
        elif isinstance(event, OrderPending):
            member_ids = _one(apply_order_pending(event, programme=programme, now=now))
        elif isinstance(event, OrderCancelled):
            member_ids = _one(apply_order_cancelled(event, programme=programme, now=now))
        elif isinstance(event, OrderRefunded):
            member_ids = _one(apply_refund(event, programme=programme, now=now))
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
_runner: tuple[Any, Any, Any] | None = None  # (context, idempotent function, config)


def _idempotent(context: AppContext):
    """Built at the first delivery (never at import): the table's name is a setting."""
    global _runner
    if _runner is not None and _runner[0] is context:
        return _runner[1], _runner[2]
    table = context.settings.tables.get("IDEMPOTENCY_TABLE")
    if not table:
        _runner = (context, None, None)
        return None, None
    from aws_lambda_powertools.utilities.idempotency import (
        DynamoDBPersistenceLayer,
        IdempotencyConfig,
        idempotent_function,
    )

    persistence = DynamoDBPersistenceLayer(table_name=table)
    # the key is the delivery id (hashed as before); the record also keeps the body's
    # hash, and Powertools refuses (IdempotencyValidationError) a copy with another body
    config = IdempotencyConfig(
        event_key_jmespath="delivery_id",
        payload_validation_jmespath="body_sha256",
        expires_after_seconds=IDEMPOTENCY_SECONDS,
    )

    @idempotent_function(
        data_keyword_argument="message", persistence_store=persistence, config=config
    )
    def apply(*, message: dict, delivery: Delivery, context: AppContext, now: datetime):
        return apply_delivery(delivery, context, now)

    _runner = (context, apply, config)
    return apply, config


def apply_once(delivery: Delivery, context: AppContext, now: datetime, lambda_context=None) -> dict:
    """Apply a delivery at most once per ``delivery_id`` (see the module's docstring).

    Raises :class:`DeliveryInProgress` when a concurrent copy is still being applied
    after :data:`WAIT_FOR_IN_PROGRESS_SECONDS`, :class:`DeliveryConflict` when the
    delivery id was applied (or is being applied) with another body.
    """
    apply, config = _idempotent(context)
    if apply is None:
        return apply_delivery(delivery, context, now)
    from aws_lambda_powertools.utilities.idempotency.exceptions import (
        IdempotencyAlreadyInProgressError,
        IdempotencyValidationError,
    )

    if lambda_context is not None:
        # an in-progress record expires with the invocation that wrote it (a timeout)
        config.register_lambda_context(lambda_context)
    deadline = time.monotonic() + WAIT_FOR_IN_PROGRESS_SECONDS
    pause = 0.02
    while True:
        message = {"delivery_id": delivery.delivery_id, "body_sha256": delivery.body_sha256}
        try:
            return apply(message=message, delivery=delivery, context=context, now=now)
        except IdempotencyValidationError:
            raise DeliveryConflict(delivery.delivery_id) from None
        except IdempotencyAlreadyInProgressError:
            if time.monotonic() + pause > deadline:
                raise DeliveryInProgress(delivery.delivery_id) from None
            time.sleep(pause)
            pause = min(pause * 2, 0.25)
