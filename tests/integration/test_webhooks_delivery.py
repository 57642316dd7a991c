"""Webhook deliveries through the handlers on the local stack: every sample payload,
duplicates, ordering, stubs, identities, consent, failures half-way."""

from __future__ import annotations

import copy
import threading
from decimal import Decimal

import pytest

from memberflow.store import ExternalIdentity, LedgerEntry, Member, Order
from tests.integration.test_webhooks_support import (
    PAYLOADS,
    SHOP,
    SHOP_B,
    TWO_SHOPS,
    Platforms,
    count_items,
    doc,
    raw,
    shopify_topic,
    stack_with_sources,
    woo_topic,
)


@pytest.fixture
def two_shop_stack(tmp_path, monkeypatch):
    """A programme that accepts two Shopify shops, each with its own secret."""
    with stack_with_sources(tmp_path, monkeypatch, TWO_SHOPS) as local:
        yield local


SHOPIFY_ORDER = [
    "customers_create.json",
    "customers_update.json",
    "customers_email_marketing_consent_update.json",
    "customers_marketing_consent_update.json",
    "orders_create.json",
    "orders_paid.json",
    "refunds_create.json",
    "orders_cancelled.json",
    "customers_data_request.json",
    "customers_redact.json",
    "shop_redact.json",
]
WOO_ORDER = [
    "customer.created.json",
    "customer.updated.json",
    "order.created_pending.json",
    "order.updated_on-hold.json",
    "order.updated_processing.json",
    "order.updated_completed.json",
    "order.updated_refunded.json",
    "order.updated_cancelled.json",
]
EVENTS_ORDER = [
    "member.upserted.json",
    "order.paid.json",
    "order.refunded.json",
    "interaction.json",
    "consent.changed.json",
]


def test_the_lists_cover_every_sample_payload():
    assert {p.name for p in (PAYLOADS / "shopify").glob("*.json")} == set(SHOPIFY_ORDER)
    assert {p.name for p in (PAYLOADS / "woocommerce").glob("*.json")} == set(WOO_ORDER)
    assert {p.name for p in (PAYLOADS / "memberflow").glob("*.json")} == set(EVENTS_ORDER)


def test_every_shopify_sample_through_the_handler(stack):
    send = Platforms(stack)
    for i, name in enumerate(SHOPIFY_ORDER):
        response = send.shopify(shopify_topic(name), raw("shopify", name), f"evt-{i}")
        assert response.status == 200, (name, response.body)
        body = response.json()
        assert body["status"] == "applied" and body["events"] == 1
        if name not in ("shop_redact.json",):
            assert body["member_ids"], name
    stack.clock.wait_idle()


def test_every_woocommerce_sample_through_the_handler(stack):
    send = Platforms(stack)
    for i, name in enumerate(WOO_ORDER):
        response = send.woo(woo_topic(name), raw("woocommerce", name), f"d-{i}")
        assert response.status == 200, (name, response.body)
        assert response.json()["member_ids"], name
    ping = (PAYLOADS / "woocommerce" / "ping.txt").read_bytes()
    response = stack.http(
        "POST",
        "/webhooks/woocommerce",
        body=ping,
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert response.status == 202 and response.json()["topic"] == "ping"
    stack.clock.wait_idle()


def test_every_memberflow_event_sample_through_the_handler(stack):
    send = Platforms(stack)
    for i, name in enumerate(EVENTS_ORDER):
        response = send.events(raw("memberflow", name), f"msg_{i}")
        assert response.status == 200, (name, response.body)
        assert response.json()["member_ids"], name
    stack.clock.wait_idle()


def test_unknown_topic_is_acknowledged_ignored_and_stores_nothing(stack):
    before = count_items(stack)
    response = Platforms(stack).shopify("products/create", {"id": 1}, "evt-x")
    assert response.status == 202
    assert response.json()["status"] == "ignored"
    assert count_items(stack) == before


def _member_state(member_id: str) -> dict:
    member = Member.get(member_id, consistent_read=True)
    return {
        "points_balance": int(member.points_balance or 0),
        "lifetime_spend": Decimal(member.lifetime_spend or 0),
        "order_count": int(member.order_count or 0),
        "tier": member.tier,
        "stage": member.stage,
    }


def _earn_entries(member_id: str) -> list[LedgerEntry]:
    return [e for e in LedgerEntry.query(member_id) if e.kind == "earn"]


def test_the_same_delivery_twenty_times_some_concurrently_counts_once(stack):
    send = Platforms(stack)
    send.shopify("customers/create", raw("shopify", "customers_create.json"), "c-1")
    body = raw("shopify", "orders_paid.json")
    statuses = []
    for _ in range(8):
        statuses.append(send.shopify("orders/paid", body, "paid-1").status)
    lock = threading.Lock()

    def post():
        status = send.shopify("orders/paid", body, "paid-1").status
        with lock:
            statuses.append(status)

    threads = [threading.Thread(target=post) for _ in range(12)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    stack.clock.wait_idle()
    assert len(statuses) == 20
    assert all(status in (200, 409) for status in statuses), statuses
    assert statuses[:8] == [200] * 8
    orders = list(Order.scan())
    assert len(orders) == 1 and orders[0].status == "paid"
    (member,) = [m for m in Member.scan()]
    assert len(_earn_entries(member.member_id)) == 1
    ledger_sum = sum(int(e.points) for e in LedgerEntry.query(member.member_id))
    assert int(member.points_balance) == ledger_sum
    assert int(member.order_count) == 1
    # the same order redelivered under a new event id (the idempotency record expired,
    # or Shopify re-sent it): the order and the ledger keep it counted once
    assert send.shopify("orders/paid", body, "paid-1-again").status == 200
    assert len(_earn_entries(member.member_id)) == 1
    assert int(Member.get(member.member_id).points_balance) == ledger_sum


def _shopify_pair(customer_id: int, order_id: int, refund_id: int):
    customer = doc("shopify", "customers_create.json")
    customer["id"] = customer_id
    customer["email"] = f"c{customer_id}@example.com"
    order = doc("shopify", "orders_paid.json")
    order["id"] = order_id
    order["email"] = customer["email"]
    order["customer"]["id"] = customer_id
    order["customer"]["email"] = customer["email"]
    refund = doc("shopify", "refunds_create.json")
    refund["id"] = refund_id
    refund["order_id"] = order_id
    for tx in refund.get("transactions", []):  # Shopify's transactions name their order
        tx["order_id"] = order_id
    for line in refund.get("refund_line_items", []):
        line["id"] = refund_id * 10 + 1
    return customer, order, refund


def test_a_refund_before_or_after_its_paid_order_ends_in_the_same_state(stack):
    send = Platforms(stack)
    states = []
    for n, reverse in ((1, False), (2, True)):
        customer, order, refund = _shopify_pair(7100000000 + n, 5600000000 + n, 9300000000 + n)
        response = send.shopify("customers/create", customer, f"c-{n}")
        member_id = response.json()["member_ids"][0]
        steps = [("orders/paid", order, f"p-{n}"), ("refunds/create", refund, f"r-{n}")]
        for topic, body, event_id in reversed(steps) if reverse else steps:
            assert send.shopify(topic, body, event_id).status == 200
        states.append(_member_state(member_id))
        stored = Order.get(f"shopify#{SHOP}#{5600000000 + n}")
        assert stored.status in ("paid", "refunded") and stored.refunded > 0
    stack.clock.wait_idle()
    assert states[0] == states[1]
    assert not [r for r in ExternalIdentity.scan() if r.kind == "parked_refund"]


def test_memberflow_refund_before_paid_nets_like_after(stack):
    send = Platforms(stack)
    paid = doc("memberflow", "order.paid.json")
    refund = doc("memberflow", "order.refunded.json")
    states = []
    for n, reverse in ((1, False), (2, True)):
        p, r = copy.deepcopy(paid), copy.deepcopy(refund)
        for d in (p["data"], r["data"]):
            d["customer_id"] = f"cust-{n}"
            d["order_id"] = f"ord-{n}"
        p["data"]["email"] = p["data"]["customer"]["email"] = f"n{n}@example.com"
        p["data"]["customer"]["customer_id"] = f"cust-{n}"
        steps = [(p, f"p{n}"), (r, f"r{n}")]
        member_ids = set()
        for body, msg in reversed(steps) if reverse else steps:
            response = send.events(body, f"msg_{msg}")
            assert response.status == 200, response.body
            member_ids.update(response.json()["member_ids"])
        (member_id,) = member_ids
        states.append(_member_state(member_id))
    assert states[0] == states[1]
    assert states[0]["lifetime_spend"] == Decimal("64.50") - Decimal("20.00")


def test_an_order_before_its_customer_makes_a_stub_that_the_sign_up_completes(stack):
    send = Platforms(stack)
    response = send.shopify("orders/paid", raw("shopify", "orders_paid.json"), "p-1")
    (member_id,) = response.json()["member_ids"]
    stub = Member.get(member_id)
    assert stub.stage in ("prospect", "active") and stub.joined_at is None
    assert stub.is_stub and stub.email == "ada@example.com"
    earned = int(stub.points_balance)
    response = send.shopify("customers/create", raw("shopify", "customers_create.json"), "c-1")
    assert response.json()["member_ids"] == [member_id]
    member = Member.get(member_id)
    assert member.joined_at is not None and not member.is_stub
    assert member.first_name == "Ada" and member.stage == "active"
    assert int(member.points_balance) == earned + 100  # + the join bonus
    assert len(list(Member.scan())) == 1
    stack.clock.wait_idle()


def test_one_person_in_two_shops_is_one_member(two_shop_stack):
    stack = two_shop_stack
    send = Platforms(stack)
    first = send.shopify("customers/create", raw("shopify", "customers_create.json"), "c-1")
    other = doc("shopify", "customers_create.json")
    other["id"] = 8800000001
    other["email"] = "  ADA@Example.com "
    second = send.shopify("customers/create", other, "c-2", shop=SHOP_B)
    assert first.json()["member_ids"] == second.json()["member_ids"]
    (member_id,) = first.json()["member_ids"]
    stack.advance(seconds=stack.index_lag)  # by_member is eventually consistent
    links = [r for r in ExternalIdentity.member_index.query(member_id) if not r.kind]
    assert {(r.shop, r.customer_id) for r in links} == {
        (SHOP, "7000000001"),
        (SHOP_B, "8800000001"),
    }
    assert int(Member.get(member_id).points_balance) == 100  # one join bonus
    stack.clock.wait_idle()


def _consent(granted: bool, at: str) -> dict:
    return {
        "customer_id": 7000000001,
        "email_address": "ada@example.com",
        "email_marketing_consent": {
            "state": "subscribed" if granted else "unsubscribed",
            "opt_in_level": "single_opt_in",
            "consent_updated_at": at,
        },
    }


def test_consent_newer_wins_whatever_the_order_of_arrival(stack):
    send = Platforms(stack)
    topic = "customers/email_marketing_consent_update"
    response = send.shopify("customers/create", raw("shopify", "customers_create.json"), "c-1")
    (member_id,) = response.json()["member_ids"]
    send.shopify(topic, _consent(False, "2025-06-05T10:00:00Z"), "k-2")  # newer: withdrawn
    send.shopify(topic, _consent(True, "2025-06-04T10:00:00Z"), "k-1")  # older: granted
    assert Member.get(member_id).consent.email is False
    send.shopify(topic, _consent(True, "2025-06-06T10:00:00Z"), "k-3")
    assert Member.get(member_id).consent.email is True
    # same instant, conflicting: the withdrawal wins
    send.shopify(topic, _consent(False, "2025-06-06T10:00:00Z"), "k-4")
    send.shopify(topic, _consent(True, "2025-06-06T10:00:00Z"), "k-5")
    assert Member.get(member_id).consent.email is False
    stack.clock.wait_idle()


def test_consent_before_the_customer_is_kept_on_a_stub(stack):
    send = Platforms(stack)
    topic = "customers/email_marketing_consent_update"
    response = send.shopify(topic, _consent(True, "2025-06-02T10:16:05Z"), "k-1")
    (member_id,) = response.json()["member_ids"]
    send.shopify("customers/create", raw("shopify", "customers_create.json"), "c-1")
    member = Member.get(member_id)
    assert member.consent.email is True and member.joined_at is not None
    stack.clock.wait_idle()


def test_a_delivery_failing_half_way_is_not_done_and_its_retry_applies_each_event_once(
    stack, monkeypatch
):
    """Event 1 (a paid order) applied, event 2 fails: the idempotency record must not be
    COMPLETED, and the retry finishes the work without crediting the order twice."""
    from memberflow import runtime
    from memberflow.clock import now
    from memberflow.ingest import deliveries
    from memberflow.webhooks import Delivery, WebhookSecrets, verify_and_parse
    from memberflow.webhooks.signing import shopify_headers

    send = Platforms(stack)
    send.shopify("customers/create", raw("shopify", "customers_create.json"), "c-1")
    secrets = WebhookSecrets.dev()

    def events(topic, name):
        body = raw("shopify", name)
        headers = shopify_headers(secrets.secret_of("shopify", SHOP), topic, SHOP, body, "x")
        return verify_and_parse("shopify", headers, body, secrets, now()).events

    delivery = Delivery(
        "shopify",
        SHOP,
        "test/two-events",
        "shopify:test:two-events:1",
        [
            *events("orders/paid", "orders_paid.json"),
            *events(
                "customers/marketing_consent_update", "customers_marketing_consent_update.json"
            ),
        ],
    )
    context = runtime.app_context()
    real = deliveries.apply_consent_event

    def broken(*args, **kwargs):
        raise RuntimeError("DynamoDB throttled")

    monkeypatch.setattr(deliveries, "apply_consent_event", broken)
    with pytest.raises(RuntimeError):
        deliveries.apply_once(delivery, context, now())
    idempotency = stack.client("dynamodb").scan(
        TableName=stack.physical["IdempotencyTable"]["Ref"]
    )["Items"]
    assert not [
        i for i in idempotency if i["status"]["S"] == "COMPLETED" and "two-events" in str(i)
    ]
    (member,) = list(Member.scan())
    assert len(_earn_entries(member.member_id)) == 1
    monkeypatch.setattr(deliveries, "apply_consent_event", real)
    first = deliveries.apply_once(delivery, context, now())
    again = deliveries.apply_once(delivery, context, now())
    assert first == again and first["events"] == 2
    assert len(_earn_entries(member.member_id)) == 1
    assert int(Member.get(member.member_id).order_count) == 1
    stack.clock.wait_idle()


def test_a_failure_is_answered_500_and_the_redelivery_succeeds(stack, monkeypatch):
    from memberflow.ingest import deliveries

    send = Platforms(stack)
    real = deliveries.apply_customer

    def broken(*args, **kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr(deliveries, "apply_customer", broken)
    body = raw("shopify", "customers_create.json")
    response = send.shopify("customers/create", body, "c-1")
    assert response.status == 500 and response.json()["error"]["status"] == 500
    monkeypatch.setattr(deliveries, "apply_customer", real)
    response = send.shopify("customers/create", body, "c-1")
    assert response.status == 200 and response.json()["member_ids"]
    stack.clock.wait_idle()


def test_base64_encoded_bodies_from_api_gateway_reach_the_verifier_intact(stack):
    import base64

    from memberflow.webhooks.signing import shopify_headers
    from memberflow_local.stack import proxy_event

    body = raw("shopify", "customers_create.json")
    headers = shopify_headers(
        stack.webhook_secrets["SHOPIFY_WEBHOOK_SECRET"], "customers/create", SHOP, body, "b64"
    )
    event = proxy_event("POST", "/webhooks/shopify", "/webhooks/shopify", {}, "", headers, body)
    event["body"] = base64.b64encode(body).decode()
    event["isBase64Encoded"] = True
    result = stack.invoke("WebhookFunction", event)
    assert result["statusCode"] == 200, result["body"]
    stack.clock.wait_idle()


def test_a_late_delivery_for_an_erased_customer_does_not_bring_it_back(stack):
    send = Platforms(stack)
    body = raw("shopify", "customers_create.json")
    (member_id,) = send.shopify("customers/create", body, "c-1").json()["member_ids"]
    assert stack.http("DELETE", f"/members/{member_id}").status == 200
    late = send.shopify("customers/update", raw("shopify", "customers_update.json"), "u-late")
    assert late.status == 200 and late.json()["member_ids"] == []
    order = send.shopify("orders/paid", raw("shopify", "orders_paid.json"), "p-late")
    assert order.json()["member_ids"] == []
    members = list(Member.scan())
    assert [m.member_id for m in members] == [member_id] and members[0].erased
    stack.clock.wait_idle()


def _apigw_module():
    import importlib.util

    from tests.integration.test_webhooks_support import ROOT

    spec = importlib.util.spec_from_file_location("make_apigw", ROOT / "events" / "make_apigw.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_sam_local_invoke_events_are_current_and_accepted(stack):
    make = _apigw_module()
    events = make.platform_events()
    for name, event in events.items():
        assert (make.OUT / name).read_text() == make.render(event), (
            f"regenerate events/apigw/{name}: .venv/bin/python events/make_apigw.py"
        )
    events.update(make.standard_events(stack.clock.now()))
    order = sorted(events, key=lambda n: ("redact" in n, "refund" in n, "order" in n, n))
    for name in order:
        result = stack.invoke("WebhookFunction", events[name])
        assert result["statusCode"] == 200, (name, result["body"])
    stack.clock.wait_idle()
