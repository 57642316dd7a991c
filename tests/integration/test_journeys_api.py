"""POST /journeys/{journey}/enrollments through the routes of template.yaml."""

from __future__ import annotations

from memberflow.journeys.entry import MAX_API_MEMBER_IDS
from memberflow.store import Member
from tests.integration.test_journeys_support import arm_ids, enrolment, make_member, messages


def test_api_enrols_a_cohort_under_the_same_rules_and_is_idempotent(stack):
    members = arm_ids("winback", "treatment", 3, "api-")
    for member_id in members:
        make_member(stack, member_id, stage="lapsed")
    erased = "api-erased"
    make_member(stack, erased, stage="lapsed").update(actions=[Member.erased.set(True)])
    body = {"member_ids": [*members, "nobody", erased], "cohort_key": "crm-2026-01"}
    response = stack.http("POST", "/journeys/winback/enrollments", body=body)
    assert response.status == 202, response.body
    result = response.json()
    assert result["cohort_id"] == "api-winback-crm-2026-01" and result["started"] is True
    assert sorted(result["enrolled"]) == sorted(members)
    assert result["skipped"] == [
        {"member_id": "nobody", "reason": "unknown_member"},
        {"member_id": erased, "reason": "erased"},
    ]
    stack.clock.wait_idle()
    again = stack.http("POST", "/journeys/winback/enrollments", body=body)
    assert again.status == 200 and again.json()["started"] is False
    assert sorted(again.json()["enrolled"]) == sorted(members)
    for member_id in members:
        assert [m.step for m in messages(member_id)] == ["offer"]
        assert enrolment(member_id, "winback", "api-winback-crm-2026-01").status == "open"
    other = stack.http(
        "POST", "/journeys/winback/enrollments", body={"member_ids": members[:1]}
    ).json()
    assert other["skipped"] == [{"member_id": members[0], "reason": "reentry_window"}]


def test_api_refuses_bad_input_naming_the_field(stack):
    def post(path, body):
        response = stack.http("POST", path, body=body, headers={"Content-Type": "application/json"})
        return response.status, response.json()["error"]

    status, error = post("/journeys/loyalty_party/enrollments", {"member_ids": ["m1"]})
    assert status == 404 and error["field"] == "path:journey"
    status, error = post("/journeys/winback/enrollments", {"member_ids": "m1"})
    assert status == 400 and error["field"] == "member_ids"
    status, error = post("/journeys/winback/enrollments", {})
    assert status == 400 and error["field"] == "member_ids"
    status, error = post("/journeys/winback/enrollments", {"member_ids": ["m1", 7]})
    assert status == 400 and error["field"] == "member_ids[1]"
    ids = [f"m{i}" for i in range(MAX_API_MEMBER_IDS + 1)]
    status, error = post("/journeys/winback/enrollments", {"member_ids": ids})
    assert status == 413 and error["field"] == "member_ids"
    assert error["limit"] == MAX_API_MEMBER_IDS
    status, error = post(
        "/journeys/winback/enrollments", {"member_ids": ["m1"], "cohort_key": "a b"}
    )
    assert status == 400 and error["field"] == "cohort_key"
    status, error = post("/journeys/winback/enrollments", b"not json")
    assert status == 400 and error["field"] == "body"
    status, error = post("/journeys/winback/enrollments", b"[1, 2]")
    assert status == 400 and error["field"] == "body"
