"""Who is this event about? member id, then (platform, shop, customer id), then email.

A member is created only where the issue says a stub belongs (an order, a consent or
an interaction before its customer): as a ``prospect`` through
:func:`memberflow.members.service.link_or_create`, which is transactional, so concurrent
deliveries for the same new customer agree on one member. Identities erased earlier
(``customers/redact``) are never recreated by a late or retried delivery.
"""

from __future__ import annotations

from datetime import datetime

from memberflow.config import Programme
from memberflow.members.identity import identity_key
from memberflow.members.service import find_by_email, find_by_identity, get_member, link_or_create
from memberflow.store import Member, identities, member_changes


def erased_identity(platform: str, shop: str | None, customer_id: str | None) -> bool:
    return bool(customer_id) and identities.is_erased_identity(
        identity_key(platform, shop, customer_id)
    )


def find_member(
    *,
    platform: str,
    shop: str | None,
    customer_id: str | None,
    email: str | None,
    member_id: str | None = None,
) -> Member | None:
    if member_id:
        return get_member(member_id)
    if customer_id:
        member = find_by_identity(platform, shop, customer_id)
        if member is not None:
            return member
    return find_by_email(email) if email else None


def member_for(
    *,
    platform: str,
    shop: str | None,
    customer_id: str | None,
    email: str | None,
    member_id: str | None = None,
    programme: Programme,
    now: datetime,
    reason: str,
) -> Member | None:
    """The member behind an event, creating a ``prospect`` stub when none exists yet.

    None when the event names nobody (a guest order without an email), names a member
    id that does not exist, or names an identity that was erased.
    """
    if member_id:
        return get_member(member_id)
    if not customer_id and not email:
        return None
    if customer_id:
        member = find_by_identity(platform, shop, customer_id)
        if member is not None:
            return member
        if erased_identity(platform, shop, customer_id):
            return None
    member, created = link_or_create(
        platform=platform,
        shop=shop,
        customer_id=customer_id,
        email=email,
        programme=programme,
        now=now,
        stage="prospect",
        reason=reason,
    )
    if created:
        # Unless the customer's sign-up landed first. The instance is the item just
        # created: no need to read it again.
        member_changes.mark_stub(member)
    return member
