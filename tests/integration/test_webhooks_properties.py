"""Property: malformed, truncated, wrongly-signed, oversized and non-UTF-8 deliveries,
at each endpoint, through the handler on the local stack: never a 5xx, never a stored
item. One local stack per endpoint (not per example)."""

from __future__ import annotations

import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from memberflow.webhooks import MAX_BODY_BYTES
from memberflow.webhooks.signing import (
    hmac_sha256_base64,
    shopify_headers,
    standard_headers,
    woocommerce_headers,
)
from memberflow_local.stack import LocalStack
from tests.integration.test_webhooks_support import SHOP, SOURCE, count_items, raw

SAMPLES = {
    "shopify": [
        ("customers/create", raw("shopify", "customers_create.json")),
        ("orders/paid", raw("shopify", "orders_paid.json")),
        ("refunds/create", raw("shopify", "refunds_create.json")),
        ("customers/redact", raw("shopify", "customers_redact.json")),
    ],
    "woocommerce": [
        ("customer.created", raw("woocommerce", "customer.created.json")),
        ("order.updated", raw("woocommerce", "order.updated_processing.json")),
    ],
    "events": [
        ("", raw("memberflow", "order.paid.json")),
        ("", raw("memberflow", "member.upserted.json")),
    ],
}
# Fields the schemas require: breaking one must refuse the delivery.
REQUIRED = {
    "customers/create": [("id",)],
    "orders/paid": [("id",)],
    "refunds/create": [("id",), ("order_id",)],
    "customers/redact": [("customer",)],
    "customer.created": [("id",)],
    "order.updated": [("id",)],
    "events": [("type",), ("data",)],
}
PATHS = {
    "shopify": "/webhooks/shopify",
    "woocommerce": "/webhooks/woocommerce",
    "events": "/webhooks/events",
}

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4)
    ),
    max_leaves=12,
)


@st.composite
def bad_body(draw, topic: str, sample: bytes) -> tuple[str, bytes]:
    """A body that must never be applied, and whether to sign it correctly."""
    kind = draw(
        st.sampled_from(
            [
                "truncated",
                "garbage",
                "non_utf8",
                "oversized",
                "json_value",
                "field_broken",
                "original",
            ]
        )
    )
    if kind == "truncated":
        # Cut inside the JSON document itself (dropping only trailing whitespace would
        # leave a complete, valid delivery).
        return kind, sample[: draw(st.integers(0, len(sample.rstrip()) - 1))]
    if kind == "garbage":
        return kind, draw(st.binary(max_size=300))
    if kind == "non_utf8":
        at = draw(st.integers(0, len(sample)))
        return kind, sample[:at] + draw(
            st.sampled_from([b"\xff", b"\xc3\x28", b"\xed\xa0\x80"])
        ) + sample[at:]
    if kind == "oversized":
        return kind, sample + b" " * (MAX_BODY_BYTES + 1 - len(sample) + draw(st.integers(0, 64)))
    if kind == "json_value":
        value = draw(json_values)
        if isinstance(value, dict):
            value.pop("id", None)  # never a valid payload by accident
        return kind, json.dumps(value).encode()
    if kind == "field_broken":
        doc = json.loads(sample)
        path = draw(st.sampled_from(REQUIRED[topic or "events"]))
        target = doc
        for part in path[:-1]:
            target = target[part]
        target[path[-1]] = draw(st.sampled_from([None, [], {}, True, -1.5]))
        return kind, json.dumps(doc).encode()
    return kind, sample  # the original body, but the signature or headers will be bad


@st.composite
def delivery(draw, platform: str, stack: LocalStack):
    topic, sample = draw(st.sampled_from(SAMPLES[platform]))
    kind, body = draw(bad_body(topic, sample))
    signing = draw(st.sampled_from(["good", "wrong_secret", "garbled", "missing"]))
    if kind == "original" and signing == "good":
        signing = "wrong_secret"  # a genuine delivery would (rightly) be stored
    secrets = stack.webhook_secrets
    if platform == "shopify":
        secret = secrets["SHOPIFY_WEBHOOK_SECRET"]
        headers = shopify_headers(secret if signing == "good" else "nope", topic, SHOP, body, "p-1")
        sig = "X-Shopify-Hmac-Sha256"
    elif platform == "woocommerce":
        secret = secrets["WOOCOMMERCE_WEBHOOK_SECRET"]
        headers = woocommerce_headers(
            secret if signing == "good" else "nope", topic, SOURCE, body, "p-1"
        )
        sig = "X-WC-Webhook-Signature"
    else:
        secret = secrets["MEMBERFLOW_WEBHOOK_SECRET"]
        key = secret if signing == "good" else "whsec_" + "bm9wZQ=="
        headers = standard_headers(key, "msg_p1", body, stack.clock.now())
        sig = "webhook-signature"
    if signing == "garbled":
        headers[sig] = draw(st.sampled_from(["", "%%%", "v1,", hmac_sha256_base64("x", b"")[:-4]]))
    elif signing == "missing":
        headers.pop(sig)
    header_change = draw(st.sampled_from(["none", "content_type", "drop_other"]))
    if header_change == "content_type":
        headers["Content-Type"] = draw(
            st.sampled_from(["text/plain", "application/json; charset=latin-1", ""])
        )
    elif header_change == "drop_other":
        others = sorted(h for h in headers if h not in (sig, "Content-Type"))
        if others:
            headers.pop(draw(st.sampled_from(others)))
    return kind, signing, body, headers


@pytest.mark.parametrize("platform", ["shopify", "woocommerce", "events"])
def test_bad_deliveries_are_refused_without_a_5xx_or_a_stored_item(platform):
    with LocalStack() as stack:
        before = count_items(stack)
        seen: dict[int, int] = {}

        @settings(
            max_examples=1000, deadline=None, database=None, suppress_health_check=list(HealthCheck)
        )
        @given(case=delivery(platform, stack))
        def run(case):
            kind, signing, body, headers = case
            response = stack.http("POST", PATHS[platform], body=body, headers=headers)
            seen[response.status] = seen.get(response.status, 0) + 1
            assert response.status < 500, (kind, signing, response.body)
            assert response.status != 200, (kind, signing, response.body)
            if response.status >= 400:
                error = response.json()["error"]
                assert error["status"] == response.status and error["field"] and error["reason"]

        run()
        assert count_items(stack) == before
        assert sum(seen.values()) >= 1000
        assert {401, 400}.issubset(seen) or platform == "events" and 401 in seen
