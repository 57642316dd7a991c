"""Property: whatever arrives, verify_and_parse returns a Delivery or raises a 4xx
WebhookError, never anything else. Bodies are random bytes, truncated / flipped /
mutated samples (signed, so the JSON and schema paths are exercised), oversized or
non-UTF-8; headers are right, wrong, missing or random."""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import fields
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from memberflow.webhooks import (
    MAX_BODY_BYTES,
    Delivery,
    WebhookError,
    WebhookSecrets,
    verify_and_parse,
)
from memberflow.webhooks import events as ev
from memberflow.webhooks.signing import shopify_headers, standard_headers, woocommerce_headers

PAYLOADS = Path(__file__).resolve().parents[3] / "events" / "payloads"
SECRETS = WebhookSecrets.dev()
NOW = datetime(2025, 6, 10, 12, 0, tzinfo=UTC)
EXAMPLES = 1200
SETTINGS = settings(
    max_examples=EXAMPLES,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

SAMPLES = {
    "shopify": {
        p.stem.replace("_", "/", 1): p.read_bytes()
        for p in sorted((PAYLOADS / "shopify").glob("*.json"))
    },
    "woocommerce": {
        p.stem: p.read_bytes() for p in sorted((PAYLOADS / "woocommerce").glob("*.json"))
    },
    "events": {p.stem: p.read_bytes() for p in sorted((PAYLOADS / "memberflow").glob("*.json"))},
}
HEADER_NAMES = {
    "shopify": [
        "X-Shopify-Topic",
        "X-Shopify-Hmac-Sha256",
        "X-Shopify-Shop-Domain",
        "X-Shopify-Event-Id",
        "X-Shopify-Webhook-Id",
        "X-Shopify-Triggered-At",
        "Content-Type",
    ],
    "woocommerce": [
        "X-WC-Webhook-Topic",
        "X-WC-Webhook-Signature",
        "X-WC-Webhook-Source",
        "X-WC-Webhook-Delivery-ID",
        "Content-Type",
    ],
    "events": ["webhook-id", "webhook-timestamp", "webhook-signature", "Content-Type"],
}

MSG_IDS = (
    st.just("msg_1") | st.from_regex(r"[A-Za-z0-9_-]{1,24}", fullmatch=True) | st.text(max_size=12)
)
json_scalars = (
    st.none()
    | st.booleans()
    | st.integers(-(10**20), 10**20)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=12)
    | st.decimals(allow_nan=False, allow_infinity=False).map(str)
    | st.sampled_from(
        ["", "0", "-1.00", "1e3", "2025-06-02T10:15:00Z", "2025-02-30T00:00:00", "x" * 300]
    )
)
json_values = st.recursive(
    json_scalars,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=8,
)


def paths(doc, prefix=()):
    yield prefix
    if isinstance(doc, dict):
        for key, value in doc.items():
            yield from paths(value, (*prefix, key))
    elif isinstance(doc, list):
        for i, value in enumerate(doc):
            yield from paths(value, (*prefix, i))


def mutate(doc, path, value, delete):
    if not path:
        return value
    target = doc
    for part in path[:-1]:
        target = target[part]
    if delete and isinstance(target, dict):
        del target[path[-1]]
    else:
        target[path[-1]] = value
    return doc


@st.composite
def bodies(draw, platform: str) -> tuple[str, bytes]:
    """(topic or type the body belongs to, raw body)."""
    topic = draw(st.sampled_from(sorted(SAMPLES[platform])))
    sample = SAMPLES[platform][topic]
    if platform == "woocommerce":
        topic = topic.split("_")[0]
    kind = draw(
        st.sampled_from(
            [
                "sample",
                "mutated",
                "mutated",
                "mutated",
                "truncated",
                "flipped",
                "binary",
                "json",
                "oversized",
                "ping",
            ]
        )
    )
    if kind == "sample":
        body = sample
    elif kind == "mutated":
        doc = json.loads(sample)
        path = draw(st.sampled_from(list(paths(doc))))
        doc = mutate(doc, path, draw(json_values), draw(st.booleans()))
        body = json.dumps(doc, ensure_ascii=draw(st.booleans())).encode()
    elif kind == "truncated":
        body = sample[: draw(st.integers(0, len(sample) - 1))]
    elif kind == "flipped":
        at = draw(st.integers(0, len(sample) - 1))
        body = sample[:at] + bytes([sample[at] ^ draw(st.integers(1, 255))]) + sample[at + 1 :]
    elif kind == "binary":
        body = draw(st.binary(max_size=300))
    elif kind == "json":
        body = json.dumps(draw(json_values)).encode()
    elif kind == "oversized":
        body = b"{" + b" " * (MAX_BODY_BYTES + draw(st.integers(0, 64)))
    else:
        body = b"webhook_id=" + str(draw(st.integers(0, 10**25))).encode()
    return topic, body


@st.composite
def requests(draw, platform: str) -> tuple[dict, bytes]:
    topic, body = draw(bodies(platform))
    if draw(st.integers(0, 9)) == 0:
        topic = draw(st.text(max_size=20))
    mode = draw(st.sampled_from(["signed", "signed", "signed", "wrong_secret", "none"]))
    headers: dict[str, str] = {}
    if mode != "none":
        try:
            if platform == "shopify":
                secret = SECRETS.secret_of("shopify") if mode == "signed" else "wrong"
                headers = shopify_headers(
                    secret, topic, "memberflow-demo.myshopify.com", body, "e-1"
                )
            elif platform == "woocommerce":
                secret = SECRETS.secret_of("woocommerce") if mode == "signed" else "wrong"
                headers = woocommerce_headers(
                    secret, topic, "https://shop.example.com/", body, "d-1"
                )
            else:
                secret = (
                    SECRETS.secret_of("standard_webhooks") if mode == "signed" else "whsec_d3Jvbmc="
                )
                skew = timedelta(seconds=draw(st.integers(-330, 330)))
                headers = standard_headers(secret, draw(MSG_IDS), body, NOW + skew)
        except UnicodeEncodeError:  # a random id the signer cannot encode: send it unsigned
            headers = {}
    if draw(st.booleans()):
        overrides = draw(
            st.dictionaries(
                st.sampled_from(HEADER_NAMES[platform]) | st.text(max_size=10),
                st.text(max_size=40),
                max_size=3,
            )
        )
        headers.update(overrides)
    if draw(st.integers(0, 3)) == 0:
        headers = {k.lower(): v for k, v in headers.items()}
    return headers, body


def check_delivery(delivery: Delivery, platform: str) -> None:
    assert isinstance(delivery, Delivery) and delivery.platform == platform
    assert isinstance(delivery.delivery_id, str) and delivery.delivery_id
    if delivery.ignored:
        assert delivery.events == [] and delivery.reason
    for event in delivery.events:
        assert isinstance(
            event,
            (
                ev.CustomerUpserted,
                ev.ConsentChanged,
                ev.OrderPaid,
                ev.OrderPending,
                ev.OrderCancelled,
                ev.OrderRefunded,
                ev.Interaction,
                ev.PrivacyRequest,
            ),
        )
        for f in fields(event):
            value = getattr(event, f.name)
            if isinstance(value, Decimal):
                assert value.is_finite() and value >= 0
            if isinstance(value, datetime):
                assert value.utcoffset() == timedelta(0)
            if isinstance(value, float):
                raise AssertionError(f"float in {type(event).__name__}.{f.name}")


def outcome(platform: str, headers: dict, body: bytes) -> int:
    try:
        delivery = verify_and_parse(platform, headers, body, SECRETS, NOW)
    except WebhookError as error:
        assert 400 <= error.status < 500, error
        assert error.field == "body" or error.field.startswith(("body.", "body[", "header:")), error
        return error.status
    check_delivery(delivery, platform)
    return 200


def run(platform: str) -> Counter:
    seen: Counter = Counter()

    @SETTINGS
    @given(requests(platform))
    def prop(request):
        seen[outcome(platform, *request)] += 1

    prop()
    assert sum(seen.values()) >= 1000, seen
    return seen


def test_shopify_never_fails_otherwise():
    seen = run("shopify")
    assert {200, 400, 401, 413, 415} <= set(seen), seen


def test_woocommerce_never_fails_otherwise():
    seen = run("woocommerce")
    assert {200, 400, 401, 413, 415} <= set(seen), seen


def test_events_never_fails_otherwise():
    seen = run("events")
    assert {200, 400, 401, 413, 415} <= set(seen), seen


@settings(max_examples=300, deadline=None, database=None)
@given(st.decimals(min_value=0, max_value=10**9, places=2, allow_nan=False, allow_infinity=False))
def test_money_is_exact(amount):
    doc = json.loads(SAMPLES["shopify"]["orders/paid"])
    doc["current_total_price"] = str(amount)
    body = json.dumps(doc).encode()
    headers = shopify_headers(
        SECRETS.secret_of("shopify"), "orders/paid", "memberflow-demo.myshopify.com", body, "e"
    )
    [paid] = verify_and_parse("shopify", headers, body, SECRETS, NOW).events
    assert paid.total == amount and str(paid.total) == str(amount)
