"""Reliability of the journey engine on the local stack: transient send failures,
the frequency cap across journeys, re-runs, re-entry, a member that always fails."""

from __future__ import annotations

import hashlib
import threading
from datetime import timedelta

from memberflow.journeys.channels import ChannelAdapters
from memberflow.runtime import app_context
from memberflow.store import Enrolment
from tests.integration.test_journeys_support import (
    arm_ids,
    cohort_executions,
    enrol,
    enrolment,
    make_member,
    messages,
    ses_sent,
)


def test_transient_send_failures_still_deliver_each_message_exactly_once(stack, monkeypatch):
    members = arm_ids("activation", "treatment", 20, "flaky-")
    for member_id in members:
        make_member(stack, member_id)
    real_send = ChannelAdapters.send
    calls: dict[str, int] = {}
    lock = threading.Lock()

    def flaky_send(self, channel, message, *, email, phone):
        # 30 % of calls fail, decided by a fixed seed per (message, attempt): deterministic
        # whatever order the Map's iterations run in.
        with lock:
            attempt = calls[message.message_key + message.member_id] = (
                calls.get(message.message_key + message.member_id, 0) + 1
            )
        seed = hashlib.sha256(f"seed-7|{message.member_id}|{message.step}|{attempt}".encode())
        if seed.digest()[0] < 0.3 * 256:
            raise ConnectionError("provider timed out")
        return real_send(self, channel, message, email=email, phone=phone)

    monkeypatch.setattr(ChannelAdapters, "send", flaky_send)
    enrol("activation", members)
    stack.advance(days=25)
    steps = ["nudge_1", "nudge_2", "nudge_3"]
    for member_id in members:
        assert [m.step for m in messages(member_id)] == steps, member_id
        assert enrolment(member_id, "activation").messages_sent == 3
    assert len(ses_sent(stack)) == 3 * len(members)
    assert sum(calls.values()) > 3 * len(members)  # failures really happened


def test_a_member_whose_processing_always_raises_is_marked_failed_not_the_shard(stack, monkeypatch):
    members = arm_ids("activation", "treatment", 6, "bad-")
    for member_id in members:
        make_member(stack, member_id)
    broken = members[0]
    real_send = ChannelAdapters.send

    def send(self, channel, message, *, email, phone):
        if message.member_id == broken:
            raise RuntimeError("template engine exploded")
        return real_send(self, channel, message, email=email, phone=phone)

    monkeypatch.setattr(ChannelAdapters, "send", send)
    enrol("activation", members)
    stack.advance(days=1)
    e = enrolment(broken, "activation")
    assert (e.status, e.outcome_reason) == ("failed", "error:RuntimeError")
    for member_id in members[1:]:
        assert [m.step for m in messages(member_id)] == ["nudge_1"]
    stack.advance(days=25)
    assert messages(broken) == []
    assert {enrolment(m, "activation").status for m in members[1:]} == {"completed"}


def test_a_member_in_three_journeys_never_exceeds_the_frequency_cap(stack):
    journeys = ("activation", "dormancy_recall", "winback")
    candidates = [set(arm_ids(j, "treatment", 40, "cap-")) for j in journeys]
    member_id = sorted(set.intersection(*candidates))[0]  # treated in all three
    make_member(stack, member_id)
    for journey in journeys:
        assert enrol(journey, [member_id]).started  # all three the same day, concurrently
    stack.advance(days=50)
    sent = [m for m in messages(member_id) if m.purpose == "marketing"]
    cap = app_context().programme.messaging["frequency_cap"]
    for message in sent:
        window = [
            m
            for m in sent
            if message.sent_at - timedelta(days=cap["per_days"]) < m.sent_at <= message.sent_at
        ]
        assert len(window) <= cap["max_messages"]
    assert len(sent) < 8  # 8 steps in all: some were capped
    capped = [
        s for e in Enrolment.query(member_id) for s in e.steps_reached if s.endswith(":capped")
    ]
    assert capped


def test_starting_the_same_cohort_twice_starts_one_execution_and_sends_once(stack):
    members = arm_ids("dormancy_recall", "treatment", 5, "rerun-")
    for member_id in members:
        make_member(stack, member_id, stage="at_risk")
    first = enrol("dormancy_recall", members)
    stack.clock.wait_idle()
    second = enrol("dormancy_recall", members)  # the sweep re-ran
    assert first.started and not second.started
    assert sorted(second.enrolled) == sorted(members)
    sfn = stack.client("stepfunctions")
    arn = stack.physical["JourneyStateMachine"]["Ref"]
    executions = sfn.list_executions(stateMachineArn=arn)["executions"]
    # One chain: one execution named after the cohort, one pass under way at a time.
    assert [e["name"] for e in executions].count(first.cohort_id) == 1
    assert sum(e["status"] == "RUNNING" for e in executions) == 1
    assert len(cohort_executions(stack, "JourneyStateMachine", first.cohort_id)) == len(executions)
    stack.advance(days=3)
    enrol("dormancy_recall", members)  # and again, mid-journey
    late = arm_ids("dormancy_recall", "treatment", 6, "rerun-")[-1]
    make_member(stack, late, stage="at_risk")
    third = enrol("dormancy_recall", [*members, late])
    assert third.skipped == {late: "cohort_started"}  # would miss the first steps
    stack.advance(days=40)
    executions = sfn.list_executions(stateMachineArn=arn)["executions"]
    assert [e["name"] for e in executions].count(first.cohort_id) == 1
    assert len(cohort_executions(stack, "JourneyStateMachine", first.cohort_id)) == len(
        executions
    )  # every execution is a pass of this cohort's one chain, none started twice
    assert all(e["status"] == "SUCCEEDED" for e in executions)
    for member_id in members:
        assert [m.step for m in messages(member_id)] == ["reminder", "double_points", "coupon"]


def test_reentry_is_refused_within_90_days(stack):
    (member_id,) = arm_ids("dormancy_recall", "treatment", 1, "again-")
    make_member(stack, member_id, stage="at_risk")
    assert enrol("dormancy_recall", [member_id]).enrolled == [member_id]
    stack.advance(days=40)
    again = enrol("dormancy_recall", [member_id], cohort_id="dormancy_recall-2026-02-14")
    assert again.skipped == {member_id: "reentry_window"} and not again.started
    stack.advance(days=51)
    later = enrol("dormancy_recall", [member_id], cohort_id="dormancy_recall-2026-04-06")
    assert later.enrolled == [member_id]
