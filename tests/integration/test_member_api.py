"""The member API through its routes on the local stack."""

from __future__ import annotations

import json
import re
from datetime import timedelta
from pathlib import Path

import pytest

from memberflow.store import ExternalIdentity, Member
from tests.integration.test_webhooks_support import SHOP, Platforms, all_items, raw

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
        # as a whole token, in any case: "ada" also occurs inside random hex ids
        token = re.compile(rf"(?<![0-9a-z]){re.escape(value.lower())}(?![0-9a-z])")
        assert not token.search(everything.lower()), value
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
        # as a whole token, in any case: "ada" also occurs inside random hex ids
        token = re.compile(rf"(?<![0-9a-z]){re.escape(value.lower())}(?![0-9a-z])")
        assert not token.search(everything.lower()), value
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


def test_a_redemption_reference_reused_for_another_amount_is_refused(stack, member):
    path = f"/members/{member}/points/redeem"
    first = stack.http("POST", path, body={"points": 40, "reference": "till-7#0042"})
    assert first.status == 200, first.body
    balance = first.json()["balance"]
    again = stack.http("POST", path, body={"points": 41, "reference": "till-7#0042"})
    _error(again, 409, "body.reference")
    assert "40 points" in again.json()["error"]["reason"]
    entries = stack.http("GET", f"/members/{member}/ledger").json()["entries"]
    assert [e["points"] for e in entries if e["kind"] == "redemption"] == [-40]
    assert stack.http("GET", f"/members/{member}").json()["points_balance"] == balance


def test_bodies_that_are_not_json_objects_are_refused_with_a_4xx_naming_the_field(stack, member):
    before = json.dumps(all_items(stack), sort_keys=True)
    consent, redeem = f"/members/{member}/consent", f"/members/{member}/points/redeem"
    enrol = "/journeys/activation/enrollments"
    good = {"points": 5, "reference": "r-415"}
    for path, method in ((consent, "PATCH"), (redeem, "POST"), (enrol, "POST")):
        body = json.dumps(good).encode()
        for content_type in ("text/plain", "application/json; charset=latin-1", None):
            headers = {"Content-Type": content_type} if content_type else {}
            _error(stack.http(method, path, body=body, headers=headers), 415, "header:Content-Type")
        as_json = {"Content-Type": "application/json"}
        nested = b'{"a":' * 5000 + b"1" + b"}" * 5000
        huge = b'{"points": ' + b"9" * 5000 + b', "reference": "r"}'
        for bad in (
            nested,
            b"[" * 100_000,
            huge,
            b'{"points": 1e999, "reference": "r"}',
            b'{"points": NaN, "reference": "r"}',
            b'{"points": 5, "points": 6, "reference": "r"}',
            b'{"reference": "\\ud800"}',
            b"\xed\xa0\x80",
        ):
            response = stack.http(method, path, body=bad, headers=as_json)
            assert response.status in (400, 413), (path, bad[:40], response.body)
            assert response.json()["error"]["field"].startswith("body"), response.body
        # over the route's limit: 16 KiB on the member API, 128 KiB for journey entry
        pad = "x" * (140_000 if path == enrol else 20_000)
        oversized = json.dumps({"points": 5, "reference": "r", "pad": pad}).encode()
        _error(stack.http(method, path, body=oversized, headers=as_json), 413, "body")
    assert json.dumps(all_items(stack), sort_keys=True) == before


def test_path_and_query_values_that_cannot_name_anything_are_400s(stack, member):
    for path in ("/members/" + "m" * 3000, "/members/mbr_\u00e9", "/members/a%20b"):
        for suffix, method in (("", "GET"), ("/ledger", "GET"), ("/export", "GET")):
            _error(stack.http(method, path + suffix), 400, "member_id")
        _error(stack.http("DELETE", path), 400, "member_id")
    # not a path the resolver can route at all (API Gateway would pass it on)
    _error(stack.http("GET", "/members/mbr_\ud800"), 404, "path")
    _error(stack.http("GET", "/members", query="email=" + "a" * 300), 400, "query:email")
    _error(stack.http("GET", "/members?email=%00x@example.com"), 400, "query:email")
    assert stack.http("GET", "/members?email=nobody@example.com").json() == {"members": []}


def _data_request(send, customer_id: int, request_id: int, event_id: str):
    body = json.loads(raw("shopify", "customers_data_request.json"))
    body["customer"]["id"] = customer_id
    body["customer"]["email"] = f"c{customer_id}@example.com"
    body["data_request"]["id"] = request_id
    response = send.shopify("customers/data_request", body, event_id)
    assert response.status == 200, response.body
    return response


def test_data_requests_are_listed_for_the_operator_known_or_not_with_their_due_date(stack, member):
    send = Platforms(stack)
    received = stack.clock.now()
    _data_request(send, 7000000001, 4400000001, "dr-known")
    stack.advance(hours=1)
    _data_request(send, 7999999999, 4400000002, "dr-unknown")
    # a redelivery under another event id is the same request: listed once, same due date
    stack.advance(hours=1)
    _data_request(send, 7999999999, 4400000002, "dr-unknown-again")

    listed = stack.http("GET", "/privacy/data-requests")
    assert listed.status == 200, listed.body
    requests = listed.json()["data_requests"]
    assert [(r["request_id"], r["member_id"]) for r in requests] == [
        ("4400000001", member),
        ("4400000002", None),
    ]
    known, unknown = requests
    assert known["due_at"] == (received + timedelta(days=30)).isoformat().replace("+00:00", "Z")
    assert known["export"] == f"/members/{member}/export" and unknown["export"] is None
    assert known["platform"] == "shopify" and known["shop"] == SHOP
    assert not known["overdue"] and listed.json()["next"] is None
    assert "@" not in json.dumps(requests)  # ids and dates only

    # pages, soonest due first
    first = stack.http("GET", "/privacy/data-requests?limit=1").json()
    assert [r["request_id"] for r in first["data_requests"]] == ["4400000001"]
    second = stack.http("GET", "/privacy/data-requests", query=f"limit=1&after={first['next']}")
    assert [r["request_id"] for r in second.json()["data_requests"]] == ["4400000002"]
    _error(stack.http("GET", "/privacy/data-requests?limit=0"), 400, "query:limit")
    _error(stack.http("GET", "/privacy/data-requests?limit=x"), 400, "query:limit")
    _error(stack.http("GET", "/privacy/data-requests?after=bm9wZQ"), 400, "query:after")

    stack.advance(days=29, hours=22.5)  # received + 30 days 30 minutes
    overdue = stack.http("GET", "/privacy/data-requests").json()["data_requests"]
    assert [r["overdue"] for r in overdue] == [True, False]
    # the member's own export still names the request
    export = stack.http("GET", f"/members/{member}/export").json()
    assert [r["request_id"] for r in export["privacy_requests"]] == ["4400000001"]
    stack.clock.wait_idle()


def test_erasure_clears_the_free_text_of_orders_and_the_export_shows_none(stack):
    send = Platforms(stack)
    order = json.loads(raw("shopify", "orders_paid.json"))
    order["id"] = 5500000077
    order["discount_codes"][0]["code"] = "ADA-LOVELACE-BIRTHDAY"
    for application in order.get("discount_applications", []):
        if application.get("code"):
            application["code"] = "ADA-LOVELACE-BIRTHDAY"
    assert send.shopify("orders/paid", order, "p-77").status == 200
    stack.advance(seconds=stack.index_lag)  # the export reads orders through their index
    (member,) = [
        m["member_id"]
        for m in stack.http("GET", "/members?email=ada@example.com").json()["members"]
    ]
    export = json.dumps(stack.http("GET", f"/members/{member}/export").json())
    assert "ADA-LOVELACE-BIRTHDAY" in export
    assert stack.http("DELETE", f"/members/{member}").status == 200
    stack.clock.wait_idle()
    assert "ADA-LOVELACE-BIRTHDAY" not in json.dumps(all_items(stack))
    stack.advance(seconds=stack.index_lag)  # the orders index shows the erased copies
    export = stack.http("GET", f"/members/{member}/export").json()
    assert export["orders"] and all(not o.get("coupon_codes") for o in export["orders"])
    assert export["member"]["email"] is None and export["member"]["timezone"] is None


def test_openapi_documents_every_route_of_the_template_with_its_body_and_errors(stack):
    from memberflow.api.openapi import build_document

    paths = build_document()["paths"]
    for route in stack.routes:
        operation = paths.get(route.path, {}).get(route.method.lower())
        assert operation is not None, f"{route.method} {route.path} is not in openapi.json"
        codes = set(operation["responses"])
        assert {c for c in codes if c.startswith("2")}, (route.path, codes)
        if route.method in ("POST", "PATCH", "PUT") and (route.method, route.path) not in {
            ("POST", "/reports/kpis/snapshots")  # a request for work: it reads no body
        }:
            # The go-live import reads JSON Lines; every other body is one JSON document.
            media = "application/x-ndjson" if route.path == "/imports" else "application/json"
            assert operation["requestBody"]["content"][media]["schema"], route
            assert {"400", "413", "415"} <= codes, (route.path, codes)
        if "{" in route.path or route.method in ("POST", "PATCH", "PUT", "DELETE"):
            assert {c for c in codes if c.startswith("4")}, (route.path, codes)
        if route.authorised:
            assert "403" in codes, route.path
        for code, response in operation["responses"].items():
            if code.startswith("4") and code != "403":
                schema = response["content"]["application/json"]["schema"]
                assert "error" in json.dumps(schema), (route.path, code)
    documented = {(p, m.upper()) for p, item in paths.items() for m in item}
    assert documented == {(r.path, r.method) for r in stack.routes}


def test_a_journey_entry_of_a_thousand_full_length_member_ids_is_not_refused_for_its_size(stack):
    from memberflow.journeys.entry import MAX_API_MEMBER_IDS

    ids = [f"mbr_{i:060d}" for i in range(MAX_API_MEMBER_IDS)]
    body = {"member_ids": ids, "cohort_key": "crm-full"}
    assert len(json.dumps(body)) > 64 * 1024
    response = stack.http("POST", "/journeys/winback/enrollments", body=body)
    assert response.status in (200, 202), response.body[:300]
    stack.clock.wait_idle()  # enrolled asynchronously; the status route lists the refusals
    cohort = response.json()["cohort_id"]
    status = stack.http("GET", f"/journeys/winback/enrollments/{cohort}").json()
    assert len(status["refused"]) == MAX_API_MEMBER_IDS  # none of them exists
