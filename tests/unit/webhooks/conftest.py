"""Fixtures for the webhook layer: the sample payloads and a signing sender."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from memberflow.webhooks import Delivery, WebhookSecrets, verify_and_parse
from memberflow.webhooks.signing import shopify_headers, standard_headers, woocommerce_headers

PAYLOADS = Path(__file__).resolve().parents[3] / "events" / "payloads"
SHOP = "memberflow-demo.myshopify.com"
SOURCE = "https://shop.example.com/"
NOW = datetime(2025, 6, 10, 12, 0, tzinfo=UTC)


class Sender:
    """Signs a body the way each platform does and passes it to verify_and_parse."""

    shop = SHOP
    source = SOURCE
    now = NOW
    payloads = PAYLOADS

    def __init__(self) -> None:
        # the default programme's sources with the development secrets
        self.secrets = WebhookSecrets.dev()
        self.shopify_secret = self.secrets.secret_of("shopify", SHOP)
        self.woo_secret = self.secrets.secret_of("woocommerce", SOURCE)
        self.events_secret = self.secrets.secret_of("standard_webhooks", "memberflow")

    # -- payloads
    def raw(self, platform: str, name: str) -> bytes:
        return (PAYLOADS / platform / name).read_bytes()

    def doc(self, platform: str, name: str) -> dict:
        return json.loads(self.raw(platform, name))

    @staticmethod
    def encode(body: bytes | dict | list | str) -> bytes:
        if isinstance(body, bytes):
            return body
        if isinstance(body, str):
            return body.encode()
        return json.dumps(body).encode()

    # -- signed requests: (headers, body)
    def shopify_request(self, topic: str, body: Any, event_id: str = "evt-1", secret=None):
        raw = self.encode(body)
        return shopify_headers(
            secret or self.secrets.secret_of("shopify"), topic, SHOP, raw, event_id
        ), raw

    def woo_request(self, topic: str, body: Any, delivery_id: str = "d-1", secret=None):
        raw = self.encode(body)
        return woocommerce_headers(secret or self.woo_secret, topic, SOURCE, raw, delivery_id), raw

    def events_request(
        self, body: Any, msg_id: str = "msg_1", at: datetime | None = None, secret=None
    ):
        raw = self.encode(body)
        return standard_headers(secret or self.events_secret, msg_id, raw, at or NOW), raw

    # -- deliveries
    def call(
        self, platform: str, headers: dict, body: bytes, now: datetime | None = None
    ) -> Delivery:
        return verify_and_parse(platform, headers, body, self.secrets, now or NOW)

    def shopify(self, topic: str, body: Any, **kw) -> Delivery:
        return self.call("shopify", *self.shopify_request(topic, body, **kw))

    def woo(self, topic: str, body: Any, **kw) -> Delivery:
        return self.call("woocommerce", *self.woo_request(topic, body, **kw))

    def events(self, body: Any, **kw) -> Delivery:
        return self.call("events", *self.events_request(body, **kw))


@pytest.fixture
def wh() -> Sender:
    return Sender()
