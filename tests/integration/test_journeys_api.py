"""Journey entry over the API (template.yaml's routes, on the local stack).

``POST /journeys/{journey}/enrollments`` records the request and answers 202 at once;
the cohort entry function (an asynchronous invocation) enrols it; ``GET
/journeys/{journey}/enrollments/{cohort_id}`` reports it.
"""

from __future__ import annotations

import sys
import threading
from collections import Counter

from botocore.client import BaseClient
from botocore.exceptions import ClientError

from memberflow.journeys.entry import MAX_API_MEMBER_IDS
from memberflow.runtime import app_context
from memberflow.store import Cohort, Enrolment, Member
from memberflow_local.stack import LocalStack
from tests.integration.test_journeys_support import (
    arm_ids,
    enrolment,
    make_member,
    messages,
    programme_file,
)

PATH = "/journeys/winback/enrollments"


def _status(stack, cohort_id: str, journey: str = "winback") -> dict:
    response = stack.http("GET", f"/journeys/{journey}/enrollments/{cohort_id}")
    assert response.status == 200, response.body
    return response.json()


def test_api_answers_202_at_once_and_the_cohort_is_enrolled_asynchronously(stack):
    members = arm_ids("winback", "treatment", 3, "api-")
    for member_id in members:
        make_member(stack, member_id, stage="lapsed")
    erased = "api-erased"
    make_member(stack, erased, stage="lapsed").update(actions=[Member.erased.set(True)])
    churned = make_member(stack, "api-churned", stage="churned").member_id
    suppressed = make_member(stack, "api-suppressed", stage="lapsed").member_id
    answer = stack.http("PUT", f"/members/{suppressed}/suppression", body={"suppressed": True})
    assert answer.status == 200 and answer.json()["suppressed"] is True
    body = {"member_ids": [*members, "nobody", erased, churned, suppressed]}

    response = stack.http("POST", PATH, body=body, headers={"Idempotency-Key": "crm-2026-01"})
    assert response.status == 202, response.body
    accepted = response.json()
    cohort_id = "api-winback-crm-2026-01"
    # The request only records the cohort: nobody is enrolled inside it.
    assert accepted["cohort_id"] == cohort_id and accepted["status"] == "accepted"
    assert accepted["enrolled"] == [] and accepted["requested"] == len(body["member_ids"])
    assert response.headers["Location"] == f"{PATH}/{cohort_id}"
    assert "CohortEntryFunction" not in stack.invocations or accepted["started"] is False

    stack.clock.wait_idle()
    assert stack.invocations["CohortEntryFunction"] == 1
    status = _status(stack, cohort_id)
    assert status["status"] == "enrolled" and status["started"] is True
    assert status["enrolled"] == members
    assert status["refused"] == [
        {"member_id": "nobody", "reason": "unknown_member"},
        {"member_id": erased, "reason": "erased"},
        {"member_id": churned, "reason": "churned"},
        {"member_id": suppressed, "reason": "suppressed"},
    ]
    for member_id in members:
        assert [m.step for m in messages(member_id)] == ["offer"]
        assert enrolment(member_id, "winback", cohort_id).status == "open"
    for member_id in (churned, suppressed):
        assert messages(member_id) == []

    # The client's retry (its first answer lost): the same cohort, nothing done twice.
    again = stack.http("POST", PATH, body=body, headers={"Idempotency-Key": "crm-2026-01"})
    assert again.status == 200 and again.json() == status
    stack.clock.wait_idle()
    assert stack.invocations["CohortEntryFunction"] == 1
    # The same key with other members is another request: refused, nothing changed.
    other = stack.http(
        "POST", PATH, body={"member_ids": members[:1]}, headers={"Idempotency-Key": "crm-2026-01"}
    )
    assert other.status == 409 and other.json()["error"]["field"] == "cohort_key"
    assert _status(stack, cohort_id) == status
    # cohort_key in the body is the same key.
    same = stack.http("POST", PATH, body={**body, "cohort_key": "crm-2026-01"})
    assert same.status == 200 and same.json()["cohort_id"] == cohort_id


def test_a_retry_without_a_key_names_the_same_cohort_not_a_second_one(stack, monkeypatch):
    """Before: the generated key held the current second, so a retry after a 504 made a
    second cohort whose members were all skipped as ``reentry_window``."""
    members = arm_ids("winback", "treatment", 2, "retry-")
    for member_id in members:
        make_member(stack, member_id, stage="lapsed")
    # The hand-off fails (Lambda throttled): recorded, not enrolled, and a retry recovers.
    api = sys.modules[stack.handler("JourneyApiFunction").__module__]
    throttled = ClientError({"Error": {"Code": "TooManyRequestsException"}}, "Invoke")
    with monkeypatch.context() as patched:
        patched.setattr(api, "_hand_off", lambda _cohort_id: (_ for _ in ()).throw(throttled))
        failed = stack.http("POST", PATH, body={"member_ids": members})
    assert failed.status == 503 and "error" in failed.json()
    stack.clock.wait_idle()
    assert "CohortEntryFunction" not in stack.invocations
    first = stack.http("POST", PATH, body={"member_ids": members})
    assert first.status == 202, first.body
    cohort_id = first.json()["cohort_id"]
    stack.advance(hours=1)  # the client retries later, the ids in another order
    retry = stack.http("POST", PATH, body={"member_ids": list(reversed(members))})
    assert retry.status == 200 and retry.json()["cohort_id"] == cohort_id
    assert retry.json()["enrolled"] == members and retry.json()["refused"] == []
    assert [c.cohort_id for c in Cohort.scan()] == [cohort_id]
    # A different request is a new cohort, under the journey's re-entry rule.
    later = stack.http("POST", PATH, body={"member_ids": members[:1]})
    assert later.status == 202 and later.json()["cohort_id"] != cohort_id
    stack.clock.wait_idle()
    assert _status(stack, later.json()["cohort_id"])["refused"] == [
        {"member_id": members[0], "reason": "reentry_window"}
    ]


def test_a_cohort_of_1000_is_enrolled_in_batches(monkeypatch, tmp_path):
    """1,000 ids: a few tens of batched DynamoDB calls, not thousands of single ones."""

    def first_nudge_tomorrow(doc):  # the execution then parks: the test measures entry
        doc["journeys"]["activation"]["steps"][0]["wait_days"] = 1

    with LocalStack(programme_file=str(programme_file(tmp_path, first_nudge_tomorrow))) as stack:
        _enrol_1000(stack, monkeypatch)


def _enrol_1000(stack, monkeypatch):
    app_context()  # binds the tables
    ids = [f"big-{i:04d}" for i in range(MAX_API_MEMBER_IDS)]
    dynamodb = stack.client("dynamodb")
    for start in range(0, len(ids), 25):  # minimal items: entry reads stage and flags only
        dynamodb.batch_write_item(
            RequestItems={
                Member.Meta.table_name: [
                    {"PutRequest": {"Item": {"member_id": {"S": m}, "stage": {"S": "new"}}}}
                    for m in ids[start : start + 25]
                ]
            }
        )
    calls: Counter = Counter()
    entered: list = []
    original = BaseClient._make_api_call

    def counted(client, operation, params):
        # The API request, then the cohort entry function (the journey's steps excluded).
        worker = threading.current_thread().name == "async-CohortEntryFunction"
        if client.meta.service_model.service_name == "dynamodb" and (worker or not entered):
            calls[operation] += 1
        return original(client, operation, params)

    monkeypatch.setattr(BaseClient, "_make_api_call", counted)
    response = stack.http("POST", "/journeys/activation/enrollments", body={"member_ids": ids})
    assert response.status == 202, response.body
    assert sum(calls.values()) <= 5  # the request is only recorded
    entered.append(True)
    stack.clock.wait_idle()
    monkeypatch.setattr(BaseClient, "_make_api_call", original)
    status = _status(stack, response.json()["cohort_id"], "activation")
    assert status["status"] == "enrolled" and len(status["enrolled"]) == MAX_API_MEMBER_IDS
    assert calls["BatchGetItem"] <= 2 * (MAX_API_MEMBER_IDS // 100) + 2
    assert calls["TransactWriteItems"] <= MAX_API_MEMBER_IDS // 99 + 1
    assert calls["PutItem"] <= 1 and calls["GetItem"] < 10
    assert calls["Query"] <= MAX_API_MEMBER_IDS  # the re-entry rule: one per member
    cohort = status["cohort_id"]
    key = f"activation#{cohort}"
    assert sum(1 for _ in Enrolment.batch_get([(m, key) for m in ids])) == MAX_API_MEMBER_IDS


def test_api_refuses_bad_input_naming_the_field(stack):
    def post(path, body, headers=None):
        response = stack.http(
            "POST", path, body=body, headers={"Content-Type": "application/json", **(headers or {})}
        )
        return response.status, response.json()["error"]

    status, error = post("/journeys/loyalty_party/enrollments", {"member_ids": ["m1"]})
    assert status == 404 and error["field"] == "path:journey"
    status, error = post(PATH, {"member_ids": "m1"})
    assert status == 400 and error["field"] == "member_ids"
    status, error = post(PATH, {})
    assert status == 400 and error["field"] == "member_ids"
    status, error = post(PATH, {"member_ids": ["m1", 7]})
    assert status == 400 and error["field"] == "member_ids[1]"
    ids = [f"m{i}" for i in range(MAX_API_MEMBER_IDS + 1)]
    status, error = post(PATH, {"member_ids": ids})
    assert status == 413 and error["field"] == "member_ids"
    assert error["limit"] == MAX_API_MEMBER_IDS
    status, error = post(PATH, {"member_ids": ["m1"], "cohort_key": "a b"})
    assert status == 400 and error["field"] == "cohort_key"
    status, error = post(PATH, {"member_ids": ["m1"]}, {"Idempotency-Key": "a b"})
    assert status == 400 and error["field"] == "header:Idempotency-Key"
    status, error = post(PATH, {"member_ids": ["m1"], "cohort_key": "a"}, {"Idempotency-Key": "b"})
    assert status == 400 and error["field"] == "header:Idempotency-Key"
    status, error = post(PATH, b"not json")
    assert status == 400 and error["field"] == "body"
    status, error = post(PATH, b"[1, 2]")
    assert status == 400 and error["field"] == "body"
    status, error = post(PATH, b"[" * 50_000 + b"]" * 50_000)  # deep, within 128 KiB
    assert status == 400 and error["field"] == "body"
    status, error = post(PATH, b'{"member_ids": [' + b"9" * 5000 + b"]}")
    assert status == 400 and error["field"] == "body"
    # Nothing was recorded, and the next good request works.
    assert list(Cohort.scan()) == []
    assert stack.http("GET", f"{PATH}/api-winback-nope").status == 404
    assert stack.http("POST", PATH, body={"member_ids": ["m1"]}).status == 202


def test_batched_enrolment_keeps_a_concurrent_runs_enrolments_and_stops_at_a_started_cohort(
    stack,
):
    """The transactions' conditions, as DynamoDB reports them (CancellationReasons)."""
    from memberflow.journeys.engine import _new_cohort, _write_enrolments, enrolment_key

    programme = app_context().programme
    now = stack.clock.now()
    cohort = _new_cohort(programme, "winback", "race", 3, now)
    key = enrolment_key("winback", "race")

    def item(member_id):
        return Enrolment(
            member_id=member_id,
            enrolment_key=key,
            cohort_shard="COHORT#race#0",
            journey="winback",
            cohort_id="race",
            config_version=cohort.config_version,
            arm="treatment",
            entered_at=now,
            status="open",
        )

    taken = item("m-b")
    taken.status = "converted"  # a concurrent run enrolled it, and it has moved on since
    taken.save()
    enrolled, late = _write_enrolments(cohort, [item("m-a"), item("m-b"), item("m-c")])
    assert (sorted(enrolled), late) == (["m-a", "m-b", "m-c"], [])
    assert Enrolment.get("m-b", key, consistent_read=True).status == "converted"  # kept
    cohort.update(actions=[Cohort.execution_arn.set("arn:started")])
    assert _write_enrolments(cohort, [item("m-d"), item("m-e")]) == ([], ["m-d", "m-e"])
    assert Enrolment.count("m-d") == 0
