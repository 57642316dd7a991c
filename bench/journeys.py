"""Journey engine cost: one execution per cohort vs one Standard execution per member.

Runs real cohorts through the real state machines on the embedded local stack (virtual
clock) and *counts*:

* state transitions: ``*StateEntered`` events in every execution's history;
* Lambda invocations: ``LocalStack.invocations`` per function;
* DynamoDB requests and request units: every DynamoDB call the journey functions make
  passes a botocore hook here; units are computed from the items each call read or
  wrote (DynamoDB's rules: reads 4 KB units, halved when eventually consistent; writes
  1 KB units; a write to the enrolments table also writes its ALL-projected GSI).

The baseline is the same ASL run with one member per execution (a cohort of one, 1
shard): what "one Standard execution per member" costs, measured, not assumed.

From those counts: the AWS cost per million members entering a journey, and the monthly
cost and open executions of a programme (assumptions printed with the figures).

    python -m bench journeys                      # cohorts of 1,000 and 10,000
    python -m bench.journeys --sizes 1000,5000 --journeys dormancy_recall
"""

from __future__ import annotations

import argparse
import json
import math
import os
import threading
import time
from dataclasses import dataclass, field

# ---------------------------------------------------------------- published prices
# AWS us-east-1 list prices, read 2025-06 (pricing pages of each service).
PRICES = {
    "date": "2025-06 (us-east-1 list prices)",
    # Step Functions Standard: $0.025 per 1,000 state transitions.
    "sfn_per_transition": 0.025 / 1_000,
    # Lambda: $0.20 per 1M requests; arm64 duration $0.0000133334 per GB-second
    # (first 7.5 billion GB-s per month).
    "lambda_per_request": 0.20 / 1_000_000,
    "lambda_per_gb_second": 0.0000133334,
    # DynamoDB on-demand since 2024-11-01: $0.625 per million write request units,
    # $0.125 per million read request units (before: $1.25 / $0.25).
    "ddb_per_wru": 0.625 / 1_000_000,
    "ddb_per_rru": 0.125 / 1_000_000,
}
# Lambda duration is not measurable on moto; it is modelled from the counted calls:
# a fixed overhead per invocation plus a typical in-region latency per DynamoDB request
# and per channel call (SES/SNS/EventBridge). Stated, not hidden.
DURATION_MODEL = {"per_invocation_s": 0.015, "per_dynamodb_request_s": 0.004, "per_send_s": 0.030}

# ---------------------------------------------------------------- programme model
# Default churn / entry rates for the open-executions and monthly-cost model (share of
# the member base entering each journey per month). Assumptions, from domain.md's seeds:
# 2 %/month sign-ups (welcome), 60 % of them not activated after 7 days (activation),
# 5 %/month become at_risk (dormancy recall), 3 %/month become lapsed (win-back).
MONTHLY_ENTRY = {
    "welcome": 0.02,
    "activation": 0.02 * 0.6,
    "dormancy_recall": 0.05,
    "winback": 0.03,
}
AWS_OPEN_EXECUTION_QUOTA = 1_000_000

READS = {"GetItem", "Query", "Scan", "BatchGetItem", "TransactGetItems"}
WRITES = {"PutItem", "UpdateItem", "DeleteItem", "BatchWriteItem", "TransactWriteItems"}


# ---------------------------------------------------------------- counting
def _size(value) -> int:
    """DynamoDB item size rules (attribute names + values), close enough to the byte."""
    ((kind, inner),) = value.items()
    if kind == "S":
        return len(inner.encode())
    if kind == "N":
        return len(inner.strip("-").replace(".", "")) // 2 + 2
    if kind == "B":
        return len(inner)
    if kind in ("BOOL", "NULL"):
        return 1
    if kind in ("SS", "NS", "BS"):
        return sum(len(str(v)) for v in inner)
    if kind == "L":
        return 3 + sum(1 + _size(v) for v in inner)
    if kind == "M":
        return 3 + sum(1 + len(k.encode()) + _size(v) for k, v in inner.items())
    return 1


def item_size(item: dict | None) -> int:
    if not item:
        return 0
    return sum(len(name.encode()) + _size(value) for name, value in item.items())


@dataclass
class Counter:
    requests: dict[str, int] = field(default_factory=dict)
    rru: float = 0.0
    wru: float = 0.0
    sends: int = 0
    # Every AWS call of any service ("dynamodb:GetItem", "ses:SendEmail", ...), failed
    # calls included: what a call budget counts. ``requests`` is DynamoDB's alone.
    calls: dict[str, int] = field(default_factory=dict)

    def add(self, other: Counter) -> None:
        for k, v in other.requests.items():
            self.requests[k] = self.requests.get(k, 0) + v
        for k, v in other.calls.items():
            self.calls[k] = self.calls.get(k, 0) + v
        self.rru += other.rru
        self.wru += other.wru
        self.sends += other.sends

    @property
    def total_requests(self) -> int:
        return sum(self.requests.values())

    @property
    def total_calls(self) -> int:
        return sum(self.calls.values())


class Meter:
    """Counts the AWS calls made inside a scope (botocore hook on every client): DynamoDB
    calls with their request units, and every call of every service in ``calls``."""

    def __init__(self, enrolments_table: str):
        self.enrolments_table = enrolments_table
        self.by_scope: dict[str, Counter] = {}
        self.local = threading.local()
        self.lock = threading.Lock()

    def scope(self) -> str | None:
        return getattr(self.local, "scope", None)

    def install(self):
        from botocore.client import BaseClient

        meter = self
        original = BaseClient._make_api_call

        def counted(client, operation_name, params):
            service = client.meta.service_model.service_name
            if meter.scope():
                meter.count_call(service, operation_name)
            response = original(client, operation_name, params)
            if service == "dynamodb" and meter.scope():
                meter.record(operation_name, params, response)
            return response

        BaseClient._make_api_call = counted
        return lambda: setattr(BaseClient, "_make_api_call", original)

    def record(self, op: str, params: dict, response: dict) -> None:
        rru = wru = 0.0
        table = params.get("TableName", "")
        gsi = 2 if table == self.enrolments_table else 1
        if op == "GetItem":
            units = max(1, math.ceil(item_size(response.get("Item")) / 4096))
            rru = units * (1 if params.get("ConsistentRead") else 0.5)
        elif op in ("Query", "Scan"):
            items = response.get("Items", [])
            scanned = response.get("ScannedCount", len(items))
            average = (sum(item_size(i) for i in items) / len(items)) if items else 200
            units = max(1, math.ceil(scanned * average / 4096))
            rru = units * (1 if params.get("ConsistentRead") else 0.5)
        elif op == "PutItem":
            wru = max(1, math.ceil(item_size(params.get("Item")) / 1024)) * gsi
        elif op == "UpdateItem":
            wru = max(1, math.ceil(item_size(response.get("Attributes")) / 1024)) * gsi
        elif op == "DeleteItem":
            wru = 1 * gsi
        elif op == "BatchWriteItem":
            for _table, requests in params.get("RequestItems", {}).items():
                for r in requests:
                    wru += max(1, math.ceil(item_size(r.get("PutRequest", {}).get("Item")) / 1024))
        elif op == "BatchGetItem":
            for items in response.get("Responses", {}).values():
                rru += sum(max(1, math.ceil(item_size(i) / 4096)) * 0.5 for i in items)
        elif op == "TransactWriteItems":
            wru = 2 * len(params.get("TransactItems", []))
        with self.lock:
            counter = self.by_scope.setdefault(self.scope(), Counter())
            counter.requests[op] = counter.requests.get(op, 0) + 1
            counter.rru += rru
            counter.wru += wru

    def count_call(self, service: str, operation: str) -> None:
        key = f"{service}:{operation}"
        with self.lock:
            calls = self.by_scope.setdefault(self.scope(), Counter()).calls
            calls[key] = calls.get(key, 0) + 1

    def take_scope(self, scope: str) -> Counter:
        """The counts of one scope (and forget them)."""
        with self.lock:
            return self.by_scope.pop(scope, Counter())

    def count_send(self) -> None:
        with self.lock:
            self.by_scope.setdefault(self.scope() or "journey", Counter()).sends += 1

    def take(self) -> Counter:
        with self.lock:
            total = Counter()
            for scope, counter in self.by_scope.items():
                if scope in ("journey", "enrol"):
                    total.add(counter)
            self.by_scope = {}
            return total


# ---------------------------------------------------------------- one measurement
@dataclass
class Measure:
    label: str
    members: int
    executions: int
    transitions: int
    invocations: int
    dynamo: Counter
    seconds: float

    def per_member(self) -> dict:
        n = self.members
        return {
            "transitions": self.transitions / n,
            "invocations": self.invocations / n,
            "ddb_requests": self.dynamo.total_requests / n,
            "rru": self.dynamo.rru / n,
            "wru": self.dynamo.wru / n,
            "sends": self.dynamo.sends / n,
        }

    def cost_per_million(self, memory_gb: float) -> dict:
        p = self.per_member()
        m = 1_000_000
        seconds = (
            p["invocations"] * DURATION_MODEL["per_invocation_s"]
            + p["ddb_requests"] * DURATION_MODEL["per_dynamodb_request_s"]
            + p["sends"] * DURATION_MODEL["per_send_s"]
        )
        parts = {
            "step_functions": p["transitions"] * m * PRICES["sfn_per_transition"],
            "lambda": p["invocations"] * m * PRICES["lambda_per_request"]
            + seconds * memory_gb * m * PRICES["lambda_per_gb_second"],
            "dynamodb": p["rru"] * m * PRICES["ddb_per_rru"] + p["wru"] * m * PRICES["ddb_per_wru"],
        }
        parts["total"] = sum(parts.values())
        return parts


def _journey_days(config: dict) -> float:
    return sum(s["wait_days"] for s in config["steps"]) + config["exit_after_days"]


def _make_members(
    ids: list[str], stage: str, now, zones: list[str] | None = None, shop: str | None = None
) -> None:
    """``shop``: the members are customers of this Shopify shop (the identity keys a
    sign-up keeps on the member), so a coupon step creates their codes there."""
    from memberflow.members.identity import identity_key
    from memberflow.members.service import new_member
    from memberflow.runtime import app_context
    from memberflow.store import Member

    programme = app_context().programme
    with Member.batch_write() as batch:
        for member_id in ids:
            member = new_member(
                programme=programme,
                now=now,
                stage=stage,
                reason="bench",
                email=f"{member_id}@example.com",
                member_id=member_id,
            )
            member.first_name = "Bench"
            member.consent.email = True
            member.points_balance = 250
            if zones:
                member.timezone = zones[int(member_id.rsplit("-", 1)[-1]) % len(zones)]
            if shop:
                number = int(member_id.rsplit("-", 1)[-1])
                member.shop_identities = [identity_key("shopify", shop, str(700_000 + number))]
            batch.save(member)


def _transitions(stack, execution_arns: list[str]) -> int:
    sfn = stack.client("stepfunctions")
    total = 0
    for arn in execution_arns:
        token = None
        while True:
            kwargs = {"executionArn": arn, "maxResults": 1000}
            if token:
                kwargs["nextToken"] = token
            page = sfn.get_execution_history(**kwargs)
            total += sum(1 for e in page["events"] if e["type"].endswith("StateEntered"))
            token = page.get("nextToken")
            if not token:
                break
    return total


def measure(
    journey: str, sizes: list[int], baseline_members: int
) -> tuple[list[Measure], Measure, float]:
    from memberflow.journeys.channels import ChannelAdapters
    from memberflow.journeys.entry import JourneyEntry
    from memberflow.runtime import app_context
    from memberflow_local.stack import LocalStack

    stage = {"activation": "new", "dormancy_recall": "at_risk", "winback": "lapsed"}[journey]
    results: list[Measure] = []
    with LocalStack() as stack:
        meter = Meter(stack.physical["EnrolmentsTable"]["Ref"])
        uninstall = meter.install()
        original_invoke = stack.invoke
        original_send = ChannelAdapters.send

        def invoke(logical_id, event):
            meter.local.scope = "journey" if logical_id == "JourneyStepFunction" else "other"
            try:
                return original_invoke(logical_id, event)
            finally:
                meter.local.scope = None

        def send(self, channel, message, **kwargs):
            meter.count_send()
            return original_send(self, channel, message, **kwargs)

        stack.invoke = invoke
        ChannelAdapters.send = send
        # a shard of hundreds of members takes minutes on moto: let advance() wait for it
        original_wait = stack.clock.wait_idle
        stack.clock.wait_idle = lambda timeout=3600: original_wait(timeout=timeout)
        try:
            config = app_context().programme.journey(journey)
            memory_gb = stack.functions["JourneyStepFunction"].memory / 1024
            days = _journey_days(config) + 1

            def run(label: str, cohorts: list[list[str]]) -> Measure:
                _make_members([m for c in cohorts for m in c], stage, stack.clock.now())
                meter.take()
                before = stack.invocations.get("JourneyStepFunction", 0)
                started = time.perf_counter()
                entry = JourneyEntry(app_context())
                arns = []
                meter.local.scope = "enrol"
                for i, ids in enumerate(cohorts):
                    result = entry.enrol(journey, ids, cohort_id=f"{journey}-{label}-{i}")
                    arns.append(result.execution_arn)
                meter.local.scope = None
                stack.advance(days=days)
                seconds = time.perf_counter() - started
                return Measure(
                    label=label,
                    members=sum(len(c) for c in cohorts),
                    executions=len(arns),
                    transitions=_transitions(stack, arns),
                    invocations=stack.invocations.get("JourneyStepFunction", 0) - before,
                    dynamo=meter.take(),
                    seconds=seconds,
                )

            baseline = run("per-member", [[f"base-{i:05d}"] for i in range(baseline_members)])
            for size in sizes:
                results.append(run(f"cohort{size}", [[f"c{size}-{i:06d}" for i in range(size)]]))
        finally:
            stack.invoke = original_invoke
            ChannelAdapters.send = original_send
            uninstall()
    return results, baseline, memory_gb


def extrapolate(largest: Measure, size: int) -> Measure:
    """A cohort of ``size`` from the largest measured one, stated as such.

    Shards grow with the cohort (``messaging.members_per_shard`` 250, at most 40), and so
    do the Map's transitions and invocations: they are scaled by the shard count (an
    over-estimate: plan, advance and finalize do not grow). DynamoDB work is per member,
    so it scales linearly. (The scale runs measure 10,000 members for real.)
    """

    def shards(members: int) -> int:
        return max(1, min(40, math.ceil(members / 250)))

    by_shards = shards(size) / shards(largest.members)
    factor = size / largest.members
    dynamo = Counter(
        requests={k: round(v * factor) for k, v in largest.dynamo.requests.items()},
        rru=largest.dynamo.rru * factor,
        wru=largest.dynamo.wru * factor,
        sends=round(largest.dynamo.sends * factor),
    )
    return Measure(
        label=f"cohort{size}*",
        members=size,
        executions=largest.executions,
        transitions=round(largest.transitions * by_shards),
        invocations=round(largest.invocations * by_shards),
        dynamo=dynamo,
        seconds=float("nan"),
    )


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


# ---------------------------------------------------------------- AWS calls per event
# Issue 13's figures before this work (same hook, same local stack) and its targets.
CALLS_BEFORE = {"welcome_execution": 27.6, "cohort_step_per_member": 5.5, "sweep_nobody_due": 128}
CALLS_TARGET = {"welcome_execution": 6, "cohort_step_per_member": 2, "sweep_nobody_due": 16}


class counting:
    """Counts every AWS call each function makes (scope ``<Function>:<action>``) and,
    outside any function, the calls Step Functions makes itself (its Lambda invocations of
    the journey step: scope ``None``)."""

    def __init__(self, stack):
        self.stack = stack
        self.meter = Meter(stack.physical["EnrolmentsTable"]["Ref"])

    def __enter__(self) -> Meter:
        meter, original = self.meter, self.stack.invoke
        self._uninstall = meter.install()
        self._original = original

        def invoke(logical_id, event, **kwargs):
            previous = meter.scope()
            action = event.get("action") if isinstance(event, dict) else None
            meter.local.scope = f"{logical_id}:{action}" if action else logical_id
            try:
                return original(logical_id, event, **kwargs)
            finally:
                meter.local.scope = previous

        self.stack.invoke = invoke
        return meter

    def __exit__(self, *exc) -> None:
        self.stack.invoke = self._original
        self._uninstall()


def _calls_of(meter: Meter, prefix: str) -> Counter:
    total = Counter()
    with meter.lock:
        for scope, counter in meter.by_scope.items():
            if scope and scope.startswith(prefix):
                total.add(counter)
    return total


def welcome_calls(stack, signups: int = 10) -> dict:
    """Shopify ``customers/create`` sign-ups through the webhook, then their whole welcome
    (welcome message, onboarding 2 days later, the close): the AWS calls per sign-up of
    the webhook handler, of the journey step function, and Step Functions' own Lambda
    invocations of it (each a billed Lambda request)."""
    from pathlib import Path

    from memberflow.webhooks.signing import shopify_headers

    sample = Path(__file__).resolve().parents[1] / "events/payloads/shopify/customers_create.json"
    secret = stack.webhook_secrets["SHOPIFY_WEBHOOK_SECRET"]
    before = stack.invocations.get("JourneyStepFunction", 0)
    sends_before = len(stack.outbox())
    with counting(stack) as meter:
        for i in range(signups):
            doc = json.loads(sample.read_bytes())
            doc["id"] = 7_000_000 + i
            doc["email"] = f"welcome-bench-{i}@example.com"
            body = json.dumps(doc).encode()
            headers = shopify_headers(
                secret, "customers/create", "memberflow-demo.myshopify.com", body, f"wb-{i}"
            )
            response = stack.http("POST", "/webhooks/shopify", body=body, headers=headers)
            if response.status != 200:
                raise RuntimeError(f"sign-up refused: {response.status} {response.body}")
        stack.clock.wait_idle()
        stack.advance(days=3)  # onboarding after 2 days, then the close (exit window 0)
        journey = _calls_of(meter, "JourneyStepFunction")
        webhook = _calls_of(meter, "WebhookFunction")
    invocations = stack.invocations.get("JourneyStepFunction", 0) - before
    return {
        "signups": signups,
        "sends": len(stack.outbox()) - sends_before,
        "journey_function_calls": journey.total_calls / signups,
        "step_functions_invocations": invocations / signups,
        "welcome_execution": (journey.total_calls + invocations) / signups,
        "webhook_handler": webhook.total_calls / signups,
        "journey_calls_by_operation": {k: v / signups for k, v in sorted(journey.calls.items())},
    }


def cohort_step_calls(
    stack, members: int = 100, journey: str = "dormancy_recall", shop: str | None = None
) -> dict:
    """A sweep-sized cohort through every step of ``journey``: the calls of the step
    invocations (the Map's shards, or a one-shard cohort's passes, which also start the
    next pass and close the cohort) per member and step, and of the whole journey.
    ``shop``: the members are customers of that local Shopify shop, whose coupon codes
    the coupon steps create there (issue 14); its HTTP requests are counted apart."""
    from memberflow.journeys.entry import JourneyEntry
    from memberflow.runtime import app_context

    stage = {"activation": "new", "dormancy_recall": "at_risk", "winback": "lapsed"}[journey]
    ids = [f"step-bench-{i:05d}" for i in range(members)]
    _make_members(ids, stage, stack.clock.now(), shop=shop)
    shop_before = stack.shops.requests(shop) if shop else 0
    config = app_context().programme.journey(journey)
    before = stack.invocations.get("JourneyStepFunction", 0)
    with counting(stack) as meter:
        JourneyEntry(app_context()).enrol(journey, ids, cohort_id=f"{journey}-step-bench")
        stack.advance(days=_journey_days(config) + 1)
        # a cohort of one shard runs each pass as one task ("pass": the step, then the
        # advance's start of the next pass, and the close); larger ones as a Map of "step"
        steps = _calls_of(meter, "JourneyStepFunction:step")
        steps.add(_calls_of(meter, "JourneyStepFunction:pass"))
        whole = _calls_of(meter, "JourneyStepFunction")
    invocations = stack.invocations.get("JourneyStepFunction", 0) - before
    per_step = len(config["steps"])
    return {
        "journey": journey,
        "members": members,
        "steps": per_step,
        "sends": steps.calls.get("ses:SendEmail", 0),
        "cohort_step_per_member": steps.total_calls / (members * per_step),
        "journey_per_member": (whole.total_calls + invocations) / members,
        "shop_requests": (stack.shops.requests(shop) - shop_before) if shop else 0,
        "shop_codes": len(stack.shops.codes(shop)) if shop else 0,
        "step_calls_by_operation": {
            k: v / (members * per_step) for k, v in sorted(steps.calls.items())
        },
    }


def sweep_calls(stack) -> dict:
    """The daily sweep on a day when nobody is due: its AWS calls."""
    with counting(stack) as meter:
        result = stack.invoke("SweepFunction", {})
        sweep = _calls_of(meter, "SweepFunction")
    return {
        "swept": result.get("swept"),
        "sweep_nobody_due": sweep.calls.get("dynamodb:Query", 0),
        "sweep_calls": sweep.total_calls,
        "sweep_calls_by_operation": dict(sorted(sweep.calls.items())),
    }


def calls() -> dict:
    """`python -m bench.journeys --calls`: each figure against issue 13's and its target."""
    from memberflow_local.stack import LocalStack

    figures: dict = {}
    with LocalStack() as stack:
        figures.update(sweep_calls(stack))
        figures.update(welcome_calls(stack))
    with LocalStack() as stack:
        figures.update(cohort_step_calls(stack))
    with LocalStack() as stack:  # the same cohort, customers of a shop that creates codes
        shop = cohort_step_calls(stack, shop="memberflow-demo.myshopify.com")
        figures["with_shop_codes"] = {
            k: shop[k] for k in ("cohort_step_per_member", "shop_requests", "shop_codes", "sends")
        }
    print("\nAWS calls (botocore hook on every client), before -> now (target):")
    for key, before in CALLS_BEFORE.items():
        now = figures[key]
        mark = "met" if now <= CALLS_TARGET[key] else "NOT met"
        print(
            f"  {key:>24}: {before:g} -> {now:.2f} (target <= {CALLS_TARGET[key]}, {mark}; "
            f"{before / now if now else float('inf'):.1f}x fewer)"
        )
    print(
        f"  welcome: journey function {figures['journey_function_calls']:.2f} + Step Functions' "
        f"Lambda invocations {figures['step_functions_invocations']:.2f}; the sign-up's webhook "
        f"handler {figures['webhook_handler']:.2f}"
    )
    print(f"  {figures['journey']} journey, per member: {figures['journey_per_member']:.2f} calls")
    codes = figures["with_shop_codes"]
    print(
        f"  with its coupons created in a Shopify shop: {codes['cohort_step_per_member']:.2f} "
        f"AWS calls a member and step, plus {codes['shop_requests']} shop HTTP requests for "
        f"{codes['shop_codes']} codes"
    )
    print(json.dumps(figures, indent=1, sort_keys=True))
    return figures


# ---------------------------------------------------------------- report
def _fmt(value: float) -> str:
    return f"{value:,.4f}" if value < 10 else f"{value:,.0f}"


def report(journey: str, results: list[Measure], baseline: Measure, memory_gb: float) -> dict:
    from memberflow.config import load_programme

    print(f"\njourney {journey}: counted on the local stack ({PRICES['date']})")
    header = f"{'run':>14} {'members':>8} {'execs':>6} {'transitions':>12} {'invocations':>12} {'ddb req':>9} {'RRU':>9} {'WRU':>9} {'secs':>6}"
    print(header)
    for m in [baseline, *results]:
        print(
            f"{m.label:>14} {m.members:>8} {m.executions:>6} {m.transitions:>12} "
            f"{m.invocations:>12} {m.dynamo.total_requests:>9} {m.dynamo.rru:>9.0f} "
            f"{m.dynamo.wru:>9.0f} {m.seconds:>6.1f}"
        )
    print("per member per journey:")
    for m in [baseline, *results]:
        p = m.per_member()
        print(
            f"{m.label:>14}: transitions {p['transitions']:.3f} · invocations {p['invocations']:.4f}"
            f" · DynamoDB {p['ddb_requests']:.2f} requests, {p['rru']:.2f} RRU, {p['wru']:.2f} WRU"
        )
    base_cost = baseline.cost_per_million(memory_gb)
    print("cost per million members through the journey (USD):")
    print(
        f"{'':>14} {'StepFunctions':>14} {'Lambda':>9} {'DynamoDB':>9} {'total':>9} {'vs baseline':>12}"
    )
    figures = {}
    for m in [baseline, *results]:
        c = m.cost_per_million(memory_gb)
        ratio = base_cost["total"] / c["total"]
        print(
            f"{m.label:>14} {c['step_functions']:>14.2f} {c['lambda']:>9.2f} {c['dynamodb']:>9.2f}"
            f" {c['total']:>9.2f} {ratio:>11.1f}x"
        )
        figures[m.label] = {"per_member": m.per_member(), "cost_per_million": c, "ratio": ratio}
    orchestration = [
        (base_cost["step_functions"] + base_cost["lambda"])
        / (
            m.cost_per_million(memory_gb)["step_functions"]
            + m.cost_per_million(memory_gb)["lambda"]
        )
        for m in results
    ]
    print(
        "orchestration only (Step Functions + Lambda, the part the execution model changes): "
        + ", ".join(
            f"{m.label} {r:.0f}x cheaper" for m, r in zip(results, orchestration, strict=True)
        )
    )
    # The stack is closed by now: the bundled programme the runs used, read directly.
    config = load_programme().journey(journey)
    return {"figures": figures, "days": _journey_days(config)}


def programme_model(per_journey: dict, members: int = 10_000_000) -> None:
    """Open executions and monthly cost of a programme, from the measured figures."""
    from memberflow.config import load_programme

    programme = load_programme()  # the bundled one the runs used (no stack is open)
    print(
        f"\nprogramme of {members:,} members, entry rates per month (assumed): "
        + ", ".join(f"{j} {r:.1%}" for j, r in MONTHLY_ENTRY.items())
    )
    cohort_open = base_open = 0.0
    for journey, rate in MONTHLY_ENTRY.items():
        config = programme.journey(journey)
        days = _journey_days(config) + max(0.0, 0)
        per_day = members * rate / 30
        if journey == "welcome":
            cohorts = per_day * days  # a cohort of one per sign-up (event-triggered)
        else:
            cohorts = 1 * days  # one cohort per journey per day (the sweep)
        cohort_open += cohorts
        base_open += per_day * days
        print(
            f"  {journey:>16}: {per_day:,.0f} entries/day x {days:g} days in journey -> "
            f"cohort model {cohorts:,.0f} open executions, per-member model {per_day * days:,.0f}"
        )
    print(
        f"  open executions: cohort model {cohort_open:,.0f}; one execution per member "
        f"{base_open:,.0f} (account quota {AWS_OPEN_EXECUTION_QUOTA:,}: "
        f"{'exceeded' if base_open > AWS_OPEN_EXECUTION_QUOTA else 'within'})"
    )
    per_million = 1_000_000
    cohort_month = base_month = 0.0
    for journey, data in per_journey.items():
        entries = per_million * MONTHLY_ENTRY[journey]
        daily = entries / 30
        # the measured cohort run closest to the programme's daily cohort size
        runs = {k: v for k, v in data["figures"].items() if k != "per-member"}
        label = min(runs, key=lambda k: abs(int(k.removeprefix("cohort").rstrip("*")) - daily))
        cohort_month += entries * runs[label]["cost_per_million"]["total"] / 1e6
        base_month += entries * data["figures"]["per-member"]["cost_per_million"]["total"] / 1e6
    print(
        f"monthly journey-engine cost per million members (measured journeys, entry rates above): "
        f"cohorts ${cohort_month:,.2f} vs one execution per member ${base_month:,.2f} "
        f"({base_month / cohort_month:.1f}x)"
    )


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="bench.journeys")
    parser.add_argument("--sizes", default=os.environ.get("BENCH_JOURNEY_SIZES", "100,1000"))
    parser.add_argument("--journeys", default="dormancy_recall")
    parser.add_argument("--baseline-members", type=int, default=20)
    parser.add_argument("--scale-members", type=int, default=10_000)
    parser.add_argument("--zone-members", type=int, default=1_000)
    parser.add_argument("--only-scale", action="store_true")
    parser.add_argument("--calls", action="store_true", help="only the AWS calls per event")
    args = parser.parse_args(argv)
    sizes = [int(s) for s in args.sizes.split(",") if s]
    import logging

    logging.disable(logging.INFO)
    os.environ.setdefault("POWERTOOLS_LOG_LEVEL", "WARNING")
    per_journey = {}
    if args.calls:
        figures = calls()
        return 0 if all(figures[k] <= t for k, t in CALLS_TARGET.items()) else 1
    scaled = scale(args.scale_members, args.zone_members)
    print(json.dumps({"scale_within_budgets": scaled}))
    if args.only_scale:
        return 0 if scaled else 1
    ok = True
    for journey in args.journeys.split(","):
        results, baseline, memory_gb = measure(journey, sizes, args.baseline_members)
        for target in (t for t in (10_000,) if t > max(sizes)):
            print(
                f"(cohort{target}* is extrapolated from cohort{max(sizes)}: moto is too slow "
                f"to run {target:,} members in a benchmark; see extrapolate())"
            )
            results.append(extrapolate(results[-1], target))
        per_journey[journey] = report(journey, results, baseline, memory_gb)
        ok &= all(
            f["ratio"] >= 20
            for k, f in per_journey[journey]["figures"].items()
            if k != "per-member"
        )
    programme_model(per_journey)
    print(json.dumps({"goal_20x_met": ok}))
    return 0


if __name__ == "__main__":
    import sys

    sys.exit(main(sys.argv[1:]))
