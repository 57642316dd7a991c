"""Pure rules of the journey engine: experiment split, send window, API input."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from memberflow.journeys.decisions import MemberState
from memberflow.journeys.engine import seconds_until_window
from memberflow.journeys.entry import EntryError, parse_api_request
from memberflow.journeys.experiments import assign_arm, assign_variant

NOW = datetime(2026, 1, 5, 8, 0, tzinfo=UTC)


def test_holdout_is_deterministic_and_close_to_its_share():
    ids = [f"m{i}" for i in range(20_000)]
    arms = [assign_arm(m, "winback", "v1", 10) for m in ids]
    assert arms == [assign_arm(m, "winback", "v1", 10) for m in ids]  # stable
    assert 0.09 < arms.count("control") / len(ids) < 0.11
    other_key = [assign_arm(m, "winback", "v2", 10) for m in ids]
    assert other_key != arms  # a new experiment key re-draws
    variants = [assign_variant(m, "winback", "v1", 2) for m in ids]
    assert 0.48 < variants.count(0) / len(ids) < 0.52


@pytest.mark.parametrize(
    ("zone", "expected"),
    [("Asia/Shanghai", 0), ("America/Los_Angeles", 9 * 3600), ("Europe/London", 3600)],
)
def test_send_window_in_the_members_zone(zone, expected):
    pinned = {"messaging": {"send_window": {"start": "09:00", "end": "21:00"}}, "timezone": "UTC"}
    member = MemberState(member_id="m", timezone=zone)
    assert seconds_until_window(member, pinned, NOW) == expected


def test_api_input_errors_name_the_field():
    with pytest.raises(EntryError) as error:
        parse_api_request("nope", {"member_ids": ["a"]})
    assert (error.value.status, error.value.field) == (404, "path:journey")
    with pytest.raises(EntryError) as error:
        parse_api_request("winback", {"member_ids": "a"})
    assert (error.value.status, error.value.field) == (400, "member_ids")


def test_api_cohort_is_named_by_the_clients_key_or_the_requests_content_never_the_clock():
    request = parse_api_request("winback", {"member_ids": ["a", "b"]})
    assert request.cohort_id.startswith("api-winback-c") and "2026" not in request.cohort_id
    same = parse_api_request("winback", {"member_ids": ["b", "a", "b"]})
    assert (same.cohort_id, same.digest) == (request.cohort_id, request.digest)
    assert same.member_ids == ["b", "a"]
    assert parse_api_request("winback", {"member_ids": ["a"]}).cohort_id != request.cohort_id
    assert parse_api_request("activation", {"member_ids": ["a", "b"]}).digest != request.digest
    keyed = parse_api_request("winback", {"member_ids": ["a"]}, "crm-7")
    assert keyed.cohort_id == "api-winback-crm-7"
    body_key = parse_api_request("winback", {"member_ids": ["a"], "cohort_key": "crm-7"})
    assert body_key.cohort_id == keyed.cohort_id and body_key.digest == keyed.digest


# ------------------------------------------------------------ decisions on plain member state
def _pinned(purpose="marketing", goal="purchase"):
    return {
        "config": {"purpose": purpose, "goal": goal},
        "messaging": {"send_window": {"start": "09:00", "end": "21:00"}},
        "timezone": "Asia/Shanghai",
    }


def test_the_step_decision_reads_member_state_only():
    from dataclasses import replace

    from memberflow.journeys.decisions import EnrolmentState, step_decision

    step = {"id": "offer", "channel": "email"}
    entered = datetime(2026, 1, 1, tzinfo=UTC)

    def member(**changes):
        m = MemberState(
            member_id="m", stage="lapsed", timezone="Asia/Shanghai", consent=frozenset({"email"})
        )
        return replace(m, **changes)

    def enrolment(arm="treatment", reached=()):
        return EnrolmentState(arm=arm, entered_at=entered, steps_reached=tuple(reached))

    pinned = _pinned()
    assert step_decision(pinned, step, enrolment(), member(), NOW) == ("send",)
    assert step_decision(pinned, step, enrolment(reached=["offer"]), member(), NOW) == ("skip",)
    assert step_decision(pinned, step, enrolment(), None, NOW)[:3] == ("close", "exited", "erased")
    bought = step_decision(pinned, step, enrolment(), member(last_order_at=NOW), NOW)
    assert bought[:3] == ("close", "converted", "goal_met") and bought[3]["converted_at"] == NOW
    churned = step_decision(pinned, step, enrolment(), member(stage="churned"), NOW)
    assert churned[:3] == ("close", "exited", "churned")
    no_consent = member(consent=frozenset())
    assert step_decision(pinned, step, enrolment(), no_consent, NOW)[2] == "consent:email"
    # a transactional journey needs no consent; the holdout only progresses
    assert step_decision(_pinned("transactional"), step, enrolment(), no_consent, NOW) == ("send",)
    assert step_decision(pinned, step, enrolment("control"), member(), NOW) == ("control",)
    night = member(timezone="America/Los_Angeles")  # 00:00 there
    assert step_decision(pinned, step, enrolment(), night, NOW) == ("defer", 9 * 3600)


def test_hand_offs_of_several_journeys_are_kept_side_by_side():
    from memberflow.loyalty import handoffs

    m = handoffs.Pending()
    day = datetime(2026, 1, 6, tzinfo=UTC)
    m = handoffs.add_pending(m, "winback", day)
    m = handoffs.add_pending(m, "points_expiry_reminder", day)
    m = handoffs.add_pending(m, "winback", day)  # once
    assert handoffs.pending_journeys(m) == ["winback", "points_expiry_reminder"]
    assert (m := handoffs.drop_pending(m, "winback")) and m.due_at == day
    assert not handoffs.drop_pending(m, "winback")
    assert (m := handoffs.drop_pending(m, "points_expiry_reminder")) is not None
    assert (m.text, m.due_at) == (None, None)


def test_a_points_expiry_reminder_falls_due_days_before_each_lot_once():
    from dataclasses import replace
    from datetime import timedelta

    from memberflow.config import load_programme
    from memberflow.loyalty import handoffs
    from memberflow.loyalty.points import Lot

    programme = load_programme()  # points_expiry_reminder: 14 days before, re-entry 30 days
    soon = datetime(2026, 1, 20, tzinfo=UTC)
    later = datetime(2026, 2, 3, tzinfo=UTC)  # 14 days after soon: within the re-entry
    m = handoffs.HandoffState(
        lots=(Lot("2026-01-20", soon, soon, 300), Lot("2026-02-03", later, later, 50))
    )
    due = handoffs.points_expiry_due(m, programme, NOW)
    assert due == {"points_expiry_reminder": soon - timedelta(days=14)}
    m = replace(m, handed=("points_expiry_reminder#2026-01-06",))
    assert handoffs.points_expiry_due(m, programme, NOW) == {}  # covered by that reminder
    march = datetime(2026, 3, 1, tzinfo=UTC)
    m = replace(m, lots=(m.lots[0], Lot("2026-02-03", march, march, 50)))
    assert handoffs.points_expiry_due(m, programme, NOW) == {
        "points_expiry_reminder": datetime(2026, 2, 15, tzinfo=UTC)
    }


def test_a_date_journey_falls_due_on_the_members_local_day_once_a_year():
    import copy
    from dataclasses import replace

    from memberflow.config.programme import default_document, validate_document
    from memberflow.loyalty import handoffs

    doc = default_document()
    doc["journeys"]["anniversary"] = {
        **copy.deepcopy(doc["journeys"]["tier_up_welcome"]),
        "entry": {"trigger": "date", "attribute": "joined_at"},
    }
    programme = validate_document(doc)
    joined = datetime(2025, 1, 6, 3, 0, tzinfo=UTC)  # 11:00 on 6 January in Shanghai
    m = handoffs.HandoffState(timezone="Asia/Shanghai", dates=(("joined_at", joined),))
    # midnight of 6 January 2026 in Shanghai is 16:00 UTC on the 5th
    assert handoffs.date_due(m, programme, NOW) == {
        "anniversary": datetime(2026, 1, 5, 16, 0, tzinfo=UTC)
    }
    m = replace(m, timezone="America/New_York")  # joined on the 5th there: begun already
    assert handoffs.date_due(m, programme, NOW) == {
        "anniversary": datetime(2026, 1, 5, 5, 0, tzinfo=UTC)
    }
    m = replace(m, handed=("anniversary#2026-01-06",))  # handed off: next year's
    assert handoffs.date_due(m, programme, NOW) == {
        "anniversary": datetime(2027, 1, 5, 5, 0, tzinfo=UTC)
    }
    # Just west of UTC local midnight falls inside the UTC day the sweep hands off on:
    # that hand-off covers it, the member is not due again the next day.
    m = replace(m, timezone="Atlantic/Azores", handed=())  # UTC-1: midnight is 01:00 UTC
    assert handoffs.date_due(m, programme, NOW) == {
        "anniversary": datetime(2026, 1, 6, 1, 0, tzinfo=UTC)
    }
    m = replace(m, handed=("anniversary#2026-01-06",))  # the 02:00 UTC sweep of the 6th
    assert handoffs.date_due(m, programme, NOW)["anniversary"].year == 2027
    # the joining day is no anniversary
    m = replace(
        m,
        timezone="America/New_York",
        dates=(("joined_at", datetime(2025, 12, 1, tzinfo=UTC)),),
        handed=(),
    )
    assert handoffs.date_due(m, programme, NOW) == {
        "anniversary": datetime(2026, 11, 30, 5, 0, tzinfo=UTC)
    }


def test_the_hand_off_state_is_read_from_the_member_item_once():
    """The one conversion from the store's item: what the rules above read."""
    import copy

    from memberflow.config.programme import default_document, validate_document
    from memberflow.loyalty import accounts, handoffs
    from memberflow.store import Member
    from memberflow.store.models import PointsLot

    doc = default_document()
    doc["journeys"]["anniversary"] = {
        **copy.deepcopy(doc["journeys"]["tier_up_welcome"]),
        "entry": {"trigger": "date", "attribute": "joined_at"},
    }
    programme = validate_document(doc)
    joined = datetime(2025, 1, 6, tzinfo=UTC)
    m = Member(member_id="m", stage="new", timezone="Asia/Shanghai", joined_at=joined)
    m.points_lots = [PointsLot(lot_id="2026-01-20", expires_at=NOW, remaining=3)]
    m.handoffs = ["winback#2026-01-01"]
    accounts.add_pending(m, "winback", NOW)
    state = handoffs.HandoffState.of(m, programme)
    assert state == handoffs.HandoffState(
        stage="new",
        joined_at=joined,
        has_orders=False,
        timezone="Asia/Shanghai",
        pending=handoffs.Pending(("winback",), NOW),
        handed=("winback#2026-01-01",),
        lots=(handoffs.points.Lot("2026-01-20", NOW, NOW, 3),),
        dates=(("birthday", None), ("joined_at", joined)),  # the default's birthday journey too
    )
    assert (m.pending_handoff, m.handoff_due_at) == ("winback", NOW)
    assert accounts.drop_pending(m, "winback") and (m.pending_handoff, m.handoff_due_at) == (
        None,
        None,
    )


def test_the_journey_states_are_read_from_the_items_once():
    from memberflow.journeys.decisions import CohortState, EnrolmentState
    from memberflow.loyalty.points import Lot, lots_of
    from memberflow.store import Cohort, Enrolment, Member
    from memberflow.store.models import Consent, PointsLot

    assert MemberState.of(None) is None
    m = Member(member_id="m", stage="lapsed", timezone="Asia/Shanghai", last_order_at=NOW)
    m.consent = Consent(email=False, sms=True)
    m.points_lots = [PointsLot(lot_id="2026-01-20", expires_at=NOW, remaining=3)]
    assert MemberState.of(m) == MemberState(
        member_id="m",
        stage="lapsed",
        timezone="Asia/Shanghai",
        last_order_at=NOW,
        consent=frozenset({"sms"}),
    )
    assert lots_of(m) == (Lot("2026-01-20", NOW, NOW, 3),)
    e = Enrolment(member_id="m", enrolment_key="k", arm="control", entered_at=NOW)
    assert EnrolmentState.of(e) == EnrolmentState(entered_at=NOW, arm="control")
    c = Cohort(cohort_id="c", journey="winback", config_version="3", shards=2)
    assert CohortState.of(c) == CohortState("winback", "3", 2, None)


def test_an_api_cohort_id_too_long_for_its_execution_is_refused_before_anything_is_written():
    """The cohort id names the cohort's first execution (80 characters at most): a long
    configured journey id with a long client key is refused naming the key's field."""
    import pytest

    from memberflow.journeys.entry import EntryError, parse_api_request

    journey = "j" * 40  # the longest id the programme schema admits
    long_key = "k" * 48
    for body, header, field in (
        ({"member_ids": ["m1"], "cohort_key": long_key}, None, "cohort_key"),
        ({"member_ids": ["m1"]}, long_key, "header:Idempotency-Key"),
    ):
        with pytest.raises(EntryError) as refused:
            parse_api_request(journey, body, header, journeys=(journey,))
        assert refused.value.status == 400 and refused.value.field == field
        assert "at most 35 characters" in refused.value.reason
    request = parse_api_request(
        journey, {"member_ids": ["m1"], "cohort_key": "k" * 35}, None, journeys=(journey,)
    )
    assert len(request.cohort_id) == 80
    default = parse_api_request(journey, {"member_ids": ["m1"]}, None, journeys=(journey,))
    assert len(default.cohort_id) <= 80  # a key from the request's digest always fits


def test_a_segment_is_its_stages_tiers_and_lowest_rfm_scores():
    from memberflow.config.triggers import SEGMENT, in_segment, trigger_of

    vip = trigger_of(
        {
            "entry": {
                "trigger": SEGMENT,
                "stages": ["active", "loyal"],
                "tiers": ["gold"],
                "min_rfm": {"frequency": 3, "monetary": 4},
            }
        }
    )
    assert in_segment(vip, "loyal", "gold", "134")
    assert not in_segment(vip, "at_risk", "gold", "555")  # stage
    assert not in_segment(vip, "active", "silver", "555")  # tier
    assert not in_segment(vip, "active", "gold", "524")  # frequency 2 < 3
    assert not in_segment(vip, "active", "gold", "553")  # monetary 3 < 4
    assert not in_segment(vip, "active", "gold", None)  # not scored yet
    anyone = trigger_of({"entry": {"trigger": SEGMENT}})
    assert in_segment(anyone, "new", None, None)
