"""Customers: sign-ups and profile updates."""

from __future__ import annotations

from datetime import datetime

from memberflow.config import Programme
from memberflow.journeys.entry import JourneyEntry
from memberflow.loyalty import points
from memberflow.members.identity import email_hash, normalise_email
from memberflow.members.service import change_stage, link_or_create
from memberflow.store import Member
from memberflow.store.ledger import post_movement
from memberflow.webhooks.events import CustomerUpserted


def _grant_bonus(member: Member, kind: str, programme: Programme, now: datetime) -> None:
    amount = points.bonus_points(kind, programme)
    if amount > 0:
        post_movement(
            member,
            kind="bonus",
            source=kind,
            points=amount,
            now=now,
            expires_at=points.expires_at(now, programme),
        )


def apply_customer(
    event: CustomerUpserted, *, programme: Programme, now: datetime, journeys: JourneyEntry
) -> tuple[Member, bool]:
    """Create or update the member behind a platform customer.

    A newer profile never loses to an older delivery (``updated_at`` guard). A sign-up
    earns the join bonuses (ledger, exactly once) and enters the welcome journey.
    """
    member, created = link_or_create(
        platform=event.platform,
        shop=event.shop,
        customer_id=event.customer_id,
        email=event.email,
        programme=programme,
        now=now,
        stage="new",
        reason="signup",
    )
    joined = created or member.joined_at is None
    if member.source_updated_at is None or event.updated_at >= member.source_updated_at:
        if event.email and normalise_email(event.email) != member.email:
            member.email = normalise_email(event.email)
            member.email_hash = email_hash(event.email)
        for field in ("phone", "first_name", "last_name", "locale", "timezone"):
            value = getattr(event, field)
            if value:
                setattr(member, field, value)
        member.source_updated_at = event.updated_at
    if joined:
        member.joined_at = event.created_at or now
        member.is_stub = False
        if member.stage == "prospect":
            change_stage(member, "active" if member.order_count else "new", "signup", now)
    member.save()
    if joined:
        _grant_bonus(member, "join", programme, now)
    if member.phone:
        _grant_bonus(member, "phone_bound", programme, now)
    if event.profile_completed:
        _grant_bonus(member, "profile_completed", programme, now)
    if joined:
        journeys.start_welcome(member.member_id)
    return member, created
