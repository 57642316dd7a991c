"""Journeys at scale (``python -m bench.journeys --scale``): cohorts of 10,000 members
in time zones through the journey step's 300 s budget, and the execution-history bound."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass

from bench._metering import _journey_days, _make_members

# ---------------------------------------------------------------- scale: budgets and history
# 37 IANA zones, 37 distinct UTC offsets in January (half and quarter hours included): the
# send window opens at 37 different moments of the day.
ZONES = [
    "Pacific/Pago_Pago", "Pacific/Honolulu", "Pacific/Marquesas", "America/Anchorage",
    "America/Los_Angeles", "America/Denver", "America/Chicago", "America/New_York",
    "America/Caracas", "America/St_Johns", "America/Sao_Paulo", "Atlantic/South_Georgia",
    "Atlantic/Cape_Verde", "UTC", "Europe/Paris", "Africa/Cairo", "Europe/Moscow",
    "Asia/Tehran", "Asia/Dubai", "Asia/Kabul", "Asia/Karachi", "Asia/Kolkata",
    "Asia/Kathmandu", "Asia/Dhaka", "Asia/Yangon", "Asia/Bangkok", "Asia/Shanghai",
    "Australia/Eucla", "Asia/Tokyo", "Australia/Darwin", "Australia/Brisbane",
    "Australia/Lord_Howe", "Pacific/Noumea", "Pacific/Tarawa", "Pacific/Chatham",
    "Pacific/Tongatapu", "Pacific/Kiritimati",
]  # fmt: skip
HISTORY_LIMIT = 25_000  # Step Functions: events per execution


def history_bound(shards: int) -> int:
    """Most events one execution of a journey can record (docs/architecture.md, "Journeys at scale").

    One execution runs one pass: start 1, choice 2, plan task (or resume pass) T, choice 2,
    wait 2, the one-shard choice 2, then for a cohort of one shard the pass task T (whose
    failure falls back to the Map, so it is counted on top of it), map 4 + per shard
    (iteration 2 + task T + catch pass 2), advance T, choice 2, then succeed 2 or exit wait
    2 + finalize T, end 1. A Lambda task with every retry spent is T = 2 + 3 x 10 attempts
    (1 + 6 Lambda-error retries + 3 others) = 32. (A pass task that succeeds is followed by
    a choice 2 and the end of the same bounded tail instead of the Map and advance.)
    """
    task = 2 + 3 * 10
    one_task = task if shards == 1 else 0
    return (
        1 + 2 + task + 2 + 2 + 2 + one_task + 4 + shards * (2 + task + 2)
        + task + 2 + 2 + task + 1
    )  # fmt: skip


class PacerClock:
    """The journey step's time source in a scale run: the real monotonic clock plus the
    send pacer's sleeps, which are counted, not slept (at 14 messages a second, 10,000
    sends are 714 s of sleeping). Invocation times measured with it include them."""

    def __init__(self):
        self.slept = 0.0

    def clock(self) -> float:
        return time.monotonic() + self.slept

    def pause(self, seconds: float) -> None:
        self.slept += seconds


@dataclass
class ScaleRun:
    label: str
    members: int
    zones: int
    steps: int
    shards: int
    budget_s: float
    invocations: dict[str, int]
    largest_s: dict[str, float]
    executions: int
    largest_history: int
    total_history: int
    outcomes: dict[str, int]
    outcomes_by_arm: dict[str, int]
    sent: int
    seconds: float
    shard_rate: float = 0.0  # the fastest shard invocation's sends per second
    email_rate: float = 14.0  # the configured rate for all shards together

    @property
    def step_rate(self) -> float:
        """The step's rate if every shard running at once sent as fast as the fastest."""
        return self.shard_rate * min(self.shards, 40)

    def lines(self) -> list[str]:
        out = [
            f"{self.label}: {self.members:,} members in {self.zones} time zone(s), "
            f"{self.steps} step(s), {self.shards} shards, Lambda budget {self.budget_s:g} s; "
            f"{self.sent:,} messages sent, enrolments {self.outcomes}, {self.seconds:.0f} s"
        ]
        for action, largest in sorted(self.largest_s.items()):
            out.append(
                f"  largest '{action}' invocation {largest:,.2f} s of {self.budget_s:g} s "
                f"budget ({largest / self.budget_s:.0%}; {self.invocations[action]} invocations)"
            )
        out.append(
            f"  send rate: fastest shard {self.shard_rate:.2f}/s x {min(self.shards, 40)} shards "
            f"at once = {self.step_rate:.1f}/s against {self.email_rate:g}/s configured "
            f"({self.step_rate / self.email_rate:.0%})"
        )
        out.append(
            f"  largest execution history {self.largest_history:,} events of {HISTORY_LIMIT:,} "
            f"({self.largest_history / HISTORY_LIMIT:.2%}; {self.executions} executions); "
            f"baseline, all passes in one execution (the design before): about "
            f"{self.total_history:,} events ({self.total_history / HISTORY_LIMIT:.0%}, "
            f"{self.total_history / self.largest_history:.0f}x the largest now)"
        )
        return out


def _history_sizes(sfn, arns: list[str]) -> list[int]:
    sizes = []
    for arn in arns:
        count, token = 0, None
        while True:
            kwargs = {"executionArn": arn, "maxResults": 1000}
            if token:
                kwargs["nextToken"] = token
            page = sfn.get_execution_history(**kwargs)
            count += len(page["events"])
            token = page.get("nextToken")
            if not token:
                break
        sizes.append(count)
    return sizes


def scale_run(
    *,
    label: str,
    members: int,
    budget_s: float,
    zones: list[str] | None = None,
    steps: int | None = None,
    members_per_shard: int | None = None,
    email_rate: float | None = None,
    journey: str = "dormancy_recall",
) -> ScaleRun:
    """One cohort of ``members`` through ``journey`` (its first ``steps`` steps) on the
    local stack, with the journey step's Lambda budget set to ``budget_s``: every
    invocation of the journey function is timed (pacer sleeps counted), every execution
    of the cohort's chain has its history events counted."""
    import tempfile
    from pathlib import Path

    from memberflow.config import load_programme
    from memberflow.config.programme import default_document
    from memberflow_local.stack import LocalStack

    doc = default_document()
    if steps is not None:
        doc["journeys"][journey]["steps"] = doc["journeys"][journey]["steps"][:steps]
    if members_per_shard is not None:
        doc["messaging"]["members_per_shard"] = members_per_shard
    if email_rate is not None:
        doc["messaging"].setdefault("send_rate_per_second", {})["email"] = email_rate
    load_programme(json.dumps(doc))  # fails with the field if the edit is invalid
    with tempfile.TemporaryDirectory() as folder:
        programme_file = Path(folder) / "programme.json"
        programme_file.write_text(json.dumps(doc, ensure_ascii=False))
        with LocalStack(programme_file=str(programme_file)) as stack:
            return _scale_in(stack, label, members, budget_s, zones, journey)


STATE_MACHINES = {  # every journey runs on the one journey state machine
    "activation": "JourneyStateMachine",
    "dormancy_recall": "JourneyStateMachine",
    "winback": "JourneyStateMachine",
}


def _scale_in(stack, label, members, budget_s, zones, journey) -> ScaleRun:
    from memberflow.journeys import engine
    from memberflow.journeys.entry import JourneyEntry
    from memberflow.runtime import app_context
    from memberflow.store import Cohort, Enrolment

    stage = {"activation": "new", "dormancy_recall": "at_risk", "winback": "lapsed"}[journey]
    from memberflow_local.stack import LambdaContext

    pacer = PacerClock()
    saved = engine.Budget.clock, engine.Budget.pause
    saved_context = LambdaContext.get_remaining_time_in_millis
    stack.functions["JourneyStepFunction"].timeout = budget_s
    engine.Budget.clock, engine.Budget.pause = pacer.clock, pacer.pause

    # As in AWS, the time left counts down from the moment the invocation starts (the
    # local stack's context may report the whole Timeout throughout). Invocations take
    # turns, so the one running is the one ``timed`` started last.
    turn = {"started": pacer.clock()}

    def remaining(context):
        left = context.timeout_seconds - (pacer.clock() - turn["started"])
        return max(0, int(left * 1000))

    LambdaContext.get_remaining_time_in_millis = remaining
    original_invoke = stack.invoke
    original_wait = stack.clock.wait_idle
    largest: dict[str, float] = {}
    invocations: dict[str, int] = {}
    rates: list[float] = []

    def timed(logical_id, event):
        if logical_id != "JourneyStepFunction":
            return original_invoke(logical_id, event)
        # Invocations take turns on the local stack (docs/local-stack.md): time this one
        # from the moment it holds the turn, so other shards' sleeps are not counted.
        with stack._invocation_lock:
            started = turn["started"] = pacer.clock()
            result = None
            try:
                result = original_invoke(logical_id, event)
                return result
            finally:
                took = pacer.clock() - started
                action = event.get("action", "?")
                largest[action] = max(largest.get(action, 0.0), took)
                invocations[action] = invocations.get(action, 0) + 1
                sent = (result or {}).get("counts", {}).get("sent", 0) if action == "step" else 0
                if sent >= 2:  # n sends take at least n - 1 pacing intervals
                    rates.append((sent - 1) / took)

    stack.invoke = timed
    # a pass over thousands of members takes minutes on moto: let advance() wait for it
    stack.clock.wait_idle = lambda timeout=3600: original_wait(timeout=timeout)
    try:
        ids = [f"{label}-{i:06d}" for i in range(members)]
        _make_members(ids, stage, stack.clock.now(), zones)
        started = time.perf_counter()
        cohort_id = f"{journey}-{label}"
        JourneyEntry(app_context()).enrol(journey, ids, cohort_id=cohort_id)
        config = app_context().programme.journey(journey)
        stack.advance(days=_journey_days(config) + 2)
        seconds = time.perf_counter() - started
        sfn = stack.client("stepfunctions")
        arn = stack.physical[STATE_MACHINES[journey]]["Ref"]
        executions = [
            e
            for page in sfn.get_paginator("list_executions").paginate(stateMachineArn=arn)
            for e in page["executions"]
        ]
        histories = _history_sizes(sfn, [e["executionArn"] for e in executions])
        cohort = Cohort.get(cohort_id, consistent_read=True)
        outcomes: dict[str, int] = {}
        arms: dict[str, int] = {}
        sent = 0
        for shard in range(int(cohort.shards)):
            for enrolment in Enrolment.cohort_index.query(f"COHORT#{cohort_id}#{shard}"):
                outcomes[enrolment.status] = outcomes.get(enrolment.status, 0) + 1
                arms[enrolment.arm] = arms.get(enrolment.arm, 0) + 1
                sent += int(enrolment.messages_sent or 0)
        not_succeeded = sum(e["status"] != "SUCCEEDED" for e in executions)
        if not_succeeded:
            outcomes["executions_not_succeeded"] = not_succeeded
        return ScaleRun(
            label=label,
            members=members,
            zones=len(set(zones or [])) or 1,
            steps=len(config["steps"]),
            shards=int(cohort.shards),
            budget_s=budget_s,
            invocations=invocations,
            largest_s=largest,
            executions=len(executions),
            largest_history=max(histories),
            total_history=sum(histories),
            outcomes=outcomes,
            outcomes_by_arm=arms,
            sent=sent,
            seconds=seconds,
            shard_rate=max(rates, default=0.0),
            email_rate=float(
                app_context().programme.messaging.get("send_rate_per_second", {}).get("email", 14)
            ),
        )
    finally:
        stack.invoke = original_invoke
        stack.clock.wait_idle = original_wait
        engine.Budget.clock, engine.Budget.pause = saved
        LambdaContext.get_remaining_time_in_millis = saved_context


def scale(members: int = 10_000, zone_members: int = 1_000) -> bool:
    """`make bench`: the 10,000-member step and the 37-zone journey inside their budgets."""
    from memberflow_local.template import Template

    budget = Template().functions["JourneyStepFunction"].timeout  # 300 s in template.yaml
    print("\nscale on the local stack (Lambda time = handler time + pacer sleeps, counted):")
    ok = True
    for start in (
        lambda: scale_run(label="cohort", members=members, budget_s=budget, steps=1),
        lambda: scale_run(label="zones", members=zone_members, budget_s=budget, zones=ZONES),
    ):
        run = start()
        for line in run.lines():
            print(line, flush=True)
        ok &= max(run.largest_s.values()) <= run.budget_s
        ok &= run.largest_history <= HISTORY_LIMIT and "open" not in run.outcomes
        ok &= "executions_not_succeeded" not in run.outcomes
        ok &= run.step_rate <= run.email_rate
        ok &= run.largest_history <= history_bound(run.shards)
    return ok
