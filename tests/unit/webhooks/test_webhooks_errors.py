"""Refusals: size, content type, encoding, JSON, schema; in the documented order."""

from __future__ import annotations

import json

import pytest

from memberflow.webhooks import MAX_BODY_BYTES, WebhookError, verify_and_parse

PII = ("ada@example.com", "Ada", "Lovelace", "+447700900123", "St James")


def refused(call, *args, **kw) -> WebhookError:
    with pytest.raises(WebhookError) as caught:
        call(*args, **kw)
    error = caught.value
    assert 400 <= error.status < 500
    for secret in PII:  # never echo personal data
        assert secret not in error.reason and secret not in str(error)
    return error


def test_error_shape():
    error = WebhookError(400, "body.id", "required")
    assert error.as_body() == {"error": {"status": 400, "field": "body.id", "reason": "required"}}
    assert str(error) == "400 body.id: required"


def test_unknown_platform_is_404(wh):
    error = refused(verify_and_parse, "magento", {}, b"{}", wh.secrets, wh.now)
    assert (error.status, error.field) == (404, "platform")


# -- 413 -------------------------------------------------------------------------------------


@pytest.mark.parametrize("platform", ["shopify", "woocommerce", "events"])
def test_oversized_body_is_413_even_when_signed(wh, platform):
    body = b'{"id": 1, "pad": "' + b"x" * MAX_BODY_BYTES + b'"}'
    headers = {
        "shopify": lambda: wh.shopify_request("orders/paid", body)[0],
        "woocommerce": lambda: wh.woo_request("order.updated", body)[0],
        "events": lambda: wh.events_request(body)[0],
    }[platform]()
    headers["Content-Type"] = "text/plain"  # size is checked first
    error = refused(wh.call, platform, headers, body)
    assert (error.status, error.field) == (413, "body")


def test_body_of_exactly_the_limit_is_not_413(wh):
    body = b" " * (MAX_BODY_BYTES - 2) + b"{}"
    error = refused(wh.shopify, "orders/paid", body)
    assert (error.status, error.field) == (400, "body.id")


# -- 415 -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "value",
    [
        None,
        "",
        "text/plain",
        "application/x-www-form-urlencoded",
        "application/jsonx",
        "application/json; charset=latin-1",
        "multipart/form-data; boundary=x",
    ],
)
@pytest.mark.parametrize("platform", ["shopify", "woocommerce", "events"])
def test_content_type_must_be_json(wh, platform, value):
    headers, body = {
        "shopify": lambda: wh.shopify_request("orders/paid", wh.raw("shopify", "orders_paid.json")),
        "woocommerce": lambda: wh.woo_request(
            "order.updated", wh.raw("woocommerce", "order.updated_processing.json")
        ),
        "events": lambda: wh.events_request(wh.raw("memberflow", "order.paid.json")),
    }[platform]()
    del headers["Content-Type"]
    if value is not None:
        headers["content-type"] = value
    error = refused(wh.call, platform, headers, body)
    assert (error.status, error.field) == (415, "header:Content-Type")


@pytest.mark.parametrize(
    "value",
    [
        "application/json; charset=utf-8",
        "Application/JSON;charset=UTF-8",
        'application/json; charset="utf-8"',
        "application/json ; foo=bar",
    ],
)
def test_json_content_type_variants_are_accepted(wh, value):
    headers, body = wh.shopify_request("orders/paid", wh.raw("shopify", "orders_paid.json"))
    headers["Content-Type"] = value
    assert wh.call("shopify", headers, body).events


def test_content_type_is_checked_before_the_signature(wh):
    headers, body = wh.shopify_request("orders/paid", b"{}", secret="wrong")
    headers["Content-Type"] = "text/xml"
    assert refused(wh.call, "shopify", headers, body).status == 415


def test_signature_is_checked_before_the_body(wh):
    headers, _ = wh.shopify_request("orders/paid", b"{}")
    assert refused(wh.call, "shopify", headers, b"\xff\xfe not json").status == 401


def test_a_ping_shaped_json_delivery_is_not_a_ping(wh):
    error = refused(wh.call, "woocommerce", {"Content-Type": "application/json"}, b"webhook_id=1")
    # no source named: nothing to pick a secret with
    assert (error.status, error.field) == (400, "header:X-WC-Webhook-Source")
    headers = {"Content-Type": "application/json", "X-WC-Webhook-Source": wh.source}
    error = refused(wh.call, "woocommerce", headers, b"webhook_id=1")
    assert (error.status, error.field) == (401, "header:X-WC-Webhook-Signature")


# -- 400: encoding and JSON ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b'{"id": "\xff"}', "not valid UTF-8"),
        (b"\xef\xbb\xbf{}", "byte order mark"),
        (b'{"id": 1, "email": "ada@example.com"', "invalid JSON"),
        (b"", "invalid JSON"),
        (b'{"total_price": NaN}', "invalid JSON"),
        (b'{"a": Infinity}', "invalid JSON"),
        (b"[" * 100_000 + b"]" * 100_000, "invalid JSON"),
        (b'{"id": 1' + b"0" * 5000 + b"}", "invalid JSON"),
        (b"[1, 2]", "must be a JSON object"),
        (b'"ada@example.com"', "must be a JSON object"),
        (b"null", "must be a JSON object"),
    ],
)
@pytest.mark.parametrize("platform", ["shopify", "woocommerce", "events"])
def test_bad_bodies_are_400(wh, platform, body, reason):
    send = {
        "shopify": lambda: wh.shopify("orders/paid", body),
        "woocommerce": lambda: wh.woo("order.updated", body),
        "events": lambda: wh.events(body),
    }[platform]
    error = refused(send)
    assert (error.status, error.field) == (400, "body")
    assert error.reason.startswith(reason)


# -- 400: schema, naming the field -------------------------------------------------------------


def _set(doc, path, value):
    *parents, last = path
    for part in parents:
        doc = doc[part]
    if value is KeyError:
        del doc[last]
    else:
        doc[last] = value


SHOPIFY_CASES = [
    ("orders_paid.json", ("line_items", 0, "price"), "-1.00", "body.line_items[0].price"),
    ("orders_paid.json", ("line_items", 1, "price"), "abc", "body.line_items[1].price"),
    ("orders_paid.json", ("line_items", 0, "price"), True, "body.line_items[0].price"),
    ("orders_paid.json", ("line_items", 0, "quantity"), -1, "body.line_items[0].quantity"),
    ("orders_paid.json", ("total_price",), "1e3", "body.total_price"),
    ("orders_paid.json", ("current_total_price",), -5, "body.current_total_price"),
    ("orders_paid.json", ("id",), KeyError, "body.id"),
    ("orders_paid.json", ("id",), "ada@example.com", "body.id"),
    ("orders_paid.json", ("currency",), "ada@example.com", "body.currency"),
    ("orders_paid.json", ("customer", "id"), KeyError, "body.customer.id"),
    ("orders_paid.json", ("updated_at",), "yesterday", "body.updated_at"),
    ("orders_paid.json", ("processed_at",), "2025-13-01T00:00:00Z", "body.processed_at"),
    ("orders_paid.json", ("discount_codes", 0, "code"), 10, "body.discount_codes[0].code"),
    ("orders_paid.json", ("customer", "email"), ["ada@example.com"], "body.customer.email"),
    ("refunds_create.json", ("transactions", 0, "amount"), "-44.78", "body.transactions[0].amount"),
    ("refunds_create.json", ("order_id",), KeyError, "body.order_id"),
    ("customers_update.json", ("id",), 0, "body.id"),
    ("customers_update.json", ("updated_at",), "2025-06-02", "body.updated_at"),
    ("customers_email_marketing_consent_update.json", ("customer_id",), KeyError, "body"),
    ("customers_data_request.json", ("data_request",), KeyError, "body.data_request"),
]


@pytest.mark.parametrize(("name", "path", "value", "field"), SHOPIFY_CASES)
def test_shopify_schema_violations_name_the_field(wh, name, path, value, field):
    doc = wh.doc("shopify", name)
    _set(doc, path, value)
    topic = name.removesuffix(".json").replace("_", "/", 1)
    error = refused(wh.shopify, topic, doc)
    assert (error.status, error.field) == (400, field)


WOO_CASES = [
    (
        "order.updated_processing.json",
        ("line_items", 0, "price"),
        -44.775,
        "body.line_items[0].price",
    ),
    ("order.updated_processing.json", ("line_items", 0, "total"), "-1", "body.line_items[0].total"),
    ("order.updated_processing.json", ("total",), "-111.90", "body.total"),
    ("order.updated_processing.json", ("total",), "1,234.00", "body.total"),
    ("order.updated_processing.json", ("status",), KeyError, "body.status"),
    ("order.updated_processing.json", ("customer_id",), -1, "body.customer_id"),
    (
        "order.updated_processing.json",
        ("date_paid_gmt",),
        "2025-06-31T00:00:00",
        "body.date_paid_gmt",
    ),
    (
        "order.updated_processing.json",
        ("coupon_lines", 0),
        {"discount": "1"},
        "body.coupon_lines[0].code",
    ),
    ("customer.updated.json", ("billing",), "ada@example.com", "body.billing"),
    ("customer.updated.json", ("date_modified_gmt",), 20250602, "body.date_modified_gmt"),
]


@pytest.mark.parametrize(("name", "path", "value", "field"), WOO_CASES)
def test_woocommerce_schema_violations_name_the_field(wh, name, path, value, field):
    doc = wh.doc("woocommerce", name)
    _set(doc, path, value)
    error = refused(wh.woo, name.split("_")[0].removesuffix(".json"), doc)
    assert (error.status, error.field) == (400, field)


EVENT_CASES = [
    ("order.paid.json", ("data", "total"), 64.5, "body.data.total"),
    ("order.paid.json", ("data", "total"), "-1.00", "body.data.total"),
    ("order.paid.json", ("data", "currency"), "usd", "body.data.currency"),
    ("order.paid.json", ("data", "paid_at"), "2025-06-06 16:45", "body.data.paid_at"),
    ("order.paid.json", ("data", "coupon_codes", 0), 5, "body.data.coupon_codes[0]"),
    (
        "order.paid.json",
        ("data", "customer", "customer_id"),
        KeyError,
        "body.data.customer.customer_id",
    ),
    ("order.refunded.json", ("data", "refund_id"), KeyError, "body.data.refund_id"),
    ("member.upserted.json", ("data", "shop"), KeyError, "body.data.shop"),
    ("member.upserted.json", ("data", "customer_id"), 7000000001, "body.data.customer_id"),
    ("member.upserted.json", ("data", "locale"), "english please", "body.data.locale"),
    ("member.upserted.json", ("data", "profile_completed"), "yes", "body.data.profile_completed"),
    ("interaction.json", ("data", "kind"), "purchase", "body.data.kind"),
    ("interaction.json", ("data", "customer_id"), KeyError, "body.data"),
    ("consent.changed.json", ("data", "granted"), "true", "body.data.granted"),
    ("consent.changed.json", ("data", "channel"), "push", "body.data.channel"),
    ("consent.changed.json", ("type",), KeyError, "body.type"),
    ("consent.changed.json", ("type",), "Consent Changed", "body.type"),
    ("consent.changed.json", ("timestamp",), "2025-06-07", "body.timestamp"),
    ("consent.changed.json", ("data",), [], "body.data"),
]


@pytest.mark.parametrize(("name", "path", "value", "field"), EVENT_CASES)
def test_event_schema_violations_name_the_field(wh, name, path, value, field):
    doc = wh.doc("memberflow", name)
    _set(doc, path, value)
    error = refused(wh.events, doc)
    assert (error.status, error.field) == (400, field)


def test_schema_reasons_are_readable(wh):
    doc = wh.doc("shopify", "orders_paid.json")
    doc["line_items"][0]["price"] = "-1.00"
    assert refused(wh.shopify, "orders/paid", doc).reason == "must be a non-negative decimal amount"
    del doc["id"]
    assert refused(wh.shopify, "orders/paid", doc).reason == "required"
    event = wh.doc("memberflow", "interaction.json")
    event["data"]["kind"] = "purchase"
    reason = refused(wh.events, event).reason
    assert reason == 'must be one of "login", "app_open", "review", "check_in"'


# -- headers after the signature -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("header", "value"),
    [
        ("X-Shopify-Topic", None),
        ("X-Shopify-Topic", "orders paid"),
        ("X-Shopify-Shop-Domain", None),
        ("X-Shopify-Shop-Domain", "evil shop/"),
        ("X-Shopify-Event-Id", None),
    ],
)
def test_shopify_identity_headers(wh, header, value):
    headers, body = wh.shopify_request("orders/paid", wh.raw("shopify", "orders_paid.json"))
    headers.pop("X-Shopify-Webhook-Id")
    headers.pop(header)
    if value is not None:
        headers[header] = value
    error = refused(wh.call, "shopify", headers, body)
    assert (error.status, error.field) == (400, f"header:{header}")


@pytest.mark.parametrize(
    ("header", "value"),
    [
        ("X-WC-Webhook-Topic", None),
        ("X-WC-Webhook-Source", None),
        ("X-WC-Webhook-Source", "shop"),
        ("X-WC-Webhook-Delivery-ID", None),
        ("X-WC-Webhook-Delivery-ID", "a b"),
    ],
)
def test_woocommerce_identity_headers(wh, header, value):
    headers, body = wh.woo_request(
        "order.updated", wh.raw("woocommerce", "order.updated_processing.json")
    )
    headers.pop(header)
    if value is not None:
        headers[header] = value
    error = refused(wh.call, "woocommerce", headers, body)
    assert (error.status, error.field) == (400, f"header:{header}")


def test_invalid_json_reason_does_not_echo_the_body(wh):
    body = json.dumps({"email": "ada@example.com"}).encode()[:-1]
    reason = refused(wh.shopify, "customers/update", body).reason
    assert reason.startswith("invalid JSON: Expecting") and "ada" not in reason
