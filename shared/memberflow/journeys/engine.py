"""The journey engine: what each state of the journey state machine does.

One Standard execution runs one pass of one cohort (architecture.md §2). The entry
(:mod:`~memberflow.journeys.cohorts`) pins the configuration and plans the first cursor;
each step runs over the cohort's shards (:mod:`~memberflow.journeys.steps`: the per-member
decisions of :mod:`~memberflow.journeys.decisions`, the sends of
:mod:`~memberflow.journeys.activities`); ``advance`` moves the cursor and starts the next
pass's execution; :mod:`~memberflow.journeys.closing` closes the enrolments. Members'
progress lives in enrolment items; the execution carries only ids and the cursor (no
personal data). The names other modules and tests use are re-exported here.
"""

from __future__ import annotations

import json
from datetime import datetime

from memberflow.journeys.channels import ChannelAdapters
from memberflow.journeys.closing import CLOSE_IN_ONE_TRANSACTION, _churn, _count, finalize
from memberflow.journeys.cohorts import (
    INDEX_BEHIND_RETRY_SECONDS,
    LISTED_COHORT_MAX,
    EnrolResult,
    _load_with_members,
    _membership,
    _new_cohort,
    enrol_cohort,
    shard_enrolments,
    shard_items,
)
from memberflow.journeys.decisions import (
    CONSENT_FOR_CHANNEL,
    CURSOR_MEMBER_IDS,
    DAY,
    MAP_CONCURRENCY,
    MEMBERS_PER_SHARD,
    SEND_RATE_PER_SECOND,
    SHARD_REPEATS,
    CohortState,
    _closing,
    _reached,
    closing_cursor,
    coupon_code,
    execution_name,
    goal_met,
    last_step_sent,
    pinned_config,
    plan_of,
    points_expiring,
    refusal,
    seconds_until_window,
    step_decision,
)
from memberflow.journeys.pacing import Budget, OutOfTime, Pacer, shard_rate
from memberflow.journeys.steps import (
    CLAIM_ATTEMPTS,
    MAX_MEMBER_ATTEMPTS,
    OUTCOMES,
    ConcurrentChange,
    StepRunner,
)
from memberflow.store import claims
from memberflow.store.enrolments import close_enrolment
from memberflow.store.journeys import (
    BATCH_GET,
    UnknownCohort,
    _recently_enrolled,
    _write_enrolments,
    enrolment_key,
    load_cohort,
    messages_in_window,
    read_enrolments_and_members,
    read_members,
)


def plan(cohort_id: str) -> dict:
    cohort, pinned = load_cohort(cohort_id)
    return plan_of(CohortState.of(cohort), pinned)


def advance(cohort_id: str, cursor: dict, shard_results: list[dict]) -> dict:
    """Same step again (members waiting for their send window or a retry), or the next.

    Each pass runs in an execution of its own (architecture.md, "Journeys"): the cursor
    returned names the execution of the next pass."""
    following_pass = int(cursor.get("pass", 0)) + 1
    cursor = {
        **cursor,
        "pass": following_pass,
        "execution_name": execution_name(cohort_id, following_pass),
    }
    if "steps" in cursor:  # planned with its timings (cursors from before: read them)
        steps = [{"id": i, "wait_seconds": w} for i, w in cursor["steps"]]
        exit_seconds = int(cursor["exit_seconds"])
    else:
        _cohort, pinned = load_cohort(cohort_id)
        steps = [
            {"id": s["id"], "wait_seconds": int(s["wait_days"] * DAY)}
            for s in pinned["config"]["steps"]
        ]
        exit_seconds = int(pinned["config"]["exit_after_days"] * DAY)
    failed = sorted({int(r["shard"]) for r in shard_results if r.get("failed")})
    waiting = [r for r in shard_results if r.get("deferred") and not r.get("failed")]
    repeats = int(cursor.get("repeats", 0))
    if failed and repeats < SHARD_REPEATS:
        waits = [int(r["retry_in_seconds"]) for r in waiting] + [300 * 2**repeats]
        return {**cursor, "repeats": repeats + 1, "wait_seconds": max(60, min(waits))}
    failed_shards = sorted(set(cursor.get("failed_shards", [])) | set(failed))
    if any(r.get("unfinished") and not r.get("failed") for r in shard_results):
        # A shard ran out of its invocation's time: run the step again at once.
        return {**cursor, "wait_seconds": 0, "failed_shards": failed_shards}
    if waiting:
        wait = min(int(r["retry_in_seconds"]) for r in waiting)
        return {**cursor, "wait_seconds": max(60, wait), "failed_shards": failed_shards}
    following = cursor["step_index"] + 1
    if following < len(steps):
        return {
            **cursor,
            "step_index": following,
            "step": steps[following]["id"],
            "wait_seconds": steps[following]["wait_seconds"],
            "repeats": 0,
            "failed_shards": failed_shards,
        }
    return {
        **cursor,
        "done": True,
        "wait_seconds": exit_seconds,
        "failed_shards": failed_shards,
    }


def continue_cohort(cohort_id: str, cursor: dict, *, state_machine_arn: str, stepfunctions) -> dict:
    """Start the execution of the next pass (ids and the cursor only, never member data).

    Idempotent: the name comes from the cursor, which ``advance`` derives from its input
    alone, so a retried ``advance`` finds the execution already started."""
    if cursor.get("done") and not cursor.get("closing"):
        return {**cursor, "continued": False}
    try:
        stepfunctions.start_execution(
            stateMachineArn=state_machine_arn,
            name=cursor["execution_name"],
            input=json.dumps(
                {"cohort_id": cohort_id, "journey": cursor.get("journey"), "cursor": cursor},
                sort_keys=True,
            ),
        )
    except stepfunctions.exceptions.ExecutionAlreadyExists:
        pass  # a retry: the next pass is under way (or already finished)
    return {**cursor, "continued": True}


def run_pass(
    cohort_id: str,
    cursor: dict,
    *,
    channels: ChannelAdapters,
    now: datetime,
    budget: Budget,
    state_machine_arn: str,
    stepfunctions,
) -> dict:
    """One pass of a cohort of one shard, in one invocation (the state machines' ``RunPass``
    task): the step, ``advance``, then the next pass's execution, or, when nothing is left
    to wait for (the last step done, no exit window), the close. A cohort of one (a
    sign-up's welcome) so costs one Lambda invocation a pass instead of three (Map task,
    advance, finalize). Returns the next cursor; ``closed`` when the cohort is closed or its
    closing goes on in the execution just started."""
    runner = StepRunner(channels=channels, now=now, budget=budget)
    result = runner.run(
        cohort_id,
        int(cursor["step_index"]),
        0,
        flush=False,
        member_ids=cursor.get("member_ids"),
        journey=cursor.get("journey"),
    )
    shard_result = {
        "shard": result["shard"],
        "deferred": result["deferred"],
        "retry_in_seconds": result["retry_in_seconds"],
        "failed": False,
        "unfinished": result["unfinished"],
    }
    following = advance(cohort_id, cursor, [shard_result])
    if following.get("done") and int(following["wait_seconds"]) == 0:
        outcome = finalize(
            cohort_id, now, following.get("failed_shards") or [], budget, after=runner
        )
        if outcome.get("unfinished"):
            continue_cohort(
                cohort_id,
                closing_cursor(cohort_id, following),
                state_machine_arn=state_machine_arn,
                stepfunctions=stepfunctions,
            )
        return {**following, "closed": True, "result": result["counts"]}
    if runner.sent:
        claims.record_provider_ids(runner.sent)
    continued = continue_cohort(
        cohort_id, following, state_machine_arn=state_machine_arn, stepfunctions=stepfunctions
    )
    return {**continued, "closed": False, "result": result["counts"]}


__all__ = [
    "BATCH_GET",
    "CLAIM_ATTEMPTS",
    "CLOSE_IN_ONE_TRANSACTION",
    "CONSENT_FOR_CHANNEL",
    "CURSOR_MEMBER_IDS",
    "DAY",
    "INDEX_BEHIND_RETRY_SECONDS",
    "LISTED_COHORT_MAX",
    "MAP_CONCURRENCY",
    "MAX_MEMBER_ATTEMPTS",
    "MEMBERS_PER_SHARD",
    "OUTCOMES",
    "SEND_RATE_PER_SECOND",
    "SHARD_REPEATS",
    "Budget",
    "ConcurrentChange",
    "EnrolResult",
    "OutOfTime",
    "Pacer",
    "StepRunner",
    "UnknownCohort",
    "_churn",
    "close_enrolment",
    "_closing",
    "_count",
    "_load_with_members",
    "_membership",
    "_new_cohort",
    "_reached",
    "_recently_enrolled",
    "_write_enrolments",
    "advance",
    "closing_cursor",
    "continue_cohort",
    "coupon_code",
    "enrol_cohort",
    "enrolment_key",
    "execution_name",
    "finalize",
    "goal_met",
    "last_step_sent",
    "load_cohort",
    "messages_in_window",
    "pinned_config",
    "plan",
    "plan_of",
    "points_expiring",
    "read_enrolments_and_members",
    "read_members",
    "refusal",
    "run_pass",
    "seconds_until_window",
    "shard_enrolments",
    "shard_items",
    "shard_rate",
    "step_decision",
]
