"""Each journey end to end on the local stack, with the virtual clock.

For every marketing journey: a member who converts at each step, one who never does,
one in the holdout, one who withdraws consent and one who is erased mid-journey.
"""

from __future__ import annotations

import json

import pytest

from memberflow.journeys import attribution
from memberflow.journeys.entry import JourneyEntry
from memberflow.members.service import get_member
from memberflow.runtime import app_context
from memberflow.store import Cohort, Coupon
from tests.integration.test_journeys_support import (
    STAGE_FOR,
    arm_ids,
    buy,
    enrol,
    enrolment,
    erase,
    execution_histories,
    make_member,
    messages,
    ses_sent,
    withdraw_consent,
)


@pytest.mark.parametrize("journey", ["activation", "dormancy_recall", "winback"])
def test_marketing_journey_end_to_end(stack, journey):
    config = app_context().programme.journey(journey)
    steps = config["steps"]
    treatment = arm_ids(journey, "treatment", len(steps) + 3, f"{journey[:3]}-t")
    converters, (never, withdraws, erased) = treatment[: len(steps)], treatment[len(steps) :]
    (holdout,) = arm_ids(journey, "control", 1, f"{journey[:3]}-c")
    everyone = [*treatment, holdout]
    for member_id in everyone:
        make_member(stack, member_id, stage=STAGE_FOR[journey], locale="en")
    result = enrol(journey, everyone)
    assert result.started and sorted(result.enrolled) == sorted(everyone)
    key = f"{journey}#{journey}-2026-01-05"
    stack.clock.wait_idle()

    for k, step in enumerate(steps):
        if k:
            stack.advance(days=step["wait_days"])
        got = {m.member_id for m in messages() if m.step == step["id"]}
        expected = {*converters[k:], never} | ({withdraws, erased} if k == 0 else set())
        assert got == expected, step["id"]
        # converter k buys right after step k reached them, with its coupon if it had one
        (message,) = [m for m in messages(converters[k]) if m.step == step["id"]]
        codes = (message.coupon_code,) if message.coupon_code else ()
        if "incentive" in step and step["incentive"]["type"] == "coupon":
            assert codes and Coupon.get(codes[0]).step == step["id"]
        now = stack.clock.now()
        assert buy(converters[k], now, f"order-{k}", coupon_codes=codes) == [key]
        assert buy(converters[k], now, f"order-{k}", coupon_codes=codes) == []  # redelivery
        if k == 0:
            withdraw_consent(withdraws)
            if journey == "activation":  # the eager hook; elsewhere the send-time check
                assert attribution.on_consent_withdrawn(withdraws, "email", now=now) == 1
            assert erase(erased, now) == 1
    stack.advance(days=config["exit_after_days"] + 1)

    for k, member_id in enumerate(converters):
        e = enrolment(member_id, journey)
        assert (e.status, e.attributed_step, e.conversion_order_id) == (
            "converted",
            steps[k]["id"],
            f"order-{k}",
        )
        assert e.messages_sent == k + 1
        coupon_step = steps[k].get("incentive", {}).get("type") == "coupon"
        assert e.outcome_reason == ("coupon" if coupon_step else "purchase")
    e = enrolment(never, journey)
    assert (e.status, e.outcome_reason, e.messages_sent) == (
        "completed",
        "no_conversion",
        len(steps),
    )
    assert e.arm == "treatment" and e.steps_reached == [s["id"] for s in steps]
    e = enrolment(holdout, journey)
    assert (e.arm, e.status, e.messages_sent) == ("control", "completed", 0)
    assert e.steps_reached == [s["id"] for s in steps]  # tracked through every step
    assert messages(holdout) == []
    e = enrolment(withdraws, journey)
    assert (e.status, e.outcome_reason) == ("exited", "consent:email")
    assert [m.step for m in messages(withdraws)] == [steps[0]["id"]]
    e = enrolment(erased, journey)
    assert (e.status, e.outcome_reason) == ("exited", "erased")
    assert [m.step for m in messages(erased)] == [steps[0]["id"]]

    # each message exactly once, and every one of them went through SES
    keys = [(m.member_id, m.message_key) for m in messages()]
    assert len(keys) == len(set(keys)) == len(ses_sent(stack))
    cohort = Cohort.get(f"{journey}-2026-01-05")
    totals = json.loads(cohort.totals)
    assert cohort.status == "finished"
    assert totals["treatment"]["converted"] == len(steps)
    assert totals["control"] == {"entered": 1, "completed": 1}

    if journey == "dormancy_recall":
        member = get_member(never)
        assert member.double_points_until is not None and member.double_points_multiplier == 2
    if journey == "winback":
        for member_id in (never, holdout):  # the holdout churns too: arms stay comparable
            member = get_member(member_id)
            assert member.stage == "churned"
            assert member.stage_history[-1].reason == "winback_ended"
            assert member.stage_history[-1].from_stage == "lapsed"
        assert {get_member(m).stage for m in converters} == {"lapsed"}
    else:
        assert get_member(never).stage == STAGE_FOR[journey]

    # no personal data in any execution's input, output or history
    histories = json.dumps(execution_histories(stack), default=str)
    assert "@example.com" not in histories and "Ada" not in histories


def test_welcome_sends_both_messages_in_the_members_locale(stack):
    (english, chinese, no_consent, erased) = arm_ids("welcome", "treatment", 4, "wel-t")
    (holdout,) = arm_ids("welcome", "control", 1, "wel-c")
    make_member(stack, english, locale="en", first_name="Ada")
    make_member(stack, chinese, locale="zh-CN", first_name="Lin")
    make_member(stack, no_consent, email=False)  # transactional: no marketing consent needed
    make_member(stack, erased)
    make_member(stack, holdout)
    entry = JourneyEntry(app_context())
    for member_id in (english, chinese, no_consent, erased, holdout):
        assert entry.start_welcome(member_id).started
    stack.clock.wait_idle()
    assert {m.member_id for m in messages()} == {english, chinese, no_consent, erased}
    erase(erased, stack.clock.now())
    stack.advance(days=2)
    assert [m.step for m in messages(english)] == ["welcome", "onboarding"]
    assert [m.step for m in messages(chinese)] == ["welcome", "onboarding"]
    assert [m.step for m in messages(erased)] == ["welcome"]
    assert messages(holdout) == []
    subjects = {m.subject for m in ses_sent(stack)}
    assert any(s.startswith("Welcome to") and s.endswith(", Ada") for s in subjects)
    assert any(s.startswith("欢迎加入") and s.endswith("Lin") for s in subjects)
    assert [m.locale for m in messages(english)] == ["en", "en"]
    assert enrolment(english, "welcome", f"welcome-{english}").status == "completed"
    assert enrolment(holdout, "welcome", f"welcome-{holdout}").arm == "control"
    assert entry.start_welcome(english).started is False  # a redelivered sign-up
    assert len(messages(english)) == 2
