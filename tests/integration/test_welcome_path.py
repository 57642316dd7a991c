"""The first end-to-end path, through the routes of template.yaml on the local stack."""

from pathlib import Path

from memberflow.store import Enrolment
from tests.conftest import signed_shopify

CUSTOMER = Path(__file__).resolve().parents[2] / "events/payloads/shopify/customers_create.json"


def test_signed_customers_create_makes_a_member_and_runs_welcome(stack):
    body = CUSTOMER.read_bytes()
    response = stack.http(
        "POST",
        "/webhooks/shopify",
        body=body,
        headers=signed_shopify(stack, "customers/create", body, "evt-1"),
    )
    assert response.status == 200, response.body
    member_id = response.json()["member_ids"][0]
    stack.clock.wait_idle()
    member = stack.http("GET", f"/members/{member_id}").json()
    for field in ("member_id", "email", "stage", "tier", "points_balance", "created_at"):
        assert field in member
    assert member["stage"] == "new" and member["tier"] == "base"
    assert member["points_balance"] == 100  # join bonus (domain.md §3)
    found = stack.http("GET", "/members?email=ada@example.com").json()["members"]
    assert [m["member_id"] for m in found] == [member_id]
    (enrolment,) = Enrolment.query(member_id)
    arm = enrolment.arm
    outbox = stack.outbox()
    if arm == "treatment":
        assert [(m["journey"], m["step"]) for m in outbox] == [("welcome", "welcome")]
        stack.advance(days=2)
        assert [m["step"] for m in stack.outbox()] == ["welcome", "onboarding"]
    else:
        assert outbox == []


def test_redelivery_creates_one_member_and_one_welcome(stack):
    body = CUSTOMER.read_bytes()
    ids = set()
    for _ in range(3):
        response = stack.http(
            "POST",
            "/webhooks/shopify",
            body=body,
            headers=signed_shopify(stack, "customers/create", body, "evt-1"),
        )
        ids.update(response.json().get("member_ids", []))
    stack.clock.wait_idle()
    assert len(ids) == 1
    assert len(stack.outbox()) <= 1
    member = stack.http("GET", f"/members/{ids.pop()}").json()
    assert member["points_balance"] == 100


def test_wrong_signature_is_refused_and_creates_nothing(stack):
    body = CUSTOMER.read_bytes()
    headers = signed_shopify(stack, "customers/create", body, "evt-2")
    headers["X-Shopify-Hmac-Sha256"] = "bm90IHRoZSBzaWduYXR1cmU="
    response = stack.http("POST", "/webhooks/shopify", body=body, headers=headers)
    assert response.status == 401
    assert response.json()["error"]["field"] == "header:X-Shopify-Hmac-Sha256"
    assert stack.http("GET", "/members?email=ada@example.com").json()["members"] == []
    assert (
        list(
            stack.client("dynamodb").scan(TableName=stack.physical["MembersTable"]["Ref"])["Items"]
        )
        == []
    )
