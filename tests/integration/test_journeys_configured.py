"""Journeys defined by configuration alone, run end to end on the local stack.

No code names these journeys: the programme declares them (an id, an entry trigger,
steps, templates), the order path and the daily sweep start what it declares, and the
one journey state machine runs them from the cohort's pinned configuration.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from memberflow.config.programme import default_document
from memberflow.runtime import app_context
from memberflow.store import Cohort, Enrolment
from memberflow_local.stack import LocalStack
from tests.integration.test_journeys_support import (
    arm_ids,
    execution_histories,
    make_member,
    messages,
    ses_sent,
)
from tests.integration.test_loyalty_support import apply, paid

VIP = "vip_thanks"  # a journey no code knows


def _with_vip(doc: dict) -> dict:
    doc["templates"][VIP] = {
        "en": {"subject": "Thank you, {first_name}", "body": "You are {tier} now."},
        "zh-CN": {"subject": "感谢您，{first_name}", "body": "您已升级为{tier}会员。"},
    }
    doc["journeys"][VIP] = {
        "enabled": True,
        "entry": {"trigger": "tier_entered", "tier": "gold"},
        "purpose": "marketing",
        "goal": "purchase",
        "reentry_days": None,
        "holdout_percent": 50,
        "steps": [{"id": "thanks", "wait_days": 0, "channel": "email", "template": VIP}],
        "exit_after_days": 2,
    }
    return doc


@pytest.fixture
def vip_stack(tmp_path):
    path = tmp_path / "programme.json"
    path.write_text(json.dumps(_with_vip(default_document()), ensure_ascii=False))
    with LocalStack(programme_file=str(path)) as stack:
        yield stack


def test_a_journey_added_by_configuration_alone_runs_end_to_end(vip_stack):
    stack = vip_stack
    programme = app_context().programme
    assert VIP in programme.journeys
    treatment = arm_ids(VIP, "treatment", 3, "vip-t", programme)
    control = arm_ids(VIP, "control", 2, "vip-c", programme)
    below = "vip-silver"  # reaches silver only: not this journey's tier
    now = stack.clock.now()
    for i, member_id in enumerate([*treatment, *control, below]):
        make_member(stack, member_id, locale="en")  # signed up, email consent given
        total = 6000 if member_id == below else 12000
        apply(member_id, paid(f"o-{i}", total, now), programme=programme, now=now)

    # The order marked the journey; the next daily sweep (02:00 UTC) enrols one cohort.
    stack.advance(days=1)
    stack.clock.wait_idle()
    cohort_id = f"{VIP}-{stack.clock.now().date().isoformat()}"
    cohort = Cohort.get(cohort_id, consistent_read=True)
    assert cohort.journey == VIP
    enrolled = {e.member_id: e for e in Enrolment.cohort_index.query(f"COHORT#{cohort_id}#0")}
    assert sorted(enrolled) == sorted([*treatment, *control])
    assert {m: e.arm for m, e in enrolled.items()} == {
        **dict.fromkeys(treatment, "treatment"),
        **dict.fromkeys(control, "control"),
    }
    # the message went to the treatment arm only, with the journey's own template
    sent = [m for m in messages() if m.journey == VIP]
    assert sorted(m.member_id for m in sent) == sorted(treatment)
    assert {m.step for m in sent} == {"thanks"}

    # the exit window closes the cohort: nobody bought again
    stack.advance(days=3)
    stack.clock.wait_idle()
    cohort = Cohort.get(cohort_id, consistent_read=True)
    assert cohort.status == "finished"
    assert json.loads(cohort.totals) == {
        "treatment": {"entered": 3, "completed": 3},
        "control": {"entered": 2, "completed": 2},
    }
    for member_id in control:
        e = Enrolment.get(member_id, f"{VIP}#{cohort_id}", consistent_read=True)
        assert (e.status, e.messages_sent, e.steps_reached) == ("completed", 0, ["thanks"])

    # on the one journey state machine, the journey in the input, no personal data
    histories = execution_histories(stack)
    mine = [h for h in histories if h["execution"]["name"].startswith(cohort_id)]
    assert mine and {h["execution"]["stateMachineArn"].rsplit(":", 1)[-1] for h in mine} == {
        "memberflow-local-journey"
    }
    (opening,) = [h for h in mine if h["execution"]["name"] == cohort_id]
    first = json.loads(
        next(e for e in opening["events"] if e["type"] == "ExecutionStarted")[
            "executionStartedEventDetails"
        ]["input"]
    )
    assert first["journey"] == VIP and first["cohort_id"] == cohort_id
    assert "@example.com" not in json.dumps(histories, default=str)


# ------------------------------------------------------------ the default programme's examples
def _enrolled_messaged_and_closed(stack, journey, treatment, control, subject, body) -> str:
    """The next day's sweep enrols treatment and control as one cohort, only the treated
    get the email (``subject`` with ``body`` in it), and the cohort finishes 15 days on."""
    stack.advance(days=1)
    stack.clock.wait_idle()
    cohort_id = f"{journey}-{stack.clock.now().date().isoformat()}"
    cohort = Cohort.get(cohort_id, consistent_read=True)
    assert sorted(cohort.member_ids) == sorted([*treatment, control])
    sent = [m for m in messages() if m.journey == journey]
    assert sorted(m.member_id for m in sent) == sorted(treatment)
    ses = [s for s in ses_sent(stack) if subject in str(s.subject)]
    assert len(ses) == len(treatment) and all(body in str(s.body) for s in ses)
    stack.advance(days=15)
    stack.clock.wait_idle()
    assert Cohort.get(cohort_id, consistent_read=True).status == "finished"
    return cohort_id


def test_the_tier_up_welcome_greets_members_an_order_moved_up(stack):
    programme = app_context().programme
    journey = "tier_up_welcome"
    treatment = arm_ids(journey, "treatment", 2, "up-t", programme)
    (control,) = arm_ids(journey, "control", 1, "up-c", programme)
    stays = "up-base"  # an order too small to move up
    now = stack.clock.now()
    for i, member_id in enumerate([*treatment, control, stays]):
        make_member(stack, member_id, locale="en")
        total = 100 if member_id == stays else 12000
        apply(member_id, paid(f"up-{i}", total, now), programme=programme, now=now)
    cohort_id = _enrolled_messaged_and_closed(
        stack, journey, treatment, control, "Welcome to gold", "5% off every order"
    )
    cohort = Cohort.get(cohort_id, consistent_read=True)
    assert json.loads(cohort.totals) == {
        "treatment": {"entered": 2, "completed": 2},
        "control": {"entered": 1, "completed": 1},
    }


def test_the_points_expiry_reminder_names_the_points_14_days_before_they_expire(stack):
    from memberflow.loyalty import service
    from memberflow.store import Member
    from memberflow.store.models import PointsLot

    programme = app_context().programme
    journey = "points_expiry_reminder"
    treatment = arm_ids(journey, "treatment", 2, "exp-t", programme)
    (control,) = arm_ids(journey, "control", 1, "exp-c", programme)
    later = "exp-later"  # its points expire in 40 days: not yet
    now = stack.clock.now()
    day0 = datetime.combine(now.date(), datetime.min.time(), tzinfo=UTC)
    for member_id in [*treatment, control, later]:
        member = make_member(stack, member_id, locale="en")
        expires = day0 + timedelta(days=40 if member_id == later else 15)
        lot = PointsLot(lot_id=expires.date().isoformat(), expires_at=expires, remaining=300)
        member.update(actions=[Member.points_lots.set([lot]), Member.points_balance.set(400)])
        service.refresh_review(member_id, programme=programme, now=now)
    # the lots expire in 14 days now: the 02:00 sweep enrols
    _enrolled_messaged_and_closed(
        stack, journey, treatment, control, "points expire soon", "300 of your"
    )
    # one reminder for the lot, and none yet for the later one's (due in 40 - 14 days)
    reminded = [m.member_id for m in messages() if m.journey == journey]
    assert sorted(reminded) == sorted(treatment)


def test_every_sign_up_journey_the_configuration_declares_starts_once(tmp_path):
    from pathlib import Path

    from memberflow.store import Cohort
    from tests.conftest import signed_shopify

    doc = default_document()
    doc["journeys"]["app_tour"] = {  # a second sign-up journey, by configuration alone
        **doc["journeys"]["welcome"],
        "holdout_percent": 0,
        "steps": [{"id": "tour", "wait_days": 1, "channel": "email", "template": "onboarding"}],
    }
    doc["journeys"]["welcome"]["holdout_percent"] = 0
    path = tmp_path / "programme.json"
    path.write_text(json.dumps(doc, ensure_ascii=False))
    body = (
        Path(__file__).resolve().parents[2] / "events/payloads/shopify/customers_create.json"
    ).read_bytes()
    with LocalStack(programme_file=str(path)) as stack:
        for _ in range(2):  # a redelivery starts nothing twice
            headers = signed_shopify(stack, "customers/create", body, "evt-1")
            response = stack.http("POST", "/webhooks/shopify", body=body, headers=headers)
            assert response.status == 200, response.body
        member_id = response.json()["member_ids"][0]
        stack.clock.wait_idle()
        for journey in ("welcome", "app_tour"):
            cohort = Cohort.get(f"{journey}-{member_id}", consistent_read=True)
            assert cohort.journey == journey and cohort.execution_arn
        assert [(m["journey"], m["step"]) for m in stack.outbox()] == [("welcome", "welcome")]
        stack.advance(days=2)
        sent = sorted((m["journey"], m["step"]) for m in stack.outbox())
        assert sent == [("app_tour", "tour"), ("welcome", "onboarding"), ("welcome", "welcome")]


def test_a_membership_anniversary_journey_runs_on_the_members_local_day(tmp_path):
    from memberflow.loyalty import service
    from memberflow.store import Member

    doc = _with_vip(default_document())
    doc["journeys"]["anniversary"] = {
        **doc["journeys"][VIP],
        "entry": {"trigger": "date", "attribute": "joined_at"},
        "purpose": "transactional",
    }
    path = tmp_path / "programme.json"
    path.write_text(json.dumps(doc, ensure_ascii=False))
    with LocalStack(programme_file=str(path)) as stack:
        programme = app_context().programme
        treatment = arm_ids("anniversary", "treatment", 2, "ann-t", programme)
        (control,) = arm_ids("anniversary", "control", 1, "ann-c", programme)
        # the stack's clock: 16:00 on 5 January 2026 in Shanghai (the programme's zone)
        joined = datetime(2025, 1, 6, 4, 0, tzinfo=UTC)  # noon on 6 January there
        now = stack.clock.now()
        for i, member_id in enumerate([*treatment, control, "ann-later"]):
            member = make_member(stack, member_id, locale="en")
            apply(member_id, paid(f"ann-{i}", 100, now), programme=programme, now=now)  # active
            at = joined if member_id != "ann-later" else joined + timedelta(days=60)
            member.update(actions=[Member.joined_at.set(at)])
            service.refresh_review(member_id, programme=programme, now=now)
        stack.advance(days=1)  # the 02:00 UTC sweep of the 6th: 10:00 in Shanghai
        stack.clock.wait_idle()
        cohort = Cohort.get("anniversary-2026-01-06", consistent_read=True)
        assert sorted(cohort.member_ids) == sorted([*treatment, control])
        sent = [m for m in messages() if m.journey == "anniversary"]
        assert sorted(m.member_id for m in sent) == sorted(treatment)
        stack.advance(days=3)
        stack.clock.wait_idle()
        assert Cohort.get("anniversary-2026-01-06", consistent_read=True).status == "finished"
        assert len([m for m in messages() if m.journey == "anniversary"]) == 2  # once a year
