"""Suppression: churned members and members the operator suppresses get no marketing
journey through any entry path, and leave an open one at its next step; the welcome is
transactional; a churned member who buys again is eligible again."""

from __future__ import annotations

from memberflow.members.service import get_member
from memberflow.store import Member
from tests.integration.test_journeys_support import (
    arm_ids,
    enrol,
    enrolment,
    make_member,
    sent_steps,
)
from tests.integration.test_webhooks_support import Platforms, raw


def _suppress(stack, member_id: str, value: bool = True):
    return stack.http("PUT", f"/members/{member_id}/suppression", body={"suppressed": value})


def _api_entry(stack, journey: str, member_ids: list[str], key: str) -> dict:
    response = stack.http(
        "POST",
        f"/journeys/{journey}/enrollments",
        body={"member_ids": member_ids},
        headers={"Idempotency-Key": key},
    )
    assert response.status == 202, response.body
    stack.clock.wait_idle()
    status = stack.http("GET", f"/journeys/{journey}/enrollments/{response.json()['cohort_id']}")
    return status.json()


def test_the_sweeps_path_refuses_churned_and_suppressed_but_not_the_welcome(stack):
    """The sweep and sign-up enter journeys through the same enrolment as the API."""
    churned, suppressed, fine = arm_ids("dormancy_recall", "treatment", 3, "sw-")
    make_member(stack, churned, stage="churned")
    for member_id in (suppressed, fine):
        make_member(stack, member_id, stage="at_risk")
    assert _suppress(stack, suppressed).status == 200
    assert get_member(suppressed).suppressed is True
    result = enrol("dormancy_recall", [churned, suppressed, fine])
    assert result.enrolled == [fine]
    assert result.skipped == {churned: "churned", suppressed: "suppressed"}
    stack.clock.wait_idle()
    assert sent_steps(fine) == ["reminder"] and sent_steps(suppressed) == []
    # The welcome is not marketing: a suppressed new member still gets it.
    newcomer = arm_ids("welcome", "treatment", 1, "sw-new-")[0]
    make_member(stack, newcomer, stage="new")
    assert _suppress(stack, newcomer).status == 200
    assert enrol("welcome", [newcomer], cohort_id=f"welcome-{newcomer}").enrolled == [newcomer]


def test_a_member_suppressed_mid_journey_gets_no_further_marketing_and_can_be_lifted(stack):
    member_id = arm_ids("winback", "treatment", 1, "mid-")[0]
    make_member(stack, member_id, stage="lapsed")
    enrol("winback", [member_id])
    stack.clock.wait_idle()
    assert sent_steps(member_id) == ["offer"]
    assert _suppress(stack, member_id).status == 200
    stack.advance(days=15)
    assert sent_steps(member_id) == ["offer"]  # the final offer is not sent
    closed = enrolment(member_id, "winback")
    assert (closed.status, closed.outcome_reason) == ("exited", "suppressed")
    lifted = _suppress(stack, member_id, False)
    assert lifted.status == 200 and lifted.json()["suppressed"] is False
    assert _api_entry(stack, "dormancy_recall", [member_id], "after-lift")["refused"] == []


def test_a_churned_member_who_buys_again_is_active_and_eligible_again(stack):
    send = Platforms(stack)
    created = send.shopify("customers/create", raw("shopify", "customers_create.json"), "c-1")
    (member_id,) = created.json()["member_ids"]
    stack.clock.wait_idle()
    get_member(member_id).update(actions=[Member.stage.set("churned")])
    refused = _api_entry(stack, "activation", [member_id], "before-order")
    assert refused["refused"] == [{"member_id": member_id, "reason": "churned"}]
    assert send.shopify("orders/paid", raw("shopify", "orders_paid.json"), "p-1").status == 200
    member = get_member(member_id)
    assert (member.stage, member.stage_reason, member.won_back) == ("active", "won_back", True)
    entered = _api_entry(stack, "dormancy_recall", [member_id], "after-order")
    assert entered["refused"] == [] and entered["enrolled"] == [member_id]


def test_the_suppression_route_refuses_bad_input_naming_the_field(stack):
    make_member(stack, "sup-1", stage="active")

    def error(response, status, field):
        assert response.status == status, response.body
        assert response.json()["error"]["field"] == field

    error(stack.http("PUT", "/members/sup-1/suppression", body={}), 400, "body.suppressed")
    error(
        stack.http("PUT", "/members/sup-1/suppression", body={"suppressed": "yes"}),
        400,
        "body.suppressed",
    )
    error(
        stack.http("PUT", "/members/sup-1/suppression", body={"suppressed": True, "x": 1}),
        400,
        "body.x",
    )
    as_json = {"Content-Type": "application/json"}
    error(
        stack.http("PUT", "/members/sup-1/suppression", body=b"nope", headers=as_json), 400, "body"
    )
    error(stack.http("PUT", "/members/sup-1/suppression", body=b"nope"), 415, "header:Content-Type")
    error(_suppress(stack, "nobody"), 404, "path:member_id")
    assert get_member("sup-1").suppressed is False
    assert _suppress(stack, "sup-1").status == 200
