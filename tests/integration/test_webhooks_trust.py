"""Issue 11 through the handler on the local stack: a captured, validly signed delivery
replayed under another shop header, event id or topic changes nothing; a poison delivery
answers 4xx and leaves nothing; an idempotency key reused with another body is 409; a
source that is not configured is refused; member creation completes on the next
delivery when it failed half-way."""

from __future__ import annotations

import copy
import json

import pytest

from memberflow.store import Cohort, Enrolment, LedgerEntry, Member, Order
from memberflow.webhooks.signing import shopify_headers, standard_headers, woocommerce_headers
from tests.integration.test_webhooks_support import (
    SHOP,
    SHOP_B,
    SOURCE,
    TWO_SHOPS,
    Platforms,
    all_items,
    count_items,
    doc,
    raw,
    stack_with_sources,
)


@pytest.fixture
def two_shop_stack(tmp_path, monkeypatch):
    with stack_with_sources(tmp_path, monkeypatch, TWO_SHOPS) as local:
        yield local


def _money(stack) -> dict:
    """Everything a replay could move: orders, the ledger, and each member's counters."""
    items = all_items(stack)
    members = {
        m.member_id: (int(m.points_balance or 0), str(m.lifetime_spend), int(m.order_count or 0))
        for m in Member.scan()
    }
    key = lambda item: json.dumps(item, sort_keys=True)  # noqa: E731
    return {
        "orders": sorted(map(key, items["OrdersTable"])),
        "ledger": sorted(map(key, items["LedgerTable"])),
        "members": members,
    }


def test_a_signed_order_replayed_under_another_header_changes_nothing(two_shop_stack):
    stack = two_shop_stack
    send = Platforms(stack)
    assert (
        send.shopify("customers/create", raw("shopify", "customers_create.json"), "c").status == 200
    )
    paid = raw("shopify", "orders_paid.json")
    first = send.shopify("orders/paid", paid, "evt-1")
    assert first.status == 200 and first.json()["member_ids"]
    (member_id,) = first.json()["member_ids"]
    before = _money(stack)
    assert before["members"][member_id][2] == 1  # one order counted

    # a new event id: a new delivery, but the order's key comes from the signed body
    assert send.shopify("orders/paid", paid, "evt-2").status == 200
    # another topic: the body says paid, not cancelled
    response = send.shopify("orders/cancelled", paid, "evt-3")
    assert (response.status, response.json()["error"]["field"]) == (400, "body.cancelled_at")
    # as a new order or a refund: nothing moves (a pending copy of a paid order is older
    # news; an order is not a refund)
    assert send.shopify("orders/create", paid, "evt-3b").status == 200
    assert send.shopify("refunds/create", paid, "evt-3c").status == 400
    # another configured shop's header: its secret did not sign this body
    response = send.shopify("orders/paid", paid, "evt-4", shop=SHOP_B, secret=send.shopify_secret)
    assert (response.status, response.json()["error"]["field"]) == (
        401,
        "header:X-Shopify-Hmac-Sha256",
    )
    # a shop this programme does not know, under the captured signature
    headers = shopify_headers(send.shopify_secret, "orders/paid", "evil.myshopify.com", paid, "e5")
    response = stack.http("POST", "/webhooks/shopify", body=paid, headers=headers)
    assert response.status == 403
    assert _money(stack) == before
    assert [o.order_key for o in Order.scan()] == [f"shopify#{SHOP}#5500000001"]

    # WooCommerce: another delivery id is a duplicate, another site header is refused
    woo = raw("woocommerce", "order.updated_processing.json")
    assert send.woo("order.updated", woo, "d-1").status == 200
    woo_before = _money(stack)
    assert send.woo("order.updated", woo, "d-2").status == 200
    headers = woocommerce_headers(
        send.woo_secret, "order.updated", "https://evil.example/", woo, "d3"
    )
    assert stack.http("POST", "/webhooks/woocommerce", body=woo, headers=headers).status == 403
    # a captured order.updated body cannot be sent as cancelled: the status is the body's
    assert send.woo("order.created", woo, "d-4").status == 200
    assert _money(stack) == woo_before

    # Standard Webhooks: the same signed order under a new webhook-id is a duplicate
    event = raw("memberflow", "order.paid.json")
    assert send.events(event, "msg_1").status == 200
    events_before = _money(stack)
    assert send.events(event, "msg_2").status == 200
    assert _money(stack) == events_before
    stack.clock.wait_idle()


POISONS = [
    ("shopify", "customers/create", "customers_create.json", ("first_name",), "\ud800x"),
    ("shopify", "customers/create", "customers_create.json", ("email",), "\ud800x"),
    ("shopify", "customers/create", "customers_create.json", ("email",), "not-an-email"),
    ("shopify", "customers/create", "customers_create.json", ("phone",), "\ud800x"),
    ("shopify", "orders/paid", "orders_paid.json", ("customer", "first_name"), "\udfff"),
    ("woocommerce", "customer.created", "customer.created.json", ("last_name",), "\ud800x"),
    ("woocommerce", "order.updated", "order.updated_processing.json", ("billing", "email"), "x"),
    ("events", "", "member.upserted.json", ("data", "timezone"), "\ud800x"),
    ("events", "", "member.upserted.json", ("data", "timezone"), "Mars/Olympus"),
    ("events", "", "member.upserted.json", ("data", "first_name"), "\ud800x"),
]


def _post(send: Platforms, platform: str, topic: str, body: dict, key: str):
    if platform == "shopify":
        return send.shopify(topic, body, key)
    if platform == "woocommerce":
        return send.woo(topic, body, key)
    return send.events(body, key)


def test_a_poison_delivery_answers_4xx_and_leaves_nothing(stack):
    send = Platforms(stack)
    empty = count_items(stack)
    for i, (platform, topic, sample, path, value) in enumerate(POISONS):
        body = doc("memberflow" if platform == "events" else platform, sample)
        target = body
        for part in path[:-1]:
            target = target[part]
        target[path[-1]] = value
        for _attempt in range(2 if i == 0 else 1):  # a retry gets the same answer
            response = _post(send, platform, topic, body, f"poison-{i}")
            assert response.status == 400, (platform, path, response.body)
            assert response.json()["error"]["field"] == "body." + ".".join(path)
        assert count_items(stack) == empty, (platform, path)
    # the next good delivery works, and the member is whole
    response = send.shopify("customers/create", raw("shopify", "customers_create.json"), "good")
    assert response.status == 200
    (member_id,) = response.json()["member_ids"]
    member = Member.get(member_id, consistent_read=True)
    assert (member.first_name, member.email) == ("Ada", "ada@example.com")
    assert member.joined_at is not None and int(member.points_balance) >= 100
    assert any(e.enrolment_key.startswith("welcome#") for e in Enrolment.query(member_id))
    stack.clock.wait_idle()


def test_an_idempotency_key_reused_with_another_body_is_409(stack):
    send = Platforms(stack)
    upserted = doc("memberflow", "member.upserted.json")
    assert send.events(upserted, "msg_1").status == 200
    changed = copy.deepcopy(upserted)
    changed["data"]["first_name"] = "Grace"
    response = send.events(changed, "msg_1")
    assert response.status == 409
    assert response.json()["error"] == {
        "status": 409,
        "field": "delivery",
        "reason": "this delivery id was used with another body",
    }
    (member,) = list(Member.scan())
    assert member.first_name == "Ada"  # the second body was not applied
    # the same message again is still the duplicate it was
    again = send.events(upserted, "msg_1")
    assert again.status == 200 and again.json()["status"] == "applied"

    # a Shopify event id and a WooCommerce delivery id mean one message too
    customer = doc("shopify", "customers_create.json")
    assert send.shopify("customers/update", customer, "evt-1").status == 200
    customer["first_name"] = "Grace"
    assert send.shopify("customers/update", customer, "evt-1").status == 409
    woo = doc("woocommerce", "customer.created.json")
    assert send.woo("customer.updated", woo, "d-1").status == 200
    woo["first_name"] = "Grace"
    assert send.woo("customer.updated", woo, "d-1").status == 409
    assert "Grace" not in {m.first_name for m in Member.scan()}
    stack.clock.wait_idle()


def test_a_paid_order_or_refund_id_reused_with_another_body_is_409_and_changes_nothing(stack):
    """Paid orders and refunds are not claimed first: their receipt is put in the same
    transaction as the order. Another body under a used id is still 409, and neither
    the order nor the points move (nor on a concurrent copy: the transaction is one)."""
    send = Platforms(stack)
    assert (
        send.shopify("customers/create", doc("shopify", "customers_create.json"), "c-1").status
        == 200
    )
    order = doc("shopify", "orders_paid.json")
    assert send.shopify("orders/paid", order, "paid-1").status == 200
    (member,) = list(Member.scan())
    money = (int(member.points_balance), member.lifetime_spend)
    bigger = copy.deepcopy(order)
    bigger["total_price"] = bigger["current_total_price"] = "999.00"
    response = send.shopify("orders/paid", bigger, "paid-1")
    assert response.status == 409 and response.json()["error"]["field"] == "delivery"
    refund = doc("shopify", "refunds_create.json")
    assert send.shopify("refunds/create", refund, "refund-1").status == 200
    after_refund = Member.get(member.member_id, consistent_read=True)
    other = copy.deepcopy(refund)
    other["id"] = 9100000099
    assert send.shopify("refunds/create", other, "refund-1").status == 409
    still = Member.get(member.member_id, consistent_read=True)
    assert (int(still.points_balance), still.lifetime_spend) == (
        int(after_refund.points_balance),
        after_refund.lifetime_spend,
    )
    assert int(still.points_balance) < money[0]  # the first refund did apply
    (stored,) = list(Order.scan())
    assert stored.refund_ids == [str(refund["id"])]
    # the same bodies again are the duplicates they were
    assert send.shopify("orders/paid", order, "paid-1").status == 200
    assert send.shopify("refunds/create", refund, "refund-1").status == 200
    stack.clock.wait_idle()


def test_a_copy_with_another_body_racing_a_paid_order_changes_nothing(stack, monkeypatch):
    """The race the unclaimed path must win: a copy of an order with another body under
    the same id is applied whole between the first copy's read and its transaction. The
    first copy's transaction fails on the receipt: 409 (DeliveryConflict), and only the
    copy that won counts."""
    from memberflow import runtime
    from memberflow.clock import now
    from memberflow.ingest import deliveries
    from memberflow.store import reads
    from memberflow.webhooks import WebhookSecrets, verify_and_parse

    send = Platforms(stack)
    send.shopify("customers/create", doc("shopify", "customers_create.json"), "c-1")
    stack.clock.wait_idle()
    secrets = WebhookSecrets.dev()

    def delivery(body: dict):
        data = json.dumps(body).encode()
        headers = shopify_headers(
            secrets.secret_of("shopify", SHOP), "orders/paid", SHOP, data, "paid-1"
        )
        return verify_and_parse("shopify", headers, data, secrets, now())

    order = doc("shopify", "orders_paid.json")
    bigger = copy.deepcopy(order)
    bigger["total_price"] = bigger["current_total_price"] = "999.00"
    context = runtime.app_context()
    real, raced, started = reads.read, [], []

    def read(wanted):
        found = real(wanted)
        if not started:
            started.append(True)
            raced.append(deliveries.apply_once(delivery(bigger), context, now()))
        return found

    monkeypatch.setattr(reads, "read", read)
    with pytest.raises(deliveries.DeliveryConflict):
        deliveries.apply_once(delivery(order), context, now())
    monkeypatch.undo()
    assert raced and raced[0]["member_ids"]
    (stored,) = list(Order.scan())
    assert stored.total == 999  # the copy that won, alone
    (member,) = list(Member.scan())
    assert int(member.order_count) == 1
    earned = [e for e in LedgerEntry.query(member.member_id) if e.kind == "earn"]
    assert len(earned) == 1
    stack.clock.wait_idle()


def test_a_source_that_is_not_configured_is_refused_and_stores_nothing(stack):
    send = Platforms(stack)
    empty = count_items(stack)
    body = raw("shopify", "customers_create.json")
    own_secret = "the-intruders-own-secret"
    headers = shopify_headers(own_secret, "customers/create", "evil.myshopify.com", body, "e")
    response = stack.http("POST", "/webhooks/shopify", body=body, headers=headers)
    assert (response.status, response.json()["error"]["field"]) == (
        403,
        "header:X-Shopify-Shop-Domain",
    )
    body = raw("woocommerce", "customer.created.json")
    headers = woocommerce_headers(
        own_secret, "customer.created", "https://evil.example/", body, "d"
    )
    response = stack.http("POST", "/webhooks/woocommerce", body=body, headers=headers)
    assert (response.status, response.json()["error"]["field"]) == (
        403,
        "header:X-WC-Webhook-Source",
    )
    body = raw("memberflow", "member.upserted.json")
    headers = standard_headers("whsec_aW50cnVkZXI=", "m", body, stack.clock.now())
    response = stack.http("POST", "/webhooks/events", body=body, headers=headers)
    assert response.status == 401
    # a configured sender may speak only for configured sources
    foreign = doc("memberflow", "member.upserted.json")
    foreign["data"]["shop"] = "evil.myshopify.com"
    response = send.events(foreign, "m-2")
    assert (response.status, response.json()["error"]["field"]) == (403, "body.data.shop")
    assert count_items(stack) == empty
    assert SOURCE  # the configured site still works
    ok = send.woo("customer.created", raw("woocommerce", "customer.created.json"), "d-ok")
    assert ok.status == 200
    stack.clock.wait_idle()


def test_member_creation_failing_half_way_completes_on_the_next_delivery(stack, monkeypatch):
    """Whichever step of a sign-up fails (profile, join bonus, welcome enrolment, the
    join mark: before its one write; starting the welcome execution: after it), the
    platform's retry leaves one whole member: name, one join bonus, one welcome."""
    from memberflow.ingest import customers

    def broken(*args, **kwargs):
        raise RuntimeError("DynamoDB throttled")

    send = Platforms(stack)
    steps = ["_profile", "_bonus", "_welcome_items", "_join", "_finish_welcome"]
    for n, failing in enumerate(steps):
        owner = customers
        real = getattr(owner, failing)
        body = doc("shopify", "customers_create.json")
        body.update(id=7300000000 + n, email=f"member{n}@example.com")
        monkeypatch.setattr(owner, failing, broken)
        assert send.shopify("customers/create", body, f"c-{n}").status == 500
        monkeypatch.setattr(owner, failing, real)
        response = send.shopify("customers/create", body, f"c-{n}")  # the platform's retry
        assert response.status == 200, (failing, response.body)
        (member_id,) = response.json()["member_ids"]
        member = Member.get(member_id, consistent_read=True)
        assert (member.first_name, member.last_name) == ("Ada", "Lovelace"), failing
        assert member.joined_at is not None and member.stage == "new", failing
        joins = [e for e in LedgerEntry.query(member_id) if e.source == "join"]
        assert len(joins) == 1 and int(joins[0].points) == 100, failing
        welcome = [e for e in Enrolment.query(member_id) if e.enrolment_key.startswith("welcome#")]
        assert len(welcome) == 1, failing
        # and its execution started (the retry starts one the failed try did not)
        assert Cohort.get(welcome[0].cohort_id, consistent_read=True).execution_arn, failing
    stack.clock.wait_idle()


def test_a_shop_cannot_erase_by_email_a_member_it_does_not_know(two_shop_stack):
    stack = two_shop_stack
    send = Platforms(stack)
    response = send.shopify("customers/create", raw("shopify", "customers_create.json"), "c")
    (member_id,) = response.json()["member_ids"]
    redact = doc("shopify", "customers_redact.json")
    redact["customer"]["id"] = 8800000009  # the second shop's customer, the same email
    response = send.shopify("customers/redact", redact, "rd-b", shop=SHOP_B)
    assert response.status == 200 and response.json()["member_ids"] == []
    member = Member.get(member_id, consistent_read=True)
    assert not member.erased and member.email == "ada@example.com"
    # the shop that knows the customer can
    response = send.shopify("customers/redact", raw("shopify", "customers_redact.json"), "rd-a")
    assert response.json()["member_ids"] == [member_id]
    assert Member.get(member_id, consistent_read=True).erased
    stack.clock.wait_idle()
