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
import time
from dataclasses import dataclass

from bench._journey_calls import CALLS_TARGET, calls
from bench._journey_scale import scale
from bench._metering import Counter, Meter, _journey_days, _make_members

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


# ---------------------------------------------------------------- counting


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
