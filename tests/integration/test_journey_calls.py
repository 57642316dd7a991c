"""AWS calls per event on the journey side (issue 13), counted with bench/journeys.py's
botocore hook on every client, and the guarantees the fewer calls must keep: the claim's
one transaction still refuses a second send, a concurrent claim still cannot exceed the
frequency cap, and the double points' window still reaches a concurrent order.

Counts are deterministic (member ids, arms and the clock are); no timing is asserted."""

from __future__ import annotations

import logging
from datetime import timedelta
from decimal import Decimal

import pytest

from bench._journey_calls import cohort_step_calls, counting, sweep_calls, welcome_calls
from memberflow.clock import now as clock_now
from memberflow.runtime import app_context
from memberflow.store import Enrolment, Member, Message, claims
from tests.integration.test_journeys_member_writes import _between_the_orders_read_and_its_commit
from tests.integration.test_loyalty_support import apply, make_member, paid


@pytest.fixture(autouse=True)
def _quiet():
    logging.disable(logging.INFO)
    yield
    logging.disable(logging.NOTSET)


def test_a_daily_sweep_makes_one_query_per_shard_and_still_finds_missed_days(stack):
    programme = app_context().programme
    now = stack.clock.now()
    for i in range(20):  # signed up today: nothing due for a week
        make_member(f"fresh{i:02d}", programme=programme, joined_at=now)
    figures = sweep_calls(stack)
    assert figures["swept"] == 0
    # 16 shards, one query each (before: 16 shards x 8 days = 128), and nothing else.
    assert figures["sweep_calls_by_operation"] == {"dynamodb:Query": 16}
    # A member due three days ago (missed runs) is found by the same 16 queries.
    make_member("late", programme=programme, joined_at=now - timedelta(days=10))
    stack.advance(seconds=2)  # the index shows writes after its lag
    with counting(stack) as meter:
        result = stack.invoke("SweepFunction", {})
        queries = sum(
            c.calls.get("dynamodb:Query", 0)
            for scope, c in meter.by_scope.items()
            if scope == "SweepFunction"
        )
    assert result["swept"] == 1 and result["handoffs"] == {"activation": 1}
    assert queries == 16 + 1  # and the activation entry's re-entry rule, for that member


def test_a_cohort_step_costs_at_most_two_calls_per_member_including_the_send(stack):
    figures = cohort_step_calls(stack, members=40, journey="dormancy_recall")
    # reminder, double points (the window written with the claim) and coupon (issued with
    # the claim): one transaction and one send per treated member and step.
    assert figures["cohort_step_per_member"] <= 2.0
    ops = figures["step_calls_by_operation"]
    assert ops.get("dynamodb:GetItem", 0) < 0.05  # no member read of its own
    assert "dynamodb:Query" not in ops and "dynamodb:PutItem" not in ops
    treated = figures["sends"] / 3
    assert ops["dynamodb:TransactWriteItems"] == pytest.approx(treated / 40, abs=0.02)


def test_a_welcome_execution_costs_a_bounded_number_of_calls(stack):
    figures = welcome_calls(stack, signups=4)
    assert figures["sends"] >= 6  # welcome and onboarding to the treated sign-ups
    # Before: 21.8 calls of the journey function and 6 Lambda invocations a sign-up. Now
    # each of the two passes is one task (no plan, Map, advance or finalize task) that
    # reads cohort, enrolment and member in one BatchGetItem, claims the send in one
    # transaction, sends, and starts the next pass or closes the cohort in one write.
    assert figures["step_functions_invocations"] <= 2
    assert figures["journey_function_calls"] <= 9
    ops = figures["journey_calls_by_operation"]
    assert ops["dynamodb:BatchGetItem"] == 2  # one read a pass
    for op in ("dynamodb:GetItem", "dynamodb:Query", "dynamodb:PutItem"):
        assert op not in ops


def _enrolment(member_id: str, cohort_id: str, journey: str) -> Enrolment:
    enrolment = Enrolment(
        member_id=member_id,
        enrolment_key=f"{journey}#{cohort_id}",
        cohort_shard=f"COHORT#{cohort_id}#0",
        journey=journey,
        cohort_id=cohort_id,
        config_version="v",
        arm="treatment",
        entered_at=clock_now() - timedelta(days=1),
        status="open",
    )
    enrolment.save()
    return enrolment


def _claim(member: Member, journey: str, now, **extra) -> claims.Claim:
    cohort_id = f"{journey}-calls"
    enrolment = _enrolment(member.member_id, cohort_id, journey)
    record = Message(
        member_id=member.member_id,
        message_key=f"{journey}#{cohort_id}#step",
        journey=journey,
        cohort_id=cohort_id,
        step="step",
        channel="email",
        template="t",
        locale="en",
        sent_at=now,
        purpose="marketing",
    )
    return claims.Claim(
        record=record,
        enrolment=enrolment,
        member=member,
        step_mark="step",
        reached_before=[],
        marketing=True,
        **extra,
    )


def test_two_concurrent_claims_cannot_exceed_the_cap_and_a_claim_is_made_once(stack):
    programme = app_context().programme
    now = stack.clock.now()
    make_member("capped", programme=programme, joined_at=now - timedelta(days=100))
    cap = programme.messaging["frequency_cap"]
    member = Member.get("capped", consistent_read=True)
    member.update(
        actions=[Member.marketing_sends.set([now - timedelta(days=1)] * (cap["max_messages"] - 1))]
    )
    # Two journeys read the member at the same version, one send short of the cap.
    first = Member.get("capped", consistent_read=True)
    second = Member.get("capped", consistent_read=True)
    assert len(claims.recent_sends(second, now, cap["per_days"])) < cap["max_messages"]
    claims.claim(_claim(first, "activation", now), now)
    with pytest.raises(claims.Stale) as stale:
        claims.claim(_claim(second, "winback", now), now)
    assert stale.value.which == "member"  # nothing of the second claim was written
    assert Message.count("capped") == 1
    fresh = Member.get("capped", consistent_read=True)
    assert len(claims.recent_sends(fresh, now, cap["per_days"])) == cap["max_messages"]
    # The same claim again (a retried Map iteration) finds the record: no second send.
    again = _claim(fresh, "activation", now)
    with pytest.raises(claims.Stale) as stale:
        claims.claim(again, now)
    assert stale.value.which == "message"


def test_a_released_claim_takes_back_the_record_the_progress_and_the_cap(stack):
    programme = app_context().programme
    now = stack.clock.now()
    make_member("released", programme=programme, joined_at=now - timedelta(days=100))
    member = Member.get("released", consistent_read=True)
    claim = _claim(member, "activation", now)
    claims.claim(claim, now)
    claims.release(claim, now)
    assert Message.count("released") == 0
    enrolment = Enrolment.get("released", "activation#activation-calls", consistent_read=True)
    assert enrolment.steps_reached == [] and int(enrolment.messages_sent) == 0
    assert Member.get("released", consistent_read=True).marketing_sends == []


def test_double_points_claimed_while_an_order_is_applied_still_doubles_that_order(
    stack, monkeypatch
):
    programme = app_context().programme
    now = stack.clock.now()
    for member_id in ("doubled", "plain"):
        make_member(member_id, programme=programme, joined_at=now - timedelta(days=200))
    join_bonus = int(Member.get("plain", consistent_read=True).points_balance)
    apply("plain", paid("o-plain", "120.00", now), programme=programme, now=now)
    single = int(Member.get("plain", consistent_read=True).points_balance) - join_bonus
    until = now - timedelta(minutes=1) + timedelta(days=14)

    def claim_with_double_points():
        member = Member.get("doubled", consistent_read=True)
        fields = {"double_points_until": until, "double_points_multiplier": Decimal("2")}
        claims.claim(_claim(member, "dormancy_recall", now, member_fields=fields), now)

    ran = _between_the_orders_read_and_its_commit(monkeypatch, claim_with_double_points)
    apply("doubled", paid("o-doubled", "120.00", now), programme=programme, now=now)
    assert ran == ["doubled"]
    member = Member.get("doubled", consistent_read=True)
    assert member.double_points_until == until and len(member.marketing_sends) == 1
    # The order was replayed on the member the claim wrote: double points, nothing lost.
    assert int(member.points_balance) - join_bonus == 2 * single


def test_a_pass_task_that_fails_after_its_work_falls_back_to_the_map_and_sends_once(
    stack, monkeypatch
):
    from memberflow.journeys import engine
    from memberflow.journeys.entry import JourneyEntry
    from memberflow.store import Cohort
    from tests.integration.test_journeys_support import arm_ids, enrolment, sent_steps
    from tests.integration.test_journeys_support import make_member as make_journey_member

    real = engine.run_pass
    attempts = []

    def lost_after_the_work(*args, **kwargs):
        attempts.append(1)
        real(*args, **kwargs)  # the worst case: everything done, then the answer is lost
        raise RuntimeError("the invocation failed after its work")

    monkeypatch.setattr(engine, "run_pass", lost_after_the_work)
    members = arm_ids("welcome", "treatment", 2, "fallback-")
    for member_id in members:
        make_journey_member(stack, member_id)
        JourneyEntry(app_context()).start_welcome(member_id)
    stack.advance(days=3)
    assert len(attempts) >= 4  # retried, then caught: the Map way ran each pass
    for member_id in members:
        assert sent_steps(member_id, "welcome") == ["welcome", "onboarding"]  # once each
        closed = enrolment(member_id, "welcome", f"welcome-{member_id}")
        assert closed.status == "completed" and int(closed.messages_sent) == 2
        cohort = Cohort.get(f"welcome-{member_id}", consistent_read=True)
        assert cohort.status == "finished"
