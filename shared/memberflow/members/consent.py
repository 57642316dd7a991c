"""Marketing consent per channel: the newer ``updated_at`` wins, whatever the order of arrival."""

from __future__ import annotations

from datetime import datetime

from memberflow.members.service import is_suppressed
from memberflow.store import Member, member_changes

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
    # The caller's member is a consistent read (a stale one only costs a retry).
    return member_changes.record_consent(member, channel, granted, updated_at)
