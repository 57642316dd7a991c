"""The birthday greeting lands inside the member's local birthday, in every zone: the
sweep's two daily runs (02:00 and 14:00 UTC, from template.yaml's schedules, on the local
stack's virtual clock) hand each member off early in their local day, and the message
goes out in that day's send window; nobody is greeted the day before."""

from __future__ import annotations

from datetime import date
from zoneinfo import ZoneInfo

from memberflow.runtime import app_context
from tests.integration.test_birthday_journey import JOURNEY, _with_birthday
from tests.integration.test_journeys_support import arm_ids, messages

ZONES = (
    "Asia/Shanghai",
    "Europe/London",
    "America/New_York",
    "America/Chicago",
    "Pacific/Honolulu",
)


def test_each_zone_is_greeted_within_its_local_birthday_never_the_day_before(stack):
    programme = app_context().programme
    ids = arm_ids(JOURNEY, "treatment", len(ZONES), "bz-", programme)
    # the stack's clock: 08:00 UTC on 5 January 2026; the birthdays are on the 7th
    for member_id, zone in zip(ids, ZONES, strict=True):
        _with_birthday(stack, member_id, "1991-01-07", zone)

    stack.advance(days=1)  # to 08:00 UTC on the 6th: the day before, everywhere
    stack.clock.wait_idle()
    assert [m for m in messages() if m.journey == JOURNEY] == []

    stack.advance(days=2)  # to 08:00 UTC on the 8th: past the 7th everywhere
    stack.clock.wait_idle()
    greeted = {}
    for message in messages():
        if message.journey == JOURNEY and message.channel == "email":
            greeted.setdefault(message.member_id, []).append(message.sent_at)
    assert sorted(greeted) == sorted(ids)
    for member_id, zone in zip(ids, ZONES, strict=True):
        (sent_at,) = greeted[member_id]
        local = sent_at.astimezone(ZoneInfo(zone))
        assert local.date() == date(2026, 1, 7), (zone, local)
        assert 9 <= local.hour < 21, (zone, local)  # inside the day's send window
