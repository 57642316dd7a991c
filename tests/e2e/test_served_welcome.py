"""`memberflow serve`: the routes of template.yaml and /_local/* over real HTTP."""

from pathlib import Path

from memberflow.webhooks.signing import shopify_headers

ROOT = Path(__file__).resolve().parents[2]
SHOP = "memberflow-demo.myshopify.com"


def test_clock_routes(served, local_only):
    status, body = served.request("GET", "/_local/clock")
    assert status == 200 and body["now"].endswith("Z")
    status, error = served.request(
        "POST", "/_local/clock/advance", b'{"weeks": 1}', {"Content-Type": "application/json"}
    )
    assert status == 400 and error["error"]["field"] == "body"
    assert served.request("GET", "/no/such/route")[0] == 404


def test_forged_delivery_is_refused_and_creates_nothing(served):
    body = (ROOT / "events/payloads/shopify/customers_create.json").read_bytes()
    forged = shopify_headers("not-the-secret", "customers/create", SHOP, body, "e2e-0")
    status, error = served.request("POST", "/webhooks/shopify", body, forged)
    assert status == 401 and error["error"]["field"] == "header:X-Shopify-Hmac-Sha256"


def test_signed_sign_up_welcome_and_two_day_advance_over_http(served, local_only):
    body = (ROOT / "events/payloads/shopify/customers_create.json").read_bytes()
    forged = shopify_headers("not-the-secret", "customers/create", SHOP, body, "e2e-0")
    status, error = served.request("POST", "/webhooks/shopify", body, forged)
    assert status == 401 and error["error"]["field"] == "header:X-Shopify-Hmac-Sha256"
    assert served.request("GET", "/members?email=ada@example.com")[1]["members"] == []

    headers = shopify_headers(served.shopify_secret, "customers/create", SHOP, body, "e2e-1")
    status, applied = served.request("POST", "/webhooks/shopify", body, headers)
    assert status == 200, applied
    member_id = applied["member_ids"][0]
    status, member = served.request("GET", f"/members/{member_id}")
    assert status == 200
    assert {"member_id", "email", "stage", "tier", "points_balance", "created_at"} <= set(member)
    assert member["points_balance"] == 100 and member["stage"] == "new"
    status, found = served.request("GET", "/members?email=ada%40example.com")
    assert [m["member_id"] for m in found["members"]] == [member_id]

    outbox = served.request("GET", "/_local/outbox")[1]["messages"]
    mine = [m for m in outbox if m["member_id"] == member_id]
    # The demo member is in the welcome journey's treatment arm (deterministic assignment).
    assert [(m["journey"], m["step"], m["channel"], m["template"]) for m in mine] == [
        ("welcome", "welcome", "email", "welcome")
    ]
    for key in ("member_id", "journey", "step", "channel", "template", "sent_at"):
        assert key in mine[0]
    status, now = served.request(
        "POST", "/_local/clock/advance", b'{"days": 2}', {"Content-Type": "application/json"}
    )
    assert status == 200
    outbox = served.request("GET", "/_local/outbox")[1]["messages"]
    assert [m["step"] for m in outbox if m["member_id"] == member_id] == ["welcome", "onboarding"]


def test_report_asks_for_a_fresh_kpi_snapshot_and_reads_it(served):
    """What `memberflow report` does (docs/reports.md), over real HTTP."""
    from datetime import datetime

    from memberflow_local.remote import fresh_kpis

    status, accepted = served.request("POST", "/reports/kpis/snapshots", b"")
    assert status == 202
    kpis = fresh_kpis(served.base, poll=0.5, wait=120)
    assert datetime.fromisoformat(kpis["generated_at"]) >= datetime.fromisoformat(
        accepted["requested_at"]
    )
    assert set(kpis) >= {"members", "stages", "journeys", "messages", "points", "revenue"}
