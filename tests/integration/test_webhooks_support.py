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
    def __init__(self, stack):
        self.stack = stack
        secrets = stack.webhook_secrets
        self.shopify_secret = secrets["SHOPIFY_WEBHOOK_SECRET"]
        self.woo_secret = secrets["WOOCOMMERCE_WEBHOOK_SECRET"]
        self.events_secret = secrets["MEMBERFLOW_WEBHOOK_SECRET"]

    def shopify(self, topic: str, body: Any, event_id: str, shop: str = SHOP):
        data = encode(body)
        headers = shopify_headers(self.shopify_secret, topic, shop, data, event_id)
        return self.stack.http("POST", "/webhooks/shopify", body=data, headers=headers)

    def woo(self, topic: str, body: Any, delivery_id: str, source: str = SOURCE):
        data = encode(body)
        headers = woocommerce_headers(self.woo_secret, topic, source, data, delivery_id)
        return self.stack.http("POST", "/webhooks/woocommerce", body=data, headers=headers)

    def events(self, body: Any, msg_id: str):
        data = encode(body)
        headers = standard_headers(self.events_secret, msg_id, data, self.stack.clock.now())
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
