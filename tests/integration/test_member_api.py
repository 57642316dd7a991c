"""The member API through its routes on the local stack."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from memberflow.store import ExternalIdentity, Member
from tests.integration.test_webhooks_support import Platforms, all_items, raw

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def member(stack):
    """Ada: signed up, consented, bought, with a phone on file (from the order)."""
    send = Platforms(stack)
    response = send.shopify("customers/create", raw("shopify", "customers_create.json"), "c-1")
    (member_id,) = response.json()["member_ids"]
    update = json.loads(raw("shopify", "customers_update.json"))
    update["phone"] = "+447700900123"
    send.shopify("customers/update", update, "u-1")
    send.shopify(
        "customers/email_marketing_consent_update",
        raw("shopify", "customers_email_marketing_consent_update.json"),
        "k-1",
    )
    assert send.shopify("orders/paid", raw("shopify", "orders_paid.json"), "p-1").status == 200
    stack.clock.wait_idle()
    return member_id


def _error(response, status: int, field: str) -> None:
    assert response.status == status, response.body
    error = response.json()["error"]
    assert error["status"] == status and error["field"] == field and error["reason"]


def test_ledger_and_journeys(stack, member):
    ledger = stack.http("GET", f"/members/{member}/ledger").json()
    kinds = {e["kind"] for e in ledger["entries"]}
    assert {"bonus", "earn"} <= kinds
    assert ledger["points_balance"] == sum(e["points"] for e in ledger["entries"])
    journeys = stack.http("GET", f"/members/{member}/journeys").json()["enrolments"]
    assert [e["journey"] for e in journeys] == ["welcome"]
    for field in (
        "cohort_id",
        "arm",
        "status",
        "steps_reached",
        "messages_sent",
        "entered_at",
        "converted_at",
        "outcome",
    ):
        assert field in journeys[0]
    _error(stack.http("GET", "/members/mbr_nobody/ledger"), 404, "member_id")
    _error(stack.http("GET", "/members/mbr_nobody/journeys"), 404, "member_id")


def test_consent_patch(stack, member):
    ok = stack.http("PATCH", f"/members/{member}/consent", body={"email": False, "sms": True})
    assert ok.status == 200 and ok.json()["consent"] == {"email": False, "sms": True}
    assert Member.get(member).consent.email is False
    # an older platform delivery cannot undo the operator's newer decision
    Platforms(stack).shopify(
        "customers/email_marketing_consent_update",
        raw("shopify", "customers_email_marketing_consent_update.json"),
        "k-again",
    )
    assert Member.get(member).consent.email is False
    path = f"/members/{member}/consent"
    _error(stack.http("PATCH", path, body={"email": "yes"}), 400, "body.email")
    _error(stack.http("PATCH", path, body={"push": True}), 400, "body.push")
    _error(stack.http("PATCH", path, body={}), 400, "body")
    _error(
        stack.http("PATCH", path, body=b"[true]", headers={"Content-Type": "application/json"}),
        400,
        "body",
    )
    _error(
        stack.http("PATCH", path, body=b"{nope", headers={"Content-Type": "application/json"}),
        400,
        "body",
    )
    _error(
        stack.http("PATCH", path, body=b"\xff\xfe", headers={"Content-Type": "application/json"}),
        400,
        "body",
    )
    _error(
        stack.http("PATCH", "/members/mbr_nobody/consent", body={"email": True}), 404, "member_id"
    )


def test_redeem(stack, member):
    balance = stack.http("GET", f"/members/{member}").json()["points_balance"]
    path = f"/members/{member}/points/redeem"
    ok = stack.http("POST", path, body={"points": 50, "reference": "pos-1"})
    assert ok.status == 200, ok.body
    assert ok.json()["balance"] == balance - 50
    again = stack.http("POST", path, body={"points": 50, "reference": "pos-1"})
    assert again.status == 200 and again.json()["balance"] == balance - 50
    _error(
        stack.http("POST", path, body={"points": 10**9, "reference": "pos-2"}), 409, "body.points"
    )
    _error(stack.http("POST", path, body={"points": 0, "reference": "pos-3"}), 400, "body.points")
    _error(
        stack.http("POST", path, body={"points": True, "reference": "pos-3"}), 400, "body.points"
    )
    _error(stack.http("POST", path, body={"points": "5", "reference": "pos-3"}), 400, "body.points")
    _error(stack.http("POST", path, body={"points": 5}), 400, "body.reference")
    _error(stack.http("POST", path, body={"points": 5, "reference": ""}), 400, "body.reference")
    _error(
        stack.http("POST", path, body={"points": 5, "reference": "x", "extra": 1}),
        400,
        "body.extra",
    )
    _error(
        stack.http(
            "POST", "/members/mbr_nobody/points/redeem", body={"points": 5, "reference": "r"}
        ),
        404,
        "member_id",
    )
    assert stack.http("GET", f"/members/{member}").json()["points_balance"] == balance - 50


def test_export_holds_everything_on_the_member(stack, member):
    Platforms(stack).shopify(
        "customers/data_request", raw("shopify", "customers_data_request.json"), "dr-1"
    )
    # The export reads the by_member indexes (eventually consistent): a moment later.
    stack.advance(seconds=stack.index_lag)
    data = stack.http("GET", f"/members/{member}/export").json()
    assert data["member"]["email"] == "ada@example.com"
    assert [(i["platform"], i["customer_id"]) for i in data["identities"]] == [
        ("shopify", "7000000001")
    ]
    assert len(data["orders"]) == 1 and data["ledger"] and data["enrolments"]
    assert isinstance(data["messages"], list) and isinstance(data["coupons"], list)
    assert [r["kind"] for r in data["privacy_requests"]] == ["data_request"]
    _error(stack.http("GET", "/members/mbr_nobody/export"), 404, "member_id")


def _personal_values(stack) -> list[str]:
    return ["ada@example.com", "+447700900123", "7700900123", "Ada", "Lovelace"]


def test_erasure_leaves_no_personal_data_anywhere(stack, member):
    before = json.dumps(all_items(stack))
    assert "ada@example.com" in before and "Lovelace" in before
    response = stack.http("DELETE", f"/members/{member}")
    assert response.status == 200, response.body
    stack.clock.wait_idle()
    everything = json.dumps(all_items(stack))
    for value in _personal_values(stack):
        assert value.lower() not in everything.lower(), value
    erased = stack.http("GET", f"/members/{member}").json()
    assert erased["erased"] and erased["email"] is None and erased["consent"]["email"] is False
    assert stack.http("GET", "/members?email=ada@example.com").json()["members"] == []
    # idempotent
    assert stack.http("DELETE", f"/members/{member}").status == 200
    # the opt-out survives: a re-sign-up with the same email is a new member, without
    # email marketing even when the platform says it consented
    send = Platforms(stack)
    again = json.loads(raw("shopify", "customers_create.json"))
    again["id"] = 7000000999
    (new_id,) = send.shopify("customers/create", again, "c-new").json()["member_ids"]
    assert new_id != member
    consent = json.loads(raw("shopify", "customers_email_marketing_consent_update.json"))
    consent["customer_id"] = 7000000999
    consent["email_marketing_consent"]["consent_updated_at"] = "2026-01-05T09:00:00Z"
    send.shopify("customers/email_marketing_consent_update", consent, "k-new")
    assert Member.get(new_id).consent.email is False
    suppressed = [r for r in ExternalIdentity.scan() if r.kind == "suppression"]
    assert suppressed and all("@" not in r.identity_key for r in suppressed)
    stack.clock.wait_idle()


def test_shopify_redact_takes_the_erasure_path(stack, member):
    send = Platforms(stack)
    response = send.shopify("customers/redact", raw("shopify", "customers_redact.json"), "rd-1")
    assert response.status == 200 and response.json()["member_ids"] == [member]
    assert Member.get(member).erased
    everything = json.dumps(all_items(stack))
    for value in _personal_values(stack):
        assert value.lower() not in everything.lower(), value
    stack.clock.wait_idle()


def test_lookup_errors_and_unknown_routes(stack):
    _error(stack.http("GET", "/members"), 400, "query:email")
    _error(stack.http("GET", "/members/mbr_nobody"), 404, "member_id")
    _error(stack.http("DELETE", "/members/mbr_nobody"), 404, "member_id")


def test_openapi_is_served_and_the_checked_in_copy_cannot_drift(stack):
    from memberflow.api.openapi import document

    generated = document()
    assert (ROOT / "docs" / "openapi.json").read_text() == generated, (
        "regenerate: .venv/bin/python -m memberflow.api.openapi > docs/openapi.json"
    )
    served = stack.http("GET", "/openapi.json")
    assert served.status == 200
    paths = served.json()["paths"]
    for path in (
        "/members/{member_id}/ledger",
        "/members/{member_id}/consent",
        "/members/{member_id}/points/redeem",
        "/webhooks/shopify",
        "/webhooks/woocommerce",
        "/webhooks/events",
        "/openapi.json",
    ):
        assert path in paths
    assert "requestBody" in paths["/members/{member_id}/consent"]["patch"]
