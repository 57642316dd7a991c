"""Marketing consent per channel: the newer ``updated_at`` wins, whatever the order of arrival."""

from __future__ import annotations

from datetime import datetime

from memberflow.members.service import is_suppressed
from memberflow.store import Member
from memberflow.store.members import update_member
from memberflow.store.models import Consent

CHANNELS = ("email", "sms")


def set_consent(
    member: Member, channel: str, granted: bool, updated_at: datetime, *, honour_suppression: bool
) -> bool:
    """Record consent for ``channel`` unless a newer decision is already recorded.

    Conditional on the stored time, so concurrent or reordered deliveries converge on the
    newest decision; at equal times a withdrawal wins. An email grant for an address on
    the suppression list (erased earlier) is refused when ``honour_suppression``: the
    opt-out survives a platform re-sync. Returns True when the stored consent changed.
    """
    if channel not in CHANNELS:
        raise ValueError(f"unknown channel {channel!r}")
    if granted and channel == "email" and honour_suppression and is_suppressed(member.email):
        granted = False
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

    # The caller's member is a consistent read (a stale one only costs a retry).
    return update_member(member, record, condition=newer, read=False)
