"""Helpers for the journey tests on the local stack (no tests here)."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path

from memberflow.config import load_programme
from memberflow.config.programme import default_document
from memberflow.journeys import attribution
from memberflow.journeys.entry import JourneyEntry
from memberflow.journeys.experiments import assign_arm
from memberflow.members.service import get_member, new_member
from memberflow.runtime import app_context
from memberflow.store import Enrolment, Member, Message

STAGE_FOR = {
    "welcome": "new",
    "activation": "new",
    "dormancy_recall": "at_risk",
    "winback": "lapsed",
}


def arm_ids(journey: str, arm: str, count: int, prefix: str, programme=None) -> list[str]:
    """Member ids that the journey's deterministic split puts in ``arm``."""
    programme = programme or app_context().programme
    config = programme.journey(journey)
    key = config.get("experiment_key", programme.version)
    found, i = [], 0
    while len(found) < count:
        member_id = f"{prefix}{i:04d}"
        if assign_arm(member_id, journey, key, config["holdout_percent"]) == arm:
            found.append(member_id)
        i += 1
    return found


def make_member(
    stack,
    member_id: str,
    *,
    stage: str = "new",
    email: bool = True,
    sms: bool = False,
    locale: str | None = "zh-CN",
    timezone: str | None = None,
    phone: str | None = None,
    first_name: str = "Ada",
) -> Member:
    programme = app_context().programme
    now = stack.clock.now()
    member = new_member(
        programme=programme,
        now=now,
        stage=stage,
        reason="test",
        email=f"{member_id}@example.com",
        member_id=member_id,
    )
    member.first_name = first_name
    member.phone = phone
    member.locale = locale
    member.timezone = timezone
    member.joined_at = now - timedelta(days=7)
    member.consent.email = email
    member.consent.sms = sms
    member.points_balance = 100
    member.save()
    return member


def enrol(journey: str, member_ids: list[str], cohort_id: str | None = None, now=None):
    cohort_id = cohort_id or f"{journey}-2026-01-05"
    return JourneyEntry(app_context()).enrol(journey, member_ids, cohort_id, now=now)


def buy(member_id: str, at: datetime, order_id: str, coupon_codes=(), revenue="99.00") -> list[str]:
    """What the order path does: record the purchase, then attribute it."""
    member = get_member(member_id)
    member.update(actions=[Member.last_order_at.set(at), Member.order_count.add(1)])
    return attribution.on_purchase(
        member_id, order_id=order_id, revenue=Decimal(revenue), at=at, coupon_codes=coupon_codes
    )


def withdraw_consent(member_id: str, channel: str = "email") -> None:
    member = get_member(member_id)
    setattr(member.consent, channel, False)
    member.update(actions=[Member.consent.set(member.consent)])


def erase(member_id: str, now: datetime) -> int:
    """What the erasure path does to the member item, then the journey hook."""
    member = get_member(member_id)
    member.update(
        actions=[
            Member.erased.set(True),
            Member.email.remove(),
            Member.first_name.remove(),
            Member.phone.remove(),
        ]
    )
    return attribution.on_erasure(member_id, now=now)


def enrolment(member_id: str, journey: str, cohort_id: str | None = None) -> Enrolment:
    cohort_id = cohort_id or f"{journey}-2026-01-05"
    return Enrolment.get(member_id, f"{journey}#{cohort_id}", consistent_read=True)


def messages(member_id: str | None = None) -> list[Message]:
    items = list(Message.query(member_id)) if member_id else list(Message.scan())
    return sorted(items, key=lambda m: (m.sent_at, m.member_id, m.step))


def sent_steps(member_id: str, journey: str | None = None) -> list[str]:
    return [m.step for m in messages(member_id) if journey is None or m.journey == journey]


def ses_sent(stack) -> list:
    from moto.ses.models import ses_backends

    return list(ses_backends["123456789012"]["us-east-1"].sent_messages)


def programme_file(tmp_path: Path, edit, name: str = "programme.json") -> Path:
    doc = default_document()
    edit(doc)
    load_programme(json.dumps(doc))  # fail early, with the field, if the edit is invalid
    path = tmp_path / name
    path.write_text(json.dumps(doc, ensure_ascii=False))
    return path


def execution_histories(stack) -> list[dict]:
    sfn = stack.client("stepfunctions")
    histories = []
    for machine in sfn.list_state_machines()["stateMachines"]:
        for execution in sfn.list_executions(stateMachineArn=machine["stateMachineArn"])[
            "executions"
        ]:
            arn = execution["executionArn"]
            events = sfn.get_execution_history(executionArn=arn, maxResults=1000)["events"]
            histories.append({"execution": execution, "events": events})
    return histories


def cohort_executions(stack, logical_id: str, cohort_id: str) -> list[dict]:
    """The executions of one cohort: the first is named after it, each further pass
    ``<cohort>.p<n>`` (engine.execution_name)."""
    from memberflow.journeys.engine import execution_name

    sfn = stack.client("stepfunctions")
    arn = stack.physical[logical_id]["Ref"]
    executions = []
    for page in sfn.get_paginator("list_executions").paginate(stateMachineArn=arn):
        executions += page["executions"]
    names = {cohort_id} | {execution_name(cohort_id, n) for n in range(1, len(executions) + 1)}
    return [e for e in executions if e["name"] in names]
