"""The birthday: its forms and checks, and the date rule that hands a member to a
birthday journey on the yearly return of the day, in the member's time zone."""

from __future__ import annotations

import copy
from datetime import UTC, date, datetime

import pytest

from memberflow.config.programme import ConfigError, default_document, validate_document
from memberflow.loyalty import handoffs
from memberflow.members import birthdays
from memberflow.store import Member

NOW = datetime(2026, 1, 5, 8, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("given", "stored"),
    [
        ("1990-05-17", "1990-05-17"),
        ("--05-17", "--05-17"),
        ("05-17", "--05-17"),
        (" 2000-02-29 ", "2000-02-29"),
        ("--02-29", "--02-29"),  # without a year, 29 February is a birthday
    ],
)
def test_a_birthday_is_a_date_or_a_month_day(given, stored):
    assert birthdays.parse(given, today=date(2026, 1, 5)) == stored


@pytest.mark.parametrize(
    ("given", "reason"),
    [
        ("1990-02-30", "is not a day of the calendar"),
        ("1991-02-29", "is not a day of the calendar"),  # not a leap year
        ("--13-01", "is not a day of the calendar"),
        ("1899-12-31", "must be in 1900 or later"),
        ("2026-01-06", "is in the future"),
        ("17/05/1990", "must be a date YYYY-MM-DD or a month-day --MM-DD"),
        ("1990-5-17", "must be a date YYYY-MM-DD or a month-day --MM-DD"),
        (19900517, "must be a date YYYY-MM-DD or a month-day --MM-DD"),
    ],
)
def test_what_is_not_a_birthday_is_refused_with_the_reason(given, reason):
    with pytest.raises(birthdays.InvalidBirthday) as refused:
        birthdays.parse(given, today=date(2026, 1, 5))
    assert refused.value.reason == reason
    assert str(given) not in refused.value.reason  # personal data is never echoed


def _programme(days_before: int = 0):
    doc = default_document()
    doc["journeys"]["bday"] = {
        **copy.deepcopy(doc["journeys"]["tier_up_welcome"]),
        "entry": {"trigger": "date", "attribute": "birthday", "days_before": days_before},
    }
    return validate_document(doc)


def _due(member: Member, programme, now=NOW):
    state = handoffs.HandoffState.of(member, programme)  # what the sweep builds from the item
    return handoffs.date_due(state, programme, now).get("bday")


def test_the_schema_admits_birthday_as_a_date_attribute_and_nothing_unknown():
    _programme()
    doc = default_document()
    doc["journeys"]["bday"] = {
        **copy.deepcopy(doc["journeys"]["tier_up_welcome"]),
        "entry": {"trigger": "date", "attribute": "name_day"},
    }
    with pytest.raises(ConfigError) as refused:
        validate_document(doc)
    assert refused.value.field == "$.journeys.bday.entry.attribute"


def test_a_member_without_a_birthday_is_never_due():
    m = Member(member_id="m", timezone="Asia/Shanghai")
    m.joined_at = datetime(2025, 1, 6, 3, 0, tzinfo=UTC)  # an anniversary is not a birthday
    assert _due(m, _programme()) is None


def test_the_birthday_falls_due_at_the_start_of_the_day_in_the_members_zone():
    programme = _programme()
    m = Member(member_id="m", birthday="1990-01-06")
    # east of UTC: midnight of 6 January in Shanghai is 16:00 UTC on the 5th
    m.timezone = "Asia/Shanghai"
    assert _due(m, programme) == datetime(2026, 1, 5, 16, 0, tzinfo=UTC)
    # west of UTC: midnight of 6 January in Los Angeles is 08:00 UTC on the 6th
    m.timezone = "America/Los_Angeles"
    assert _due(m, programme) == datetime(2026, 1, 6, 8, 0, tzinfo=UTC)
    # no zone of its own: the programme's (Asia/Shanghai)
    m.timezone = None
    assert _due(m, programme) == datetime(2026, 1, 5, 16, 0, tzinfo=UTC)
    # a month-day without a year is the same day every year
    m.birthday = "--01-06"
    assert _due(m, programme) == datetime(2026, 1, 5, 16, 0, tzinfo=UTC)
    # handed off this year (the sweep's UTC day): next year's
    m.handoffs = ["bday#2026-01-05"]
    assert _due(m, programme) == datetime(2027, 1, 5, 16, 0, tzinfo=UTC)


def test_days_before_moves_the_hand_off_earlier_and_a_past_birthday_waits_a_year():
    m = Member(member_id="m", birthday="1990-01-20", timezone="Europe/Paris")
    assert _due(m, _programme(days_before=3)) == datetime(2026, 1, 16, 23, 0, tzinfo=UTC)
    m.birthday = "1990-01-02"  # three days ago there: within the sweep's look-back
    assert _due(m, _programme()) == datetime(2026, 1, 1, 23, 0, tzinfo=UTC)
    m.birthday = "1990-12-01"  # long past this year: next year's (in 2026, from January)
    assert _due(m, _programme()) == datetime(2026, 11, 30, 23, 0, tzinfo=UTC)
    m.birthday = "1990-12-20"
    assert _due(m, _programme(days_before=30)) == datetime(2026, 11, 19, 23, 0, tzinfo=UTC)


def test_29_february_returns_on_28_february_in_other_years():
    m = Member(member_id="m", birthday="2000-02-29", timezone="UTC")
    assert _due(m, _programme()) == datetime(2026, 2, 28, tzinfo=UTC)
    m.birthday = "--02-29"
    assert _due(m, _programme(), datetime(2027, 6, 1, tzinfo=UTC)) == datetime(
        2028, 2, 29, tzinfo=UTC
    )
    assert _due(m, _programme(days_before=1)) == datetime(2026, 2, 27, tzinfo=UTC)


def _over(member: Member, programme, now=NOW):
    state = handoffs.HandoffState.of(member, programme)
    return {j: at for j, at in handoffs.dates_over(state, programme, now).items() if j == "bday"}


def test_only_a_birthday_whose_local_day_is_over_is_recorded_rather_than_greeted_late():
    # 08:00 UTC on 5 January: 09:00 in Paris, 16:00 in Shanghai, 22:00 on the 4th in Honolulu
    m = Member(member_id="m", birthday="1990-01-04", timezone="Europe/Paris")
    assert _over(m, _programme()) == {"bday": datetime(2026, 1, 3, 23, 0, tzinfo=UTC)}
    m.birthday = "1990-01-05"  # today there: still greeted
    assert _over(m, _programme()) == {}
    m.timezone = "Pacific/Honolulu"
    m.birthday = "1990-01-04"  # still the 4th there
    assert _over(m, _programme()) == {}
    # a reminder 3 days before a birthday still ahead is due, not over
    m.timezone, m.birthday = "Europe/Paris", "1990-01-06"
    assert _over(m, _programme(days_before=3)) == {}
    m.birthday = "1990-01-04"  # the birthday itself is over: its reminder too
    assert _over(m, _programme(days_before=3)) == {
        "bday": datetime(2025, 12, 31, 23, 0, tzinfo=UTC)
    }
