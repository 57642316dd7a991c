"""Member lookups and profile upserts (the logic the webhook and API handlers call)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from memberflow.config import Programme
from memberflow.members.identity import (
    email_hash,
    identity_key,
    new_member_id,
    normalise_email,
    suppression_key,
)
from memberflow.store import ExternalIdentity, Member, directory
from memberflow.store.identities import get_record
from memberflow.store.models import StageChange


def get_member(member_id: str) -> Member | None:
    return directory.member(member_id)


EMAIL_LINK = "email_link"


def email_link_key(hashed_email: str) -> str:
    return f"email#{hashed_email}"


def email_link(member_id: str, hashed_email: str, now: datetime) -> ExternalIdentity:
    """email hash -> member, in the identities table. The by_email index is eventually
    consistent (a member created a moment ago may not show in it yet); this record is
    read by key, consistently. Not an identity (``kind``): erasure leaves it, and a
    stale link is harmless because :func:`find_by_email` checks the member's own hash."""
    return ExternalIdentity(
        identity_key=email_link_key(hashed_email),
        member_id=member_id,
        platform="memberflow",
        kind=EMAIL_LINK,
        created_at=now,
    )


def find_by_email(email: str) -> Member | None:
    hashed = email_hash(email)
    if not hashed:
        return None
    link = get_record(email_link_key(hashed))
    if link is not None:
        member = get_member(link.member_id)
        if member is not None and member.email_hash == hashed:
            return member
    # Members whose email was set before links existed.
    member_id = directory.member_id_by_email_hash(hashed)
    return get_member(member_id) if member_id is not None else None


def find_by_identity(platform: str, shop: str | None, customer_id: str) -> Member | None:
    link = get_record(identity_key(platform, shop, customer_id))
    return get_member(link.member_id) if link is not None else None


def is_suppressed(email: str | None) -> bool:
    hashed = email_hash(email)
    if not hashed:
        return False
    return directory.exists(suppression_key(hashed))


def _identity(
    member_id: str, platform: str, shop: str | None, customer_id: str, now: datetime
) -> ExternalIdentity:
    return ExternalIdentity(
        identity_key=identity_key(platform, shop, customer_id),
        member_id=member_id,
        platform=platform,
        shop=shop,
        customer_id=customer_id,
        created_at=now,
    )


def new_member(
    *,
    programme: Programme,
    now: datetime,
    stage: str,
    reason: str,
    email: str | None = None,
    member_id: str | None = None,
) -> Member:
    normal = normalise_email(email)
    return Member(
        member_id=member_id or new_member_id(),
        email=normal,
        email_hash=email_hash(normal),
        stage=stage,
        stage_changed_at=now,
        stage_reason=reason,
        stage_history=[StageChange(at=now, from_stage=None, to_stage=stage, reason=reason)],
        tier=programme.base_tier,
        created_at=now,
        points_balance=0,
        shop_identities=[],  # none yet: each identity written with it adds its key
    )


def link_or_create(
    *,
    platform: str,
    shop: str | None,
    customer_id: str | None,
    email: str | None,
    programme: Programme,
    now: datetime,
    stage: str,
    reason: str,
) -> tuple[Member, bool]:
    """Find the member behind an external customer, or create it with its identity link.

    Identity first, then email (one person in two shops is one member). The member and
    its identity are written in one transaction, conditional on neither existing, so
    two concurrent deliveries for a new customer create one member.
    """
    if customer_id:
        seed = identity_key(platform, shop, customer_id)
    else:
        seed = f"email#{email_hash(email)}" if email else None
    for attempt in range(3):
        if customer_id:
            member = find_by_identity(platform, shop, customer_id)
            if member is not None:
                return member, False
        member = find_by_email(email) if email else None
        if member is not None:
            if customer_id:
                _link(member.member_id, platform, shop, customer_id, now)
            return member, False
        member = new_member(
            programme=programme,
            now=now,
            stage=stage,
            reason=reason,
            email=email,
            member_id=new_member_id(seed, attempt),
        )
        if customer_id:
            member.shop_identities = [identity_key(platform, shop, customer_id)]
        created = directory.create(
            member,
            email_link=email_link(member.member_id, member.email_hash, now)
            if member.email_hash
            else None,
            identity=_identity(member.member_id, platform, shop, customer_id, now)
            if customer_id
            else None,
        )
        if created:
            return member, True
        # a concurrent delivery created it first: read it back
    raise RuntimeError("could not resolve member identity after 3 attempts")


def _link(member_id: str, platform: str, shop: str | None, customer_id: str, now: datetime) -> None:
    directory.link(member_id, _identity(member_id, platform, shop, customer_id, now))


def change_stage(member: Member, stage: str, reason: str, now: datetime) -> bool:
    """Record a stage change with its time and reason. Returns False when unchanged."""
    if member.stage == stage:
        return False
    member.stage_history = [
        *(member.stage_history or []),
        StageChange(at=now, from_stage=member.stage, to_stage=stage, reason=reason),
    ][-50:]
    member.stage = stage
    member.stage_changed_at = now
    member.stage_reason = reason
    return True


def member_view(member: Member) -> dict[str, Any]:
    """The member as the API returns it."""
    consent = member.consent
    return {
        "member_id": member.member_id,
        "email": member.email,
        "phone": member.phone,
        "first_name": member.first_name,
        "last_name": member.last_name,
        "locale": member.locale,
        "timezone": member.timezone,
        "birthday": member.birthday,  # YYYY-MM-DD or --MM-DD (members.birthdays)
        "stage": member.stage,
        "stage_reason": member.stage_reason,
        "stage_changed_at": _iso(member.stage_changed_at),
        "tier": member.tier,
        "points_balance": int(member.points_balance or 0),
        "lifetime_spend": format(member.lifetime_spend or 0, "f"),
        "order_count": int(member.order_count or 0),
        "last_order_at": _iso(member.last_order_at),
        "joined_at": _iso(member.joined_at),
        "consent": {
            "email": bool(consent and consent.email),
            "sms": bool(consent and consent.sms),
        },
        "rfm": member.rfm,
        "erased": bool(member.erased),
        "created_at": _iso(member.created_at),
    }


def _iso(value: datetime | None) -> str | None:
    from memberflow.clock import iso

    return iso(value) if value else None
