"""Trust only what is signed: configured sources, the topic agreeing with the body, and
text that can be stored (issue 11). The verifier alone, no database."""

from __future__ import annotations

import copy
import json

import pytest

from memberflow.config import ConfigError
from memberflow.config.programme import default_document, validate_document
from memberflow.webhooks import WebhookError, WebhookSecrets
from memberflow.webhooks.secrets import DEV_MEMBERFLOW_SECRET, dev_secret_map
from memberflow.webhooks.signing import shopify_headers, standard_headers, woocommerce_headers

OTHER_SHOP = "memberflow-second.myshopify.com"
OTHER_SITE = "https://other.example.com/"
TWO = {
    "shopify": [
        {"shop": "memberflow-demo.myshopify.com", "secret": "shopify"},
        {"shop": OTHER_SHOP, "secret": "shopify-second"},
    ],
    "woocommerce": [
        {"site": "https://shop.example.com/", "secret": "woocommerce"},
        {"site": OTHER_SITE, "secret": "woocommerce-second"},
    ],
    "standard_webhooks": [
        {"sender": "memberflow", "secret": "memberflow"},
        {"sender": "crm", "secret": "crm"},
    ],
}
TWO_SECRETS = WebhookSecrets.from_config(TWO, dev_secret_map(TWO))


def refused(call, *args) -> WebhookError:
    with pytest.raises(WebhookError) as info:
        call(*args)
    return info.value


# -- configured sources ----------------------------------------------------------------------


def test_a_shop_that_is_not_configured_is_refused_403(wh):
    body = wh.raw("shopify", "orders_paid.json")
    for secret in (wh.shopify_secret, "the intruder's own secret"):
        headers = shopify_headers(secret, "orders/paid", "intruder.myshopify.com", body, "e-9")
        error = refused(wh.call, "shopify", headers, body)
        assert (error.status, error.field) == (403, "header:X-Shopify-Shop-Domain")
        assert error.reason == "source not configured in sources.shopify"


def test_a_site_that_is_not_configured_is_refused_403(wh):
    body = wh.raw("woocommerce", "order.updated_processing.json")
    headers = woocommerce_headers(wh.woo_secret, "order.updated", OTHER_SITE, body, "d-9")
    error = refused(wh.call, "woocommerce", headers, body)
    assert (error.status, error.field) == (403, "header:X-WC-Webhook-Source")


def test_a_body_signed_for_one_shop_is_refused_under_another_configured_shop(wh):
    body = wh.raw("shopify", "orders_paid.json")
    mine = shopify_headers(
        TWO_SECRETS.secret_of("shopify", wh.shop), "orders/paid", wh.shop, body, "e-1"
    )
    assert wh.call.__self__.secrets  # the Sender signs with the default programme's
    delivery = _call(TWO_SECRETS, "shopify", mine, body, wh.now)
    assert delivery.shop == wh.shop
    replay = {**mine, "X-Shopify-Shop-Domain": OTHER_SHOP, "X-Shopify-Event-Id": "e-2"}
    error = refused(_call, TWO_SECRETS, "shopify", replay, body, wh.now)
    assert (error.status, error.field) == (401, "header:X-Shopify-Hmac-Sha256")


def test_the_same_for_woocommerce_sites(wh):
    body = wh.raw("woocommerce", "order.updated_processing.json")
    secret = TWO_SECRETS.secret_of("woocommerce", wh.source)
    mine = woocommerce_headers(secret, "order.updated", wh.source, body, "d-1")
    assert _call(TWO_SECRETS, "woocommerce", mine, body, wh.now).shop == wh.source
    replay = {**mine, "X-WC-Webhook-Source": OTHER_SITE, "X-WC-Webhook-Delivery-ID": "d-2"}
    error = refused(_call, TWO_SECRETS, "woocommerce", replay, body, wh.now)
    assert (error.status, error.field) == (401, "header:X-WC-Webhook-Signature")


def test_the_site_header_is_compared_canonically_and_the_configured_url_is_the_key(wh):
    body = wh.raw("woocommerce", "order.updated_processing.json")
    headers = woocommerce_headers(
        wh.woo_secret, "order.updated", "HTTPS://Shop.Example.com", body, "d"
    )
    delivery = wh.call("woocommerce", headers, body)
    assert delivery.shop == "https://shop.example.com/"
    assert delivery.events[0].shop == "https://shop.example.com/"


def test_the_shop_of_every_event_is_the_verified_source_not_the_header_spelling(wh):
    body = wh.raw("shopify", "orders_paid.json")
    headers = shopify_headers(wh.shopify_secret, "orders/paid", wh.shop.upper(), body, "e-1")
    delivery = wh.call("shopify", headers, body)
    assert {e.shop for e in delivery.events} == {wh.shop}
    assert delivery.delivery_id == f"shopify:{wh.shop}:orders/paid:e-1"


def test_a_standard_webhooks_sender_is_named_by_its_signature(wh):
    body = wh.raw("memberflow", "member.upserted.json")
    crm = TWO_SECRETS.secret_of("standard_webhooks", "crm")
    delivery = _call(
        TWO_SECRETS, "events", standard_headers(crm, "m-1", body, wh.now), body, wh.now
    )
    assert delivery.delivery_id == "events:crm:m-1"
    # an unknown key: 401, whoever it claims to be
    headers = standard_headers("whsec_" + "QUJDREVGR0g=", "m-1", body, wh.now)
    error = refused(_call, TWO_SECRETS, "events", headers, body, wh.now)
    assert (error.status, error.field) == (401, "header:webhook-signature")


def test_an_event_naming_a_source_that_is_not_configured_is_refused_403(wh):
    doc = wh.doc("memberflow", "order.paid.json")
    doc["data"]["shop"] = "intruder.myshopify.com"
    error = refused(wh.events, doc)
    assert (error.status, error.field) == (403, "body.data.shop")
    doc["data"]["platform"] = "magento"
    assert refused(wh.events, doc).status == 403
    # naming no platform: the sender's own namespace, not another sender's
    doc = wh.doc("memberflow", "interaction.json")
    doc["data"] = {"member_id": "m-42", "kind": "login", "at": "2025-06-05T19:30:00Z"}
    doc["data"].update(interaction_id="i-1", shop="crm")
    assert refused(wh.events, doc).status == 403
    doc["data"].pop("shop")
    delivery = wh.events(doc, msg_id="m-2")
    assert (delivery.events[0].platform, delivery.events[0].shop) == ("events", "memberflow")


def test_no_sources_means_every_delivery_is_refused(wh):
    nothing = WebhookSecrets.from_config({}, {"memberflow": DEV_MEMBERFLOW_SECRET})
    headers, body = wh.shopify_request("orders/paid", wh.raw("shopify", "orders_paid.json"))
    assert refused(_call, nothing, "shopify", headers, body, wh.now).status == 403
    headers, body = wh.events_request(wh.raw("memberflow", "order.paid.json"))
    assert refused(_call, nothing, "events", headers, body, wh.now).status == 403


def test_the_programme_refuses_shared_secrets_and_duplicate_sources():
    doc = copy.deepcopy(default_document())
    doc["sources"]["shopify"].append({"shop": "b.myshopify.com", "secret": "shopify"})
    with pytest.raises(ConfigError) as bad:
        validate_document(doc)
    assert bad.value.field == "$.sources.shopify[1].secret"
    doc = copy.deepcopy(default_document())
    doc["sources"]["woocommerce"].append({"site": "https://SHOP.example.com", "secret": "w2"})
    with pytest.raises(ConfigError) as bad:
        validate_document(doc)
    assert bad.value.field == "$.sources.woocommerce[1].site"
    doc = copy.deepcopy(default_document())
    doc["sources"]["shopify"][0]["shop"] = "not a domain"
    with pytest.raises(ConfigError) as bad:
        validate_document(doc)
    assert bad.value.field == "$.sources.shopify[0].shop"


def _call(secrets, platform, headers, body, now):
    from memberflow.webhooks import verify_and_parse

    return verify_and_parse(platform, headers, body, secrets, now)


# -- the topic must agree with the body -----------------------------------------------------


def test_a_paid_order_sent_as_cancelled_is_refused(wh):
    error = refused(wh.shopify, "orders/cancelled", wh.raw("shopify", "orders_paid.json"))
    assert (error.status, error.field) == (400, "body.cancelled_at")
    [cancelled] = wh.shopify("orders/cancelled", wh.raw("shopify", "orders_cancelled.json")).events
    assert cancelled.cancelled_at.isoformat() == "2025-06-04T13:30:11+00:00"


def test_an_unpaid_order_sent_as_paid_is_refused(wh):
    error = refused(wh.shopify, "orders/paid", wh.raw("shopify", "orders_create.json"))
    assert (error.status, error.field) == (400, "body.financial_status")


def test_an_order_sent_as_a_customer_or_a_customer_as_an_order_is_refused(wh):
    error = refused(wh.shopify, "customers/create", wh.raw("shopify", "orders_paid.json"))
    assert error.status == 400
    error = refused(wh.shopify, "orders/paid", wh.raw("shopify", "customers_create.json"))
    assert error.status == 400
    error = refused(
        wh.woo, "customer.created", wh.raw("woocommerce", "order.updated_processing.json")
    )
    assert error.status == 400
    error = refused(wh.woo, "order.updated", wh.raw("woocommerce", "customer.created.json"))
    assert error.status == 400


def test_a_refund_must_be_of_its_own_order(wh):
    doc = wh.doc("shopify", "refunds_create.json")
    doc["transactions"][0]["order_id"] = 1234
    error = refused(wh.shopify, "refunds/create", doc)
    assert (error.status, error.field) == (400, "body.transactions[0].order_id")
    doc = wh.doc("shopify", "refunds_create.json")
    doc["admin_graphql_api_id"] = "gid://shopify/Order/5500000001"
    assert refused(wh.shopify, "refunds/create", doc).field == "body.admin_graphql_api_id"


def test_woocommerce_status_comes_from_the_body_whatever_the_topic(wh):
    from memberflow.webhooks.events import OrderCancelled, OrderPaid

    body = wh.raw("woocommerce", "order.updated_cancelled.json")
    for topic in ("order.updated", "order.created"):
        [event] = wh.woo(topic, body, delivery_id=topic).events
        assert type(event) is OrderCancelled
    [paid] = wh.woo("order.updated", wh.raw("woocommerce", "order.updated_processing.json")).events
    assert type(paid) is OrderPaid


# -- text that cannot be stored --------------------------------------------------------------

LONE = "\ud800x"
POISON_FIELDS = [
    ("shopify", "customers/create", "customers_create.json", ("first_name",)),
    ("shopify", "customers/create", "customers_create.json", ("email",)),
    ("shopify", "customers/create", "customers_create.json", ("phone",)),
    ("shopify", "customers/create", "customers_create.json", ("last_name",)),
    ("shopify", "customers/create", "customers_create.json", ("tags",)),
    ("shopify", "orders/paid", "orders_paid.json", ("customer", "last_name")),
    ("shopify", "orders/paid", "orders_paid.json", ("note",)),
    ("woocommerce", "customer.created", "customer.created.json", ("billing", "phone")),
    ("woocommerce", "order.updated", "order.updated_processing.json", ("billing", "first_name")),
    ("events", "member.upserted", "member.upserted.json", ("data", "timezone")),
    ("events", "member.upserted", "member.upserted.json", ("data", "locale")),
    ("events", "member.upserted", "member.upserted.json", ("data", "email")),
]


def _send(wh, platform: str, topic: str, doc: dict):
    # json.dumps keeps a lone surrogate as the escape "\ud800": what a broken sender sends
    if platform == "shopify":
        return wh.shopify(topic, doc)
    if platform == "woocommerce":
        return wh.woo(topic, doc)
    return wh.events(doc)


def _set(doc: dict, path: tuple, value) -> None:
    target = doc
    for part in path[:-1]:
        target = target[part]
    target[path[-1]] = value


@pytest.mark.parametrize(("platform", "topic", "sample", "path"), POISON_FIELDS)
def test_a_lone_surrogate_in_any_field_is_400_naming_it(wh, platform, topic, sample, path):
    folder = "memberflow" if platform == "events" else platform
    doc = wh.doc(folder, sample)
    _set(doc, path, LONE)
    error = refused(_send, wh, platform, topic, doc)
    assert (error.status, error.field) == (400, "body." + ".".join(path))
    assert "surrogate" in error.reason


def test_a_lone_surrogate_in_a_key_is_400_too(wh):
    doc = wh.doc("shopify", "customers_create.json")
    doc["note_attributes"] = {LONE: 1}
    assert refused(wh.shopify, "customers/create", doc).status == 400


def test_invalid_utf8_is_400(wh):
    body = wh.raw("shopify", "customers_create.json").replace(b'"Ada"', b'"Ad\xe9"')
    headers, body = wh.shopify_request("customers/create", body)
    error = refused(wh.call, "shopify", headers, body)
    assert (error.status, error.field) == (400, "body")


def test_control_characters_in_names_are_cleaned_by_the_documented_rule(wh):
    doc = wh.doc("shopify", "customers_create.json")
    doc["first_name"] = "  Ada\x00\x1b[31m\n Mary\t"
    doc["last_name"] = "\x07"
    [customer] = wh.shopify("customers/create", doc).events
    assert customer.first_name == "Ada [31m Mary"
    assert customer.last_name is None  # only control characters: empty, so absent


@pytest.mark.parametrize(
    ("platform", "topic", "sample", "path", "value"),
    [
        ("shopify", "customers/create", "customers_create.json", ("email",), "not-an-email"),
        ("shopify", "orders/paid", "orders_paid.json", ("email",), "ada at example.com"),
        ("shopify", "orders/paid", "orders_paid.json", ("email",), "a\x00@example.com"),
        ("woocommerce", "customer.created", "customer.created.json", ("email",), "@example.com"),
        ("events", "member.upserted", "member.upserted.json", ("data", "email"), "ada@"),
        ("shopify", "customers/create", "customers_create.json", ("phone",), "call me maybe"),
        (
            "woocommerce",
            "order.updated",
            "order.updated_processing.json",
            ("billing", "phone"),
            "12",
        ),
        ("events", "member.upserted", "member.upserted.json", ("data", "phone"), "+1 555\x00 0100"),
        ("events", "member.upserted", "member.upserted.json", ("data", "timezone"), "Mars/Olympus"),
        ("events", "member.upserted", "member.upserted.json", ("data", "locale"), "english please"),
    ],
)
def test_malformed_addresses_numbers_and_zones_are_400_naming_the_field(
    wh, platform, topic, sample, path, value
):
    folder = "memberflow" if platform == "events" else platform
    doc = wh.doc(folder, sample)
    _set(doc, path, value)
    error = refused(_send, wh, platform, topic, doc)
    assert (error.status, error.field) == (400, "body." + ".".join(path))
    assert value not in error.reason  # the reason never echoes the value


def test_well_formed_values_are_kept_normalised(wh):
    doc = wh.doc("memberflow", "member.upserted.json")
    doc["data"].update(
        email="  Ada.Lovelace+club@Example.COM ",
        phone=" +44  20 7946\t0958 ",
        timezone="Europe/London",
        locale="en-GB",
    )
    [member] = wh.events(doc).events
    assert member.email == "ada.lovelace+club@example.com"
    assert member.phone == "+44 20 7946 0958"
    assert (member.timezone, member.locale) == ("Europe/London", "en-GB")
    doc["data"].update(email="", phone="", timezone=None)
    [member] = wh.events(doc, msg_id="m-2").events
    assert (member.email, member.phone, member.timezone) == (None, None, None)


def test_the_samples_still_pass_through_unchanged(wh):
    """Every shipped sample is well-formed under the new rules."""
    for name in ("customers_create.json", "orders_paid.json", "orders_create.json"):
        topic = name.removesuffix(".json").replace("_", "/", 1)
        assert wh.shopify(topic, wh.raw("shopify", name)).events
    assert json.loads(wh.raw("memberflow", "member.upserted.json"))
