"""The calendar the tier reviews and points expiry stand on: ``add_months`` remembers its
answers, and ``review_moments_until`` starts near ``now``; both answer as computed anew."""

from __future__ import annotations

import calendar
import json
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from memberflow.config import load_programme
from memberflow.config.programme import Programme, default_document
from memberflow.loyalty._time import add_months
from memberflow.loyalty.tier_reviews import TierState, review_moments_until

NEW_YORK = ZoneInfo("America/New_York")
ZONES = ["Asia/Shanghai", "America/New_York", "Australia/Lord_Howe", "UTC"]
moments = st.datetimes(
    min_value=datetime(2020, 1, 1),
    max_value=datetime(2032, 12, 31),
    timezones=st.sampled_from([UTC, NEW_YORK, ZoneInfo("Asia/Shanghai")]),
)


def anew(moment: datetime, months: int, tz) -> datetime:
    local = moment.astimezone(tz)
    year, month0 = divmod(local.year * 12 + local.month - 1 + months, 12)
    day = min(local.day, calendar.monthrange(year, month0 + 1)[1])
    return local.replace(year=year, month=month0 + 1, day=day, fold=0).astimezone(UTC)


def test_add_months_tells_apart_the_two_passes_of_a_repeated_hour():
    # 1 November 2026, 01:30 in New York happens twice (EDT, then EST): one zone's two
    # datetimes compare equal on the wall clock, yet are an hour apart.
    first = datetime(2026, 11, 1, 1, 30, tzinfo=NEW_YORK)
    second = first.replace(fold=1)
    assert first == second
    assert add_months(first, 1) == datetime(2026, 12, 1, 5, 30, tzinfo=UTC)
    assert add_months(second, 1) == datetime(2026, 12, 1, 6, 30, tzinfo=UTC)


@settings(max_examples=300, deadline=None)
@given(moment=moments, months=st.integers(-24, 24), zone=st.sampled_from(ZONES))
def test_add_months_answers_as_computed_anew(moment, months, zone):
    tz = ZoneInfo(zone)
    for _ in range(2):  # asked again: remembered
        assert add_months(moment, months, tz) == anew(moment, months, tz)


@settings(max_examples=300, deadline=None)
@given(
    anchor=moments,
    ahead=st.integers(-40 * 86400, 2000 * 86400),
    every=st.sampled_from([1, 2, 3, 6, 12]),
    zone=st.sampled_from(ZONES),
)
def test_the_last_tier_review_is_the_calendars_last_one_by_now(anchor, ahead, every, zone):
    doc = default_document()
    doc["programme"]["timezone"] = zone
    doc["tiers"]["review_every_months"] = every
    programme = load_programme(json.dumps(doc))
    now = anchor + timedelta(seconds=ahead)
    reviews = [anew(anchor, every * k, ZoneInfo(zone)) for k in range(1, 2000 // 28 + 2)]
    due = [moment for moment in reviews if moment <= now]
    found = review_moments_until(TierState(tier="base", anchor=anchor), programme, now)
    assert found == (due[-1] if due else None)


def _walked_from_the_start(anchor: datetime, every: int, tz, now: datetime) -> datetime | None:
    # review_moments_until as it was before it started near now (63e2dbd), kept here only
    last, k = None, 1
    while True:
        moment = add_months(anchor, every * k, tz)
        if moment > now:
            return last
        last, k = moment, k + 1


def test_the_last_tier_review_in_every_zone_is_the_one_walked_from_the_start():
    """In every zone, skipped days included (Pacific/Enderbury skipped 31 December 1994,
    Pacific/Apia 30 December 2011): a local wall time in a month before now's is not
    always earlier than now."""
    from zoneinfo import available_timezones

    walls = [(1994, 7, 31, 0, 1), (2011, 6, 30, 12, 0), (2011, 8, 31, 23, 30), (2024, 1, 31, 2, 30)]
    nows = [
        datetime(1994, 12, 31, 11, tzinfo=UTC),
        datetime(1995, 1, 1, 10, 30, tzinfo=UTC),
        datetime(2011, 12, 30, 11, tzinfo=UTC),
        datetime(2011, 12, 31, 10, 30, tzinfo=UTC),
        datetime(2026, 3, 31, 1, 30, tzinfo=UTC),
    ]
    validated = {}
    for every in (1, 3):
        doc = default_document()
        doc["tiers"]["review_every_months"] = every
        validated[every] = load_programme(json.dumps(doc)).doc
    wrong = []
    for zone in sorted(available_timezones()):
        tz = ZoneInfo(zone)
        for every, doc in validated.items():
            # (validated once per cadence: only the zone differs, a name zoneinfo knows)
            programme = Programme({**doc, "programme": {**doc["programme"], "timezone": zone}})
            for wall in walls:
                anchor = datetime(*wall, tzinfo=tz)
                state = TierState(tier="base", anchor=anchor)
                for now in nows:
                    found = review_moments_until(state, programme, now)
                    if found != _walked_from_the_start(anchor, every, tz, now):
                        wrong.append((zone, every, anchor, now, found))
    assert wrong == []


def test_a_whole_month_count_given_as_a_float_is_taken_as_that_integer():
    """JSON Schema's integer admits 12.0: the programme takes it as 12 (an int, which
    the calendar computes with); 12.5 is refused, naming the field."""
    from memberflow.config import ConfigError

    doc = default_document()
    doc["points"]["expiry_months"] = 12.0
    doc["tiers"]["review_every_months"] = 1.0
    doc["stages"]["lapsed"]["days_without_order"] = 180.0
    programme = load_programme(json.dumps(doc))
    for value in (
        programme.points["expiry_months"],
        programme.tiers["review_every_months"],
        programme.stages["lapsed"]["days_without_order"],
    ):
        assert type(value) is int
    assert (programme.points["expiry_months"], programme.tiers["review_every_months"]) == (12, 1)
    assert programme.fingerprint == load_programme(None).fingerprint

    doc["tiers"]["window_months"] = 12.5
    with pytest.raises(ConfigError) as refused:
        load_programme(json.dumps(doc))
    assert refused.value.field == "$.tiers.window_months"


def test_add_months_refuses_a_float_count_whether_or_not_the_integer_was_asked_first():
    moment = datetime(2026, 1, 31, tzinfo=UTC)
    assert add_months(moment, 12) == datetime(2027, 1, 31, tzinfo=UTC)
    for months in (12.0, 13.0):  # 12 is remembered, 13 is not: the same answer
        with pytest.raises(TypeError):
            add_months(moment, months)
