"""Customers: sign-ups and profile updates."""

from __future__ import annotations

from datetime import datetime

from memberflow.config import Programme
from memberflow.ingest.resolve import erased_identity
from memberflow.loyalty import points
from memberflow.loyalty import service as loyalty
from memberflow.members.identity import email_hash, normalise_email
from memberflow.members.service import change_stage, email_link, link_or_create
from memberflow.store import Member
from memberflow.store.ledger import post_movement
from memberflow.store.members import update_member
from memberflow.webhooks.events import CustomerUpserted

PROFILE_FIELDS = ("phone", "first_name", "last_name", "locale", "timezone")


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
            programme=programme,
        )


def _update_profile(member: Member, event: CustomerUpserted) -> None:
    """Newer profile wins: conditional on the stored source ``updated_at``, so a
    concurrent or older delivery can neither overwrite it nor be half-applied."""
    email = normalise_email(event.email)
    linked: list[str] = []

    def profile(current: Member) -> list:
        linked.clear()
        actions = [Member.source_updated_at.set(event.updated_at)]
        if email and email != current.email:
            actions += [Member.email.set(email), Member.email_hash.set(email_hash(email))]
            linked.append(email)
        for name in PROFILE_FIELDS:
            value = getattr(event, name)
            if value and value != getattr(current, name):
                actions.append(getattr(Member, name).set(value))
        return actions

    newer = Member.source_updated_at.does_not_exist() | (
        Member.source_updated_at <= event.updated_at
    )
    # The member comes from link_or_create's consistent read.
    if not update_member(member, profile, condition=newer, read=False):
        return
    if linked:  # find_by_email's consistent lookup (the by_email index lags)
        email_link(member.member_id, email_hash(linked[0]), now=event.updated_at).save()


def _join(member: Member, event: CustomerUpserted, now: datetime) -> None:
    """Mark the sign-up once (a stub becomes a member: prospect -> new, or active when
    it has bought already)."""

    def join(current: Member) -> list | None:
        if current.joined_at is not None:
            return None
        stage = current.stage
        probe = Member(
            member_id=current.member_id, stage=stage, stage_history=current.stage_history
        )
        if stage == "prospect":
            change_stage(probe, "active" if current.order_count else "new", "signup", now)
        actions = [Member.joined_at.set(event.created_at or now), Member.is_stub.set(False)]
        if probe.stage != stage:
            actions += [
                Member.stage.set(probe.stage),
                Member.stage_changed_at.set(probe.stage_changed_at),
                Member.stage_reason.set(probe.stage_reason),
                Member.stage_history.set(probe.stage_history),
            ]
        return actions

    update_member(member, join, condition=Member.joined_at.does_not_exist(), read=False)


def apply_customer(
    event: CustomerUpserted, *, programme: Programme, now: datetime, journeys
) -> tuple[Member | None, bool]:
    """Create or update the member behind a platform customer.

    A newer profile never loses to an older delivery (``updated_at`` guard). A sign-up
    earns the join bonuses (ledger, exactly once) and enters the welcome journey
    (idempotent on its cohort id). The join bonus and the welcome come before the
    member is marked joined, so a delivery that fails half-way is finished by its retry.
    ``journeys`` is a callable returning a :class:`memberflow.journeys.entry.JourneyEntry`
    (built only when a welcome starts). Returns ``(None, False)`` for an erased identity.
    """
    if erased_identity(event.platform, event.shop, event.customer_id):
        return None, False
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
    if member.erased:
        return None, False
    _update_profile(member, event)
    if member.joined_at is None:
        _grant_bonus(member, "join", programme, now)
        journeys().start_welcome(member.member_id)
        _join(member, event, now)
    if member.phone:
        _grant_bonus(member, "phone_bound", programme, now)
    if event.profile_completed:
        _grant_bonus(member, "profile_completed", programme, now)
    # The review date (activation hand-off, points expiry) once the sign-up is recorded.
    loyalty.refresh_review(member.member_id, programme=programme, now=now)
    return member, created
