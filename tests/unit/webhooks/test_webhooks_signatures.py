"""Signatures over the raw bytes: good, tampered, wrong secret, missing, stale."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta

import pytest
from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError

from memberflow.webhooks import WebhookError, WebhookSecrets
from memberflow.webhooks.secrets import (
    DEV_MEMBERFLOW_SECRET,
    DEV_SHOPIFY_SECRET,
    DEV_WOOCOMMERCE_SECRET,
    SourceConfigError,
)

SIGNATURE_HEADER = {
    "shopify": "X-Shopify-Hmac-Sha256",
    "woocommerce": "X-WC-Webhook-Signature",
    "events": "webhook-signature",
}
OTHER = "whsec_" + base64.b64encode(b"someone-else's-key").decode()


def signed(wh, platform, secret=None):
    if platform == "shopify":
        return wh.shopify_request(
            "orders/paid", wh.raw("shopify", "orders_paid.json"), secret=secret
        )
    if platform == "woocommerce":
        raw = wh.raw("woocommerce", "order.updated_processing.json")
        return wh.woo_request("order.updated", raw, secret=secret)
    return wh.events_request(wh.raw("memberflow", "order.paid.json"), secret=secret)


def refused(wh, platform, headers, body) -> WebhookError:
    with pytest.raises(WebhookError) as caught:
        wh.call(platform, headers, body)
    return caught.value


PLATFORMS = pytest.mark.parametrize("platform", ["shopify", "woocommerce", "events"])


@PLATFORMS
def test_good_signature_passes(wh, platform):
    headers, body = signed(wh, platform)
    assert wh.call(platform, headers, body).events


@PLATFORMS
def test_headers_are_case_insensitive(wh, platform):
    headers, body = signed(wh, platform)
    assert wh.call(platform, {k.lower(): v for k, v in headers.items()}, body).events
    assert wh.call(platform, {k.upper(): v for k, v in headers.items()}, body).events


@PLATFORMS
@pytest.mark.parametrize("where", [0, 100, -2])
def test_one_flipped_byte_is_401(wh, platform, where):
    headers, body = signed(wh, platform)
    tampered = bytearray(body)
    tampered[where] ^= 0x01
    error = refused(wh, platform, headers, bytes(tampered))
    assert (error.status, error.field) == (401, f"header:{SIGNATURE_HEADER[platform]}")


@PLATFORMS
def test_reformatted_json_is_401(wh, platform):
    """The signature is over the raw bytes, not over the parsed document."""
    headers, body = signed(wh, platform)
    error = refused(wh, platform, headers, json.dumps(json.loads(body)).encode())
    assert error.status == 401


@PLATFORMS
def test_wrong_secret_is_401(wh, platform):
    secret = OTHER if platform == "events" else "not-the-secret"
    headers, body = signed(wh, platform, secret=secret)
    error = refused(wh, platform, headers, body)
    assert (error.status, error.field) == (401, f"header:{SIGNATURE_HEADER[platform]}")
    assert error.reason in ("invalid signature", "no matching signature")


@PLATFORMS
def test_missing_signature_header_is_401(wh, platform):
    headers, body = signed(wh, platform)
    del headers[next(k for k in headers if k.lower() == SIGNATURE_HEADER[platform].lower())]
    error = refused(wh, platform, headers, body)
    assert (error.status, error.field, error.reason) == (
        401,
        f"header:{SIGNATURE_HEADER[platform]}",
        "missing header",
    )


@PLATFORMS
@pytest.mark.parametrize("value", ["", "   ", "not base64 !", "é", "v1,", "v1,@@@", "AAAA"])
def test_garbage_signature_is_401(wh, platform, value):
    headers, body = signed(wh, platform)
    headers[next(k for k in headers if k.lower() == SIGNATURE_HEADER[platform].lower())] = value
    assert refused(wh, platform, headers, body).status == 401


@pytest.mark.parametrize("platform", ["shopify", "woocommerce"])
def test_a_signature_of_another_platform_is_401(wh, platform):
    other = "woocommerce" if platform == "shopify" else "shopify"
    secret = wh.secrets.secret_of(other)
    headers, body = signed(wh, platform, secret=secret)
    assert refused(wh, platform, headers, body).status == 401


# -- Standard Webhooks: timestamps, several signatures, the reference implementation --------


@pytest.mark.parametrize(
    ("offset", "ok"),
    [
        (timedelta(0), True),
        (timedelta(minutes=-4, seconds=-59), True),
        (timedelta(minutes=4, seconds=59), True),
        (timedelta(minutes=-5, seconds=-1), False),
        (timedelta(minutes=5, seconds=1), False),
        (timedelta(days=-1), False),
        (timedelta(hours=3), False),
    ],
)
def test_standard_timestamp_tolerance(wh, offset, ok):
    headers, body = wh.events_request(wh.raw("memberflow", "interaction.json"), at=wh.now + offset)
    if ok:
        assert wh.call("events", headers, body).events
    else:
        error = refused(wh, "events", headers, body)
        assert (error.status, error.field) == (401, "header:webhook-timestamp")
        assert error.reason in ("timestamp too old", "timestamp too new")


@pytest.mark.parametrize("header", ["webhook-id", "webhook-timestamp"])
@pytest.mark.parametrize("value", [None, "", "abc", "1.5e9", "-1", "id with spaces"])
def test_standard_missing_or_malformed_headers_are_401(wh, header, value):
    headers, body = wh.events_request(wh.raw("memberflow", "interaction.json"))
    if header == "webhook-id" and value in ("abc", "1.5e9", "-1"):
        # a well-formed id that is not the one signed: the signature no longer matches
        headers[header] = value
        assert refused(wh, "events", headers, body).field == "header:webhook-signature"
        return
    if value is None:
        del headers[header]
    else:
        headers[header] = value
    error = refused(wh, "events", headers, body)
    assert (error.status, error.field) == (401, f"header:{header}")


def test_standard_several_signatures_one_valid(wh):
    headers, body = wh.events_request(wh.raw("memberflow", "interaction.json"))
    good = headers["webhook-signature"]
    bogus = "v1," + base64.b64encode(b"x" * 32).decode()
    headers["webhook-signature"] = f"v1a,abc {bogus} junk v2,{good[3:]} {good}"
    assert wh.call("events", headers, body).events
    headers["webhook-signature"] = f"{bogus} v2,{good[3:]}"  # right digest, unknown version
    assert refused(wh, "events", headers, body).status == 401


def test_standard_signed_with_the_reference_verified_here(wh):
    body = wh.raw("memberflow", "order.paid.json")
    now = datetime.now(UTC)
    reference = Webhook(wh.events_secret)
    headers = {
        "content-type": "application/json",
        "webhook-id": "msg_2KWPBgLlAfxdpx2AI54pPJ85f4W",
        "webhook-timestamp": str(int(now.timestamp())),
        "webhook-signature": reference.sign("msg_2KWPBgLlAfxdpx2AI54pPJ85f4W", now, body.decode()),
    }
    delivery = wh.call("events", headers, body, now=now)
    assert delivery.delivery_id == "events:memberflow:msg_2KWPBgLlAfxdpx2AI54pPJ85f4W"
    # and the reference rejects what we would reject
    with pytest.raises(WebhookVerificationError):
        reference.verify(body + b" ", headers)
    assert refused(wh, "events", headers, body + b" ").status == 401


def test_standard_signed_here_verified_by_the_reference(wh):
    from memberflow.webhooks.signing import standard_headers

    body = wh.raw("memberflow", "member.upserted.json")
    headers = standard_headers(wh.events_secret, "msg_local_1", body, datetime.now(UTC))
    assert Webhook(wh.events_secret).verify(body, headers) == json.loads(body)
    with pytest.raises(WebhookVerificationError):
        Webhook(OTHER).verify(body, headers)


def test_standard_naive_timestamps_mean_utc(wh):
    from memberflow.webhooks.signing import standard_headers

    naive = datetime(2025, 6, 10, 12, 0)
    body = wh.raw("memberflow", "interaction.json")
    headers = standard_headers(wh.events_secret, "m", body, naive)
    assert headers["webhook-timestamp"] == str(int(wh.now.timestamp()))
    signature = Webhook(wh.events_secret).sign("m", naive, body.decode())
    assert headers["webhook-signature"] == signature
    assert wh.call("events", headers, body, now=naive).events  # naive now is UTC too


# -- secrets ---------------------------------------------------------------------------------


def test_dev_secrets():
    secrets = WebhookSecrets.dev()
    assert (secrets.secret_of("shopify"), secrets.secret_of("woocommerce")) == (
        DEV_SHOPIFY_SECRET,
        DEV_WOOCOMMERCE_SECRET,
    )
    assert DEV_MEMBERFLOW_SECRET.startswith("whsec_")
    assert base64.b64decode(DEV_MEMBERFLOW_SECRET[6:]) == b"memberflow-local-development-key"
    [sender] = secrets.of_kind("standard_webhooks")
    assert sender.key == b"memberflow-local-development-key"
    assert secrets.memberflow == DEV_MEMBERFLOW_SECRET  # the outbound channel's


SOURCES = {
    "shopify": [{"shop": "a.myshopify.com", "secret": "s"}],
    "woocommerce": [{"site": "https://a.example/", "secret": "w"}],
    "standard_webhooks": [{"sender": "crm", "secret": "m"}],
}


@pytest.mark.parametrize(
    ("secret_map", "field"),
    [
        ({"s": "", "w": "w", "m": DEV_MEMBERFLOW_SECRET}, "$.sources.shopify[0].secret"),
        ({"w": "w", "m": DEV_MEMBERFLOW_SECRET}, "$.sources.shopify[0].secret"),
        ({"s": "s", "w": "", "m": DEV_MEMBERFLOW_SECRET}, "$.sources.woocommerce[0].secret"),
        ({"s": "s", "w": "w", "m": ""}, "$.sources.standard_webhooks[0].secret"),
        ({"s": "s", "w": "w", "m": "whsec_"}, "$.sources.standard_webhooks[0].secret"),
        ({"s": "s", "w": "w", "m": "whsec_not base64!"}, "$.sources.standard_webhooks[0].secret"),
        # two sources with one secret could not be told apart
        ({"s": "same", "w": "same", "m": DEV_MEMBERFLOW_SECRET}, "$.sources.woocommerce[0].secret"),
    ],
)
def test_bad_secrets_are_refused_at_configuration(secret_map, field):
    secret_map = {**secret_map, "memberflow": DEV_MEMBERFLOW_SECRET}
    with pytest.raises(SourceConfigError) as refused_config:
        WebhookSecrets.from_config(SOURCES, secret_map)
    assert refused_config.value.field == field


def test_the_outbound_secret_is_required():
    with pytest.raises(SourceConfigError):
        WebhookSecrets.from_config(SOURCES, {"s": "s", "w": "w", "m": DEV_MEMBERFLOW_SECRET})


def test_secrets_are_never_printed():
    text = repr(WebhookSecrets.dev()) + str(WebhookSecrets.dev())
    assert DEV_SHOPIFY_SECRET not in text and "whsec" not in text and "wc_" not in text


def test_whsec_prefix_is_optional():
    bare = DEV_MEMBERFLOW_SECRET.removeprefix("whsec_").rstrip("=")
    secrets = WebhookSecrets.from_config(
        SOURCES, {"s": "s", "w": "w", "m": bare, "memberflow": DEV_MEMBERFLOW_SECRET}
    )
    [sender] = secrets.of_kind("standard_webhooks")
    assert sender.key == WebhookSecrets.dev().of_kind("standard_webhooks")[0].key
