"""The member changes made outside the loyalty engine's transactions, as PynamoDB
actions written through the member's one write path
(:func:`memberflow.store.members.update_member`: under its version, re-read and
recomputed on a conflict). The decisions (which channel, whether an address is
suppressed, which attributes are personal) are the callers'."""

from __future__ import annotations

from datetime import datetime

from memberflow.store.members import update_member
from memberflow.store.models import Consent, Member


def record_consent(member: Member, channel: str, granted: bool, updated_at: datetime) -> bool:
    """Store consent for ``channel`` unless a newer decision is stored (at equal times a
    withdrawal wins). ``member`` is a consistent read (a stale one only costs a retry).
    True when the stored consent changed."""
    value_attr = getattr(Member.consent, channel)
    stamp_attr = getattr(Member.consent, f"{channel}_updated_at")
    newer = stamp_attr.does_not_exist() | (stamp_attr < updated_at)
    if not granted:
        newer = newer | (stamp_attr == updated_at)

    def record(current: Member) -> list:
        if current.consent is None:  # a member without the map yet: create it with the decision
            return [
                Member.consent.set(
                    Consent(**{channel: granted, f"{channel}_updated_at": updated_at})
                )
            ]
        return [value_attr.set(granted), stamp_attr.set(updated_at)]

    return update_member(member, record, condition=newer, read=False)


def erase(member: Member, attributes: tuple[str, ...], now: datetime) -> None:
    """Remove ``attributes`` from the member, mark it erased and withdraw its consent.
    The same actions whatever the member is now; the unit of work orders the erasure
    against a concurrent order or consent change instead of writing blind (a stale read
    only costs a retry: the actions do not depend on it)."""
    actions = [getattr(Member, name).remove() for name in attributes]
    actions += [
        Member.erased.set(True),
        Member.consent.email.set(False),
        Member.consent.sms.set(False),
        Member.consent.email_updated_at.set(now),
        Member.consent.sms_updated_at.set(now),
    ]
    update_member(member, lambda current: actions, read=False)


def mark_stub(member: Member) -> None:
    """Mark a member created by an order before its customer as a stub, unless the
    customer's sign-up landed first. ``member`` is the item just created."""
    update_member(
        member,
        lambda current: None if current.joined_at else [Member.is_stub.set(True)],
        condition=Member.joined_at.does_not_exist(),
        read=False,
    )


def forget_identity(member_id: str, identity_key: str) -> None:
    """Drop a deleted link's key from the member's list of them (a coupon step's
    lookup, memberflow.journeys.incentives)."""

    def change(member: Member):
        if not member.shop_identities or identity_key not in member.shop_identities:
            return None
        return [
            Member.shop_identities.set([k for k in member.shop_identities if k != identity_key])
        ]

    update_member(Member(member_id=member_id), change)
