"""Helpers for the webhook and member API integration tests (no tests in here).

:class:`Platforms` signs deliveries like Shopify, WooCommerce and a Standard Webhooks
sender do, with the local stack's (public, development) secrets, and posts them
through the routes of template.yaml.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from memberflow.webhooks.signing import shopify_headers, standard_headers, woocommerce_headers

ROOT = Path(__file__).resolve().parents[2]
PAYLOADS = ROOT / "events" / "payloads"
SHOP = "memberflow-demo.myshopify.com"
SHOP_B = "memberflow-second.myshopify.com"
SOURCE = "https://shop.example.com/"
SENDER = "memberflow"

TABLES = (
    "MembersTable",
    "IdentitiesTable",
    "OrdersTable",
    "LedgerTable",
    "EnrolmentsTable",
    "CohortsTable",
    "MessagesTable",
    "CouponsTable",
    "IdempotencyTable",
)


def raw(platform: str, name: str) -> bytes:
    return (PAYLOADS / platform / name).read_bytes()


def doc(platform: str, name: str) -> dict:
    return json.loads(raw(platform, name))


def encode(body: Any) -> bytes:
    if isinstance(body, bytes):
        return body
    if isinstance(body, str):
        return body.encode()
    return json.dumps(body).encode()


class Platforms:
    """Each sender signs with the secret of its configured source (the programme's
    ``sources``, the local stack's development secret map); ``secret=`` overrides."""

    def __init__(self, stack):
        from memberflow.config import load_programme
        from memberflow.webhooks.secrets import WebhookSecrets

        self.stack = stack
        self.secrets = WebhookSecrets.from_config(
            load_programme(stack.programme_file or None).sources, stack.webhook_secret_map
        )
        self.shopify_secret = self.secrets.secret_of("shopify", SHOP)
        self.woo_secret = self.secrets.secret_of("woocommerce", SOURCE)
        self.events_secret = self.secrets.secret_of("standard_webhooks", SENDER)

    def _of(self, kind: str, name: str, default: str) -> str:
        source = self.secrets.source(kind, name)
        return source.secret if source is not None else default

    def shopify(
        self, topic: str, body: Any, event_id: str, shop: str = SHOP, secret: str | None = None
    ):
        data = encode(body)
        secret = secret or self._of("shopify", shop, self.shopify_secret)
        headers = shopify_headers(secret, topic, shop, data, event_id)
        return self.stack.http("POST", "/webhooks/shopify", body=data, headers=headers)

    def woo(
        self,
        topic: str,
        body: Any,
        delivery_id: str,
        source: str = SOURCE,
        secret: str | None = None,
    ):
        data = encode(body)
        secret = secret or self._of("woocommerce", source, self.woo_secret)
        headers = woocommerce_headers(secret, topic, source, data, delivery_id)
        return self.stack.http("POST", "/webhooks/woocommerce", body=data, headers=headers)

    def events(self, body: Any, msg_id: str, secret: str | None = None):
        data = encode(body)
        headers = standard_headers(
            secret or self.events_secret, msg_id, data, self.stack.clock.now()
        )
        return self.stack.http("POST", "/webhooks/events", body=data, headers=headers)


def shopify_topic(name: str) -> str:
    return name.removesuffix(".json").replace("_", "/", 1)


def woo_topic(name: str) -> str:
    return name.removesuffix(".json").split("_")[0]


def count_items(stack) -> dict[str, int]:
    dynamodb = stack.client("dynamodb")
    counts = {}
    for logical_id in TABLES:
        name = stack.physical[logical_id]["Ref"]
        counts[logical_id] = dynamodb.scan(TableName=name, Select="COUNT")["Count"]
    return counts


def all_items(stack) -> dict[str, list[dict]]:
    """Every item of every table (local test only), in DynamoDB JSON."""
    dynamodb = stack.client("dynamodb")
    out = {}
    for logical_id in stack.template.tables:
        name = stack.physical[logical_id]["Ref"]
        items, kwargs = [], {"TableName": name}
        while True:
            page = dynamodb.scan(**kwargs)
            items.extend(page["Items"])
            if "LastEvaluatedKey" not in page:
                break
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]
        out[logical_id] = items
    return out


def programme_with_sources(tmp_path: Path, sources: dict) -> Path:
    """A programme file: the defaults with ``sources`` replaced."""
    from memberflow.config.programme import default_document

    document = default_document()
    document["sources"] = sources
    path = tmp_path / "programme.json"
    path.write_text(json.dumps(document))
    return path


TWO_SHOPS = {
    "shopify": [
        {"shop": SHOP, "secret": "shopify"},
        {"shop": SHOP_B, "secret": "shopify-second"},
    ],
    "woocommerce": [{"site": SOURCE, "secret": "woocommerce"}],
    "standard_webhooks": [{"sender": SENDER, "secret": "memberflow"}],
}


def stack_with_sources(tmp_path: Path, monkeypatch, sources: dict):
    """A local stack whose programme accepts ``sources`` (a context manager)."""
    from memberflow_local.stack import LocalStack

    # LocalStack(programme_file=...) exports MEMBERFLOW_PROGRAMME_FILE: undo it afterwards
    monkeypatch.setenv("MEMBERFLOW_PROGRAMME_FILE", "")
    monkeypatch.delenv("MEMBERFLOW_PROGRAMME_FILE")
    return LocalStack(programme_file=str(programme_with_sources(tmp_path, sources)))
