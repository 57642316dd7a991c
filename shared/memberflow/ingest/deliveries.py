"""Apply one verified delivery: each normalised event to the member store, once."""

from __future__ import annotations

from datetime import datetime

from memberflow.ingest.customers import apply_customer
from memberflow.journeys.entry import JourneyEntry
from memberflow.runtime import AppContext
from memberflow.webhooks import Delivery
from memberflow.webhooks.events import CustomerUpserted


def apply_delivery(delivery: Delivery, context: AppContext, now: datetime) -> dict:
    """Returns a summary with ids only (it is logged and returned to the platform)."""
    journeys = JourneyEntry(context)
    members: list[str] = []
    for event in delivery.events:
        if isinstance(event, CustomerUpserted):
            member, _created = apply_customer(
                event, programme=context.programme, now=now, journeys=journeys
            )
            members.append(member.member_id)
        else:
            raise NotImplementedError(type(event).__name__)
    return {"delivery_id": delivery.delivery_id, "topic": delivery.topic, "member_ids": members}
