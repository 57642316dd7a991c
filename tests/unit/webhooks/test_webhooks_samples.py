"""Every sample payload in events/payloads parses into the expected normalised events."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest

from memberflow.webhooks.events import (
    ConsentChanged,
    CustomerUpserted,
    Interaction,
    OrderCancelled,
    OrderPaid,
    OrderPending,
    OrderRefunded,
    PrivacyRequest,
)

PAYLOADS = Path(__file__).resolve().parents[3] / "events" / "payloads"
CID = "7000000001"
EMAIL = "ada@example.com"

SHOPIFY = {
    "customers_create.json": CustomerUpserted,
    "customers_update.json": CustomerUpserted,
    "customers_email_marketing_consent_update.json": ConsentChanged,
    "customers_marketing_consent_update.json": ConsentChanged,
    "orders_create.json": OrderPending,
    "orders_paid.json": OrderPaid,
    "orders_cancelled.json": OrderCancelled,
    "refunds_create.json": OrderRefunded,
    "customers_data_request.json": PrivacyRequest,
    "customers_redact.json": PrivacyRequest,
    "shop_redact.json": PrivacyRequest,
}
WOOCOMMERCE = {
    "customer.created.json": CustomerUpserted,
    "customer.updated.json": CustomerUpserted,
    "order.created_pending.json": OrderPending,
    "order.updated_on-hold.json": OrderPending,
    "order.updated_processing.json": OrderPaid,
    "order.updated_completed.json": OrderPaid,
    "order.updated_refunded.json": OrderRefunded,
    "order.updated_cancelled.json": OrderCancelled,
}
MEMBERFLOW = {
    "member.upserted.json": CustomerUpserted,
    "order.paid.json": OrderPaid,
    "order.refunded.json": OrderRefunded,
    "interaction.json": Interaction,
    "consent.changed.json": ConsentChanged,
}


def shopify_topic(name: str) -> str:
    return name.removesuffix(".json").replace("_", "/", 1)


def woo_topic(name: str) -> str:
    return name.removesuffix(".json").split("_")[0]


def test_the_tables_cover_every_sample_file():
    for platform, table in (
        ("shopify", SHOPIFY),
        ("woocommerce", WOOCOMMERCE),
        ("memberflow", MEMBERFLOW),
    ):
        assert {p.name for p in (PAYLOADS / platform).glob("*.json")} == set(table)


@pytest.mark.parametrize("name", sorted(SHOPIFY))
def test_shopify_sample(wh, name):
    topic = shopify_topic(name)
    delivery = wh.shopify(topic, wh.raw("shopify", name))
    assert not delivery.ignored and delivery.reason is None
    assert (delivery.platform, delivery.shop, delivery.topic) == ("shopify", wh.shop, topic)
    assert delivery.delivery_id == f"shopify:{wh.shop}:{topic}:evt-1"
    [event] = delivery.events
    assert type(event) is SHOPIFY[name]
    assert (event.platform, event.shop) == ("shopify", wh.shop)
    if (
        hasattr(event, "customer_id")
        and name != "refunds_create.json"
        and name != "shop_redact.json"
    ):
        assert event.customer_id == CID


@pytest.mark.parametrize("name", sorted(WOOCOMMERCE))
def test_woocommerce_sample(wh, name):
    topic = woo_topic(name)
    delivery = wh.woo(topic, wh.raw("woocommerce", name))
    assert not delivery.ignored
    assert delivery.delivery_id == f"woocommerce:{wh.source}:{topic}:d-1"
    [event] = delivery.events
    assert type(event) is WOOCOMMERCE[name]
    assert (event.platform, event.shop, event.customer_id) == ("woocommerce", wh.source, CID)
    assert event.email == EMAIL


@pytest.mark.parametrize("name", sorted(MEMBERFLOW))
def test_memberflow_sample(wh, name):
    delivery = wh.events(wh.raw("memberflow", name))
    assert not delivery.ignored
    assert delivery.topic == name.removesuffix(".json")
    # ids are per sender: the sender is the one whose key verified the signature
    assert delivery.delivery_id == "events:memberflow:msg_1"
    assert delivery.shop == wh.shop
    [event] = delivery.events
    assert type(event) is MEMBERFLOW[name]
    assert (event.platform, event.shop, event.customer_id) == ("shopify", wh.shop, CID)


# -- Shopify, field by field ----------------------------------------------------------------


def test_shopify_orders_paid_fields(wh):
    [paid] = wh.shopify("orders/paid", wh.raw("shopify", "orders_paid.json")).events
    assert isinstance(paid.total, Decimal) and paid.total == Decimal("111.90")
    assert str(paid.total) == "111.90"
    assert (paid.order_id, paid.currency, paid.email) == ("5500000001", "USD", EMAIL)
    assert paid.coupon_codes == ("WELCOME10",)
    assert paid.paid_at == datetime(2025, 6, 3, 9, 20, tzinfo=UTC)  # processed_at, in UTC
    assert paid.updated_at == datetime(2025, 6, 3, 9, 20, 7, tzinfo=UTC)
    stub = paid.customer
    assert isinstance(stub, CustomerUpserted)
    assert (stub.customer_id, stub.email, stub.first_name, stub.locale) == (
        CID,
        EMAIL,
        "Ada",
        "en-GB",
    )
    assert stub.profile_completed


def test_shopify_total_prefers_current_total_price(wh):
    doc = wh.doc("shopify", "orders_paid.json")
    doc["current_total_price"] = "100.10"
    assert wh.shopify("orders/paid", doc).events[0].total == Decimal("100.10")
    del doc["current_total_price"]
    doc["total_price"] = "99.00"
    assert wh.shopify("orders/paid", doc).events[0].total == Decimal("99.00")


def test_shopify_order_without_customer(wh):
    doc = wh.doc("shopify", "orders_paid.json")
    doc["customer"] = None
    doc["email"] = "  Guest@Example.COM "
    [paid] = wh.shopify("orders/paid", doc).events
    assert (paid.customer_id, paid.customer, paid.email) == (None, None, "guest@example.com")


def test_shopify_orders_create_is_pending(wh):
    [pending] = wh.shopify("orders/create", wh.raw("shopify", "orders_create.json")).events
    assert pending.total == Decimal("111.90")
    assert pending.created_at == datetime(2025, 6, 3, 9, 20, tzinfo=UTC)


def test_shopify_orders_cancelled(wh):
    [cancelled] = wh.shopify("orders/cancelled", wh.raw("shopify", "orders_cancelled.json")).events
    assert cancelled.order_id == "5500000002"
    assert cancelled.cancelled_at == datetime(2025, 6, 4, 13, 30, 11, tzinfo=UTC)


def test_shopify_refund_sums_successful_refund_transactions(wh):
    doc = wh.doc("shopify", "refunds_create.json")
    [refund] = wh.shopify("refunds/create", doc).events
    assert (refund.order_id, refund.refund_id, refund.amount) == (
        "5500000001",
        "9100000001",
        Decimal("44.78"),
    )
    assert (refund.customer_id, refund.email, refund.currency) == (None, None, "USD")
    tx = doc["transactions"][0]
    doc["transactions"] = [
        tx,
        dict(tx, amount="5.22"),
        dict(tx, status="failure", amount="999.00"),
        dict(tx, kind="sale", amount="999.00"),
    ]
    assert wh.shopify("refunds/create", doc).events[0].amount == Decimal("50.00")


def test_shopify_refund_without_transactions_values_the_lines(wh):
    doc = wh.doc("shopify", "refunds_create.json")
    doc["transactions"] = []
    assert wh.shopify("refunds/create", doc).events[0].amount == Decimal("44.78")
    del doc["refund_line_items"][0]["subtotal_set"]  # only the float-typed subtotal is left
    assert wh.shopify("refunds/create", doc).events[0].amount == Decimal("44.78")


def test_shopify_customer_profile(wh):
    [created] = wh.shopify("customers/create", wh.raw("shopify", "customers_create.json")).events
    [updated] = wh.shopify("customers/update", wh.raw("shopify", "customers_update.json")).events
    assert (created.phone, created.profile_completed) == (None, False)
    assert (updated.phone, updated.profile_completed) == ("+447700900123", True)
    assert updated.updated_at == datetime(2025, 6, 2, 14, 22, 41, tzinfo=UTC)
    assert updated.created_at == datetime(2025, 6, 2, 14, 15, tzinfo=UTC)


def test_shopify_email_is_normalised(wh):
    doc = wh.doc("shopify", "customers_update.json")
    doc["email"] = "  Ada@Example.COM\t"
    assert wh.shopify("customers/update", doc).events[0].email == EMAIL
    doc["email"] = "   "
    assert wh.shopify("customers/update", doc).events[0].email is None


@pytest.mark.parametrize(
    ("state", "granted"),
    [
        ("subscribed", True),
        ("unsubscribed", False),
        ("not_subscribed", False),
        ("pending", False),
        ("redacted", False),
        ("invalid", False),
    ],
)
def test_shopify_email_consent_states(wh, state, granted):
    doc = wh.doc("shopify", "customers_email_marketing_consent_update.json")
    doc["email_marketing_consent"]["state"] = state
    [consent] = wh.shopify("customers/email_marketing_consent_update", doc).events
    assert (consent.channel, consent.granted, consent.state, consent.email) == (
        "email",
        granted,
        state,
        EMAIL,
    )
    assert consent.updated_at == datetime(2025, 6, 2, 14, 16, 5, tzinfo=UTC)


def test_shopify_sms_consent(wh):
    topic = "customers/marketing_consent_update"
    [consent] = wh.shopify(
        topic, wh.raw("shopify", "customers_marketing_consent_update.json")
    ).events
    assert (consent.channel, consent.granted, consent.customer_id, consent.email) == (
        "sms",
        True,
        CID,
        None,
    )


def test_shopify_consent_without_state_is_ignored(wh):
    # Shopify's "send test notification" payload: every field null
    body = {
        "customer_id": 706405506930370084,
        "email_address": None,
        "email_marketing_consent": {
            "state": None,
            "opt_in_level": None,
            "consent_updated_at": None,
        },
    }
    delivery = wh.shopify("customers/email_marketing_consent_update", body)
    assert delivery.ignored and delivery.events == [] and delivery.reason == "no consent state"


def test_shopify_consent_without_time_uses_triggered_at_header(wh):
    doc = wh.doc("shopify", "customers_email_marketing_consent_update.json")
    doc["email_marketing_consent"]["consent_updated_at"] = None
    headers, raw = wh.shopify_request("customers/email_marketing_consent_update", doc)
    headers["X-Shopify-Triggered-At"] = "2025-06-02T14:30:00.123456789Z"  # nanoseconds
    [consent] = wh.call("shopify", headers, raw).events
    assert consent.updated_at == datetime(2025, 6, 2, 14, 30, 0, 123456, tzinfo=UTC)


def test_shopify_privacy_requests(wh):
    [data] = wh.shopify(
        "customers/data_request", wh.raw("shopify", "customers_data_request.json")
    ).events
    assert (data.kind, data.customer_id, data.email, data.request_id) == (
        "data_request",
        CID,
        EMAIL,
        "4400000001",
    )
    [redact] = wh.shopify(
        "customers/redact", wh.raw("shopify", "customers_redact.json"), event_id="e-9"
    ).events
    assert (redact.kind, redact.customer_id, redact.request_id) == ("redact", CID, "e-9")
    [shop] = wh.shopify(
        "shop/redact", wh.raw("shopify", "shop_redact.json"), event_id="e-10"
    ).events
    assert (shop.kind, shop.customer_id, shop.email, shop.request_id) == (
        "shop_redact",
        None,
        None,
        "e-10",
    )


def test_shopify_webhook_id_is_the_fallback_dedupe_id(wh):
    headers, raw = wh.shopify_request("orders/paid", wh.raw("shopify", "orders_paid.json"))
    del headers["X-Shopify-Event-Id"]
    headers["X-Shopify-Webhook-Id"] = "b54557e4-bdd9-4b37-8a5f-bf7d70bcd043"
    delivery = wh.call("shopify", headers, raw)
    assert (
        delivery.delivery_id
        == f"shopify:{wh.shop}:orders/paid:b54557e4-bdd9-4b37-8a5f-bf7d70bcd043"
    )


def test_shopify_unknown_topic_is_ignored_without_parsing(wh):
    delivery = wh.shopify("app/uninstalled", b"not even json")
    assert delivery.ignored and delivery.events == []
    assert delivery.reason == "unknown topic 'app/uninstalled'"
    assert delivery.delivery_id == f"shopify:{wh.shop}:app/uninstalled:evt-1"


# -- WooCommerce ----------------------------------------------------------------------------


def test_woocommerce_processing_order_fields(wh):
    [paid] = wh.woo("order.updated", wh.raw("woocommerce", "order.updated_processing.json")).events
    assert isinstance(paid.total, Decimal) and paid.total == Decimal("111.90")
    assert (paid.order_id, paid.currency, paid.coupon_codes) == (
        "5500000101",
        "EUR",
        ("welcome10",),
    )
    assert paid.paid_at == datetime(2025, 6, 3, 9, 20, 5, tzinfo=UTC)  # date_paid_gmt is UTC
    assert paid.updated_at == datetime(2025, 6, 3, 9, 20, 5, tzinfo=UTC)  # date_modified_gmt
    assert paid.customer is not None and paid.customer.customer_id == CID
    assert paid.customer.phone == "+447700900123" and paid.customer.profile_completed


def test_woocommerce_order_created_processing_is_paid(wh):
    doc = wh.doc("woocommerce", "order.updated_processing.json")
    assert isinstance(wh.woo("order.created", doc).events[0], OrderPaid)


def test_woocommerce_full_refund(wh):
    [refund] = wh.woo("order.updated", wh.raw("woocommerce", "order.updated_refunded.json")).events
    assert (refund.refund_id, refund.amount, refund.currency) == (
        "5500000101:full",
        Decimal("111.90"),
        "EUR",
    )
    assert refund.refunded_at == datetime(2025, 6, 10, 16, 0, tzinfo=UTC)


def test_woocommerce_guest_order(wh):
    doc = wh.doc("woocommerce", "order.updated_processing.json")
    doc["customer_id"] = 0
    doc["billing"]["email"] = " Guest@Example.com"
    [paid] = wh.woo("order.created", doc).events
    assert (paid.customer_id, paid.email, paid.customer) == (None, "guest@example.com", None)


@pytest.mark.parametrize("status", ["failed", "checkout-draft", "trash", "wc-shipped"])
def test_woocommerce_untracked_statuses_are_ignored(wh, status):
    doc = wh.doc("woocommerce", "order.updated_processing.json")
    doc["status"] = status
    delivery = wh.woo("order.updated", doc)
    assert delivery.ignored and delivery.events == [] and "not tracked" in delivery.reason


def test_woocommerce_customer_falls_back_to_date_created(wh):
    doc = wh.doc("woocommerce", "customer.created.json")
    doc["date_modified_gmt"] = None
    [customer] = wh.woo("customer.created", doc).events
    assert customer.updated_at == customer.created_at == datetime(2025, 6, 2, 14, 15, tzinfo=UTC)
    assert customer.profile_completed is False


def test_woocommerce_ping_is_accepted_unsigned(wh):
    body = (PAYLOADS / "woocommerce" / "ping.txt").read_bytes()
    for headers in (
        {"Content-Type": "application/x-www-form-urlencoded"},
        {},
        {"user-agent": "WooCommerce/9.9"},
    ):
        delivery = wh.call("woocommerce", headers, body)
        assert delivery.ignored and delivery.reason == "ping" and delivery.topic == "ping"
        assert delivery.delivery_id == "woocommerce:ping:1" and delivery.events == []


def test_woocommerce_unknown_topic_is_ignored(wh):
    delivery = wh.woo("product.updated", {"id": 31})
    assert delivery.ignored and delivery.reason == "unknown topic 'product.updated'"


# -- memberflow events ----------------------------------------------------------------------


def test_events_order_paid_fields(wh):
    [paid] = wh.events(wh.raw("memberflow", "order.paid.json")).events
    assert paid.total == Decimal("64.50") and isinstance(paid.total, Decimal)
    assert paid.paid_at == paid.updated_at == datetime(2025, 6, 6, 16, 45, tzinfo=UTC)
    assert paid.coupon_codes == ("STORE5",)
    assert paid.customer is not None and paid.customer.shop == paid.shop


def test_events_defaults(wh):
    doc = wh.doc("memberflow", "interaction.json")
    doc["data"] = {
        "member_id": "m-42",
        "kind": "app_open",
        "at": "2025-06-05T19:30:00+02:00",
        "interaction_id": "open-1",
    }
    delivery = wh.events(doc)
    [event] = delivery.events
    # an event naming no platform is in its sender's own namespace
    assert (event.platform, event.shop, event.customer_id, event.member_id) == (
        "events",
        "memberflow",
        None,
        "m-42",
    )
    assert event.at == datetime(2025, 6, 5, 17, 30, tzinfo=UTC)
    assert delivery.shop == "memberflow"
    consent = wh.doc("memberflow", "consent.changed.json")
    del consent["data"]["updated_at"]
    assert wh.events(consent).events[0].updated_at == datetime(2025, 6, 7, 8, 0, tzinfo=UTC)


def test_events_unknown_type_is_ignored(wh):
    delivery = wh.events(
        {"type": "order.shipped", "timestamp": "2025-06-05T17:30:00Z", "data": {"shop": "s"}}
    )
    # the shop of an unknown type is not read: the delivery is the sender's
    assert delivery.ignored and delivery.topic == "order.shipped" and delivery.shop == "memberflow"
    assert delivery.reason == "unknown type 'order.shipped'"
