"""Shared fixtures: a fresh embedded local stack built from template.yaml."""

from __future__ import annotations

import pytest

from memberflow.webhooks.signing import shopify_headers
from memberflow_local.stack import LocalStack

SHOP = "memberflow-demo.myshopify.com"


@pytest.fixture
def stack():
    with LocalStack() as local:
        yield local


def signed_shopify(stack: LocalStack, topic: str, body: bytes, event_id: str) -> dict:
    secret = stack.webhook_secrets["SHOPIFY_WEBHOOK_SECRET"]
    return shopify_headers(secret, topic, SHOP, body, event_id)
