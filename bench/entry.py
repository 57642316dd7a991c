"""API journey entry and the KPI route, on the local stack.

1. ``POST /journeys/{journey}/enrollments`` with 1,000 ids: the request's own time and
   DynamoDB calls (it only records the cohort), and the cohort entry function's (the
   batched enrolment), against a baseline measured in the same run: the same 1,000
   members enrolled one at a time (a read of the enrolment, one of the member, the
   re-entry Query and a conditional put each), which is what the request did before.
2. ``GET /reports/kpis`` (one snapshot item) against a full recomputation of the KPIs
   (what the route did before), on the same store.

``python -m bench entry [members]`` (default 1,000; at most the API's 1,000 per request).
"""

from __future__ import annotations

import sys
import threading
import time
from collections import Counter

from botocore.client import BaseClient


class Calls:
    """DynamoDB calls per scope (the thread that makes them)."""

    def __init__(self):
        self.counts: dict[str, Counter] = {}
        self.scope = threading.local()
        self._original = BaseClient._make_api_call

    def __enter__(self):
        calls, original = self, self._original

        def counted(client, operation, params):
            scope = getattr(calls.scope, "name", None) or threading.current_thread().name
            if client.meta.service_model.service_name == "dynamodb":
                calls.counts.setdefault(scope, Counter())[operation] += 1
            return original(client, operation, params)

        BaseClient._make_api_call = counted
        return self

    def __exit__(self, *exc):
        BaseClient._make_api_call = self._original

    def total(self, scope: str) -> int:
        return sum(self.counts.get(scope, Counter()).values())


def _members(stack, ids: list[str]) -> None:
    dynamodb = stack.client("dynamodb")
    from memberflow.store import Member

    at = {"S": Member.created_at.serialize(stack.clock.now())}
    base = {"stage": {"S": "new"}, "stage_reason": {"S": "bench"}, "tier": {"S": "base"}}
    base |= {"created_at": at, "stage_changed_at": at, "joined_at": at}
    for start in range(0, len(ids), 25):
        dynamodb.batch_write_item(
            RequestItems={
                Member.Meta.table_name: [
                    {"PutRequest": {"Item": {"member_id": {"S": m}, **base}}}
                    for m in ids[start : start + 25]
                ]
            }
        )


def _one_at_a_time(ids: list[str], journey: str, cohort_id: str, now) -> None:
    """The baseline: the per-member enrolment the API request ran before (no start)."""
    from pynamodb.exceptions import DoesNotExist, PutError

    from memberflow.journeys.engine import _recently_enrolled, enrolment_key
    from memberflow.members.service import get_member
    from memberflow.store import Enrolment

    key = enrolment_key(journey, cohort_id)
    for member_id in ids:
        try:
            Enrolment.get(member_id, key)
            continue
        except DoesNotExist:
            pass
        member = get_member(member_id)
        if member is None or _recently_enrolled(member_id, journey, 90, now):
            continue
        try:
            Enrolment(
                member_id=member_id,
                enrolment_key=key,
                cohort_shard=f"COHORT#{cohort_id}#0",
                journey=journey,
                cohort_id=cohort_id,
                config_version="bench",
                arm="treatment",
                entered_at=now,
                status="open",
            ).save(condition=Enrolment.enrolment_key.does_not_exist())
        except PutError:
            pass


def main(argv: list[str]) -> int:
    from memberflow.reports.kpis import compute_kpis
    from memberflow.runtime import app_context
    from memberflow_local.stack import LocalStack

    size = min(int(argv[0]) if argv else 1000, 1000)
    with LocalStack() as stack, Calls() as calls:
        app_context()
        ids = [f"bench-{i:04d}" for i in range(size)]
        _members(stack, ids)
        # Baseline: the same members, one at a time, into another journey.
        calls.scope.name = "baseline"
        started = time.perf_counter()
        _one_at_a_time(ids, "dormancy_recall", "bench-baseline", stack.clock.now())
        baseline = time.perf_counter() - started
        # The cohort entry function runs on its own thread: time each invocation alone.
        original = stack.invoke
        timed: dict[str, float] = {}

        def invoke(logical_id, event):
            began = time.perf_counter()
            try:
                return original(logical_id, event)
            finally:
                timed[logical_id] = timed.get(logical_id, 0) + time.perf_counter() - began

        stack.invoke = invoke
        calls.scope.name = "request"
        started = time.perf_counter()
        response = stack.http("POST", "/journeys/activation/enrollments", body={"member_ids": ids})
        request = time.perf_counter() - started
        calls.scope.name = None
        assert response.status == 202, response.body
        stack.clock.wait_idle(timeout=3600)
        stack.invoke = original
        worker = "async-CohortEntryFunction"
        status = stack.http(
            "GET", f"/journeys/activation/enrollments/{response.json()['cohort_id']}"
        ).json()
        assert len(status["enrolled"]) == size, status["refused"][:3]
        entry_seconds = timed.get("CohortEntryFunction", float("nan"))
        print(f"API entry of {size:,} member ids (local stack, moto)")
        print(f"  {'path':<44} {'seconds':>8} {'DynamoDB calls':>15}")
        print(
            f"  {'baseline: one member at a time (before)':<44} {baseline:>8.2f} "
            f"{calls.total('baseline'):>15,}"
        )
        print(
            f"  {'POST: record the request (answers 202)':<44} {request:>8.2f} "
            f"{calls.total('request'):>15,}"
        )
        print(
            f"  {'CohortEntryFunction: batched enrolment':<44} {entry_seconds:>8.2f} "
            f"{calls.total(worker):>15,}"
        )
        print(f"    calls by operation: {dict(calls.counts.get(worker, {}))}")
        print(
            f"  request / baseline: {request / baseline:.3f} of the time, "
            f"{calls.total('request') / calls.total('baseline'):.4f} of the calls; "
            f"batched enrolment / baseline: {entry_seconds / baseline:.2f} of the time, "
            f"{calls.total(worker) / calls.total('baseline'):.2f} of the calls"
        )

        programme = app_context().programme
        started = time.perf_counter()
        compute_kpis(programme, stack.clock.now())
        full = time.perf_counter() - started
        assert stack.http("POST", "/reports/kpis/snapshots").status == 202
        stack.clock.wait_idle(timeout=3600)
        calls.scope.name = "route"
        started = time.perf_counter()
        assert stack.http("GET", "/reports/kpis").status == 200
        route = time.perf_counter() - started
        calls.scope.name = None
        print(f"GET /reports/kpis on a store of {size:,} members and {2 * size:,} enrolments")
        print(
            f"  full recomputation (before): {full:.3f}s · the route: {route:.3f}s "
            f"({calls.total('route')} DynamoDB call): {full / route:,.0f}x faster"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
