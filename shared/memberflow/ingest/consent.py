"""Consent changes from platforms: per channel, the newer ``updated_at`` wins."""

from __future__ import annotations

from datetime import datetime

from memberflow.config import Programme
from memberflow.ingest.resolve import member_for
from memberflow.members.consent import set_consent
from memberflow.webhooks.events import ConsentChanged


def apply_consent_event(
    event: ConsentChanged, *, programme: Programme, now: datetime
) -> str | None:
    member = member_for(
        platform=event.platform,
        shop=event.shop,
        customer_id=event.customer_id,
        email=event.email,
        member_id=event.member_id,
        programme=programme,
        now=now,
        reason="consent",
    )
    if member is None or member.erased:
        return None
    changed = set_consent(
        member, event.channel, event.granted, event.updated_at, honour_suppression=True
    )
    if changed and not event.granted:
        from memberflow.journeys import attribution

        attribution.on_consent_withdrawn(member.member_id, event.channel, now=now)
    return member.member_id
