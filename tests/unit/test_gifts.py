"""A points gift's plan, on member state alone (no store): what the claim writes, and
what its release writes back."""

from __future__ import annotations

from datetime import UTC, datetime

from memberflow.config import load_programme
from memberflow.journeys import gifts
from memberflow.members.service import new_member
from memberflow.store.models import PointsLot

NOW = datetime(2026, 1, 6, 2, 0, tzinfo=UTC)


def _member(programme, balance: int, lots: list[PointsLot]):
    member = new_member(
        programme=programme, now=NOW, stage="active", reason="test", email=None, member_id="m"
    )
    member.points_balance, member.points_debt, member.points_lots = balance, 0, lots
    return member


def test_the_gift_credits_a_lot_expiring_by_the_programmes_rules_and_is_taken_back_whole():
    programme = load_programme()  # points expire after 12 months
    march = PointsLot("2026-03-01", datetime(2026, 3, 1, tzinfo=UTC), 50)
    member = _member(programme, 50, [march])
    gift = gifts.plan(
        member,
        200,
        journey="birthday",
        cohort_id="birthday-2026-01-06",
        step_id="gift",
        now=NOW,
        programme=programme,
    )
    entry = gift.entry
    assert (entry.entry_key, entry.kind, entry.points) == (
        "gift#birthday#birthday-2026-01-06#gift",
        "gift",
        200,
    )
    assert entry.expires_at == datetime(2027, 1, 6, 2, 0, tzinfo=UTC)
    assert gift.fields["points_balance"] == 250
    assert [(lot.lot_id, lot.remaining) for lot in gift.fields["points_lots"]] == [
        ("2026-03-01", 50),
        ("2027-01-06", 200),
    ]
    assert member.points_balance == 50 and len(member.points_lots) == 1  # as read
    assert "version" not in gift.fields  # the claim moves it, under its condition

    # taken back from the member as it is then: 150 of the gift spent meanwhile (as a
    # reversal: its own lot first, then the oldest, the rest a debt)
    after = _member(programme, 100, [march, PointsLot("2027-01-06", entry.expires_at, 50)])
    back = gift.taken_back(after)
    assert back["points_balance"] == -100 and back["points_debt"] == 100
    assert [(lot.lot_id, lot.remaining) for lot in back["points_lots"]] == []
