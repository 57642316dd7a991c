"""Sign deliveries the way the platforms do: for tests, the local demo and replay tools.

The verifier (:mod:`memberflow.webhooks.verify`) uses the same digest functions, so
the two can never disagree about what is signed.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import math
import uuid
from datetime import UTC, datetime

from memberflow.webhooks.secrets import standard_key

JSON = "application/json"
SHOPIFY_API_VERSION = "2025-07"


def hmac_sha256_base64(secret: str | bytes, body: bytes) -> str:
    """base64(HMAC-SHA256(secret, body)): Shopify's and WooCommerce's signature."""
    key = secret.encode() if isinstance(secret, str) else secret
    return base64.b64encode(hmac.new(key, body, hashlib.sha256).digest()).decode("ascii")


def standard_digest(key: bytes, msg_id: str, timestamp: str, body: bytes) -> bytes:
    """HMAC-SHA256 over ``{id}.{timestamp}.{body}`` (Standard Webhooks, scheme v1)."""
    signed = msg_id.encode() + b"." + timestamp.encode() + b"." + body
    return hmac.new(key, signed, hashlib.sha256).digest()


def shopify_headers(
    secret: str,
    topic: str,
    shop: str,
    body: bytes,
    event_id: str,
    *,
    webhook_id: str | None = None,
    triggered_at: datetime | None = None,
    api_version: str = SHOPIFY_API_VERSION,
) -> dict[str, str]:
    """The headers Shopify sends with a delivery of ``body``."""
    headers = {
        "Content-Type": JSON,
        "X-Shopify-Topic": topic,
        "X-Shopify-Hmac-Sha256": hmac_sha256_base64(secret, body),
        "X-Shopify-Shop-Domain": shop,
        "X-Shopify-API-Version": api_version,
        "X-Shopify-Webhook-Id": webhook_id
        or str(uuid.uuid5(uuid.NAMESPACE_URL, f"{shop}/{topic}/{event_id}")),
        "X-Shopify-Event-Id": event_id,
    }
    if triggered_at is not None:
        headers["X-Shopify-Triggered-At"] = triggered_at.astimezone(UTC).isoformat()
    return headers


def woocommerce_headers(
    secret: str,
    topic: str,
    source: str,
    body: bytes,
    delivery_id: str,
    *,
    webhook_id: int = 1,
) -> dict[str, str]:
    """The headers WooCommerce (``WC_Webhook::deliver``) sends with ``body``."""
    resource, _, event = topic.partition(".")
    return {
        "Content-Type": JSON,
        "User-Agent": "WooCommerce/9.9.0 Hookshot (WordPress/6.8)",
        "X-WC-Webhook-Source": source,
        "X-WC-Webhook-Topic": topic,
        "X-WC-Webhook-Resource": resource,
        "X-WC-Webhook-Event": event,
        "X-WC-Webhook-Signature": hmac_sha256_base64(secret, body),
        "X-WC-Webhook-ID": str(webhook_id),
        "X-WC-Webhook-Delivery-ID": delivery_id,
    }


def woocommerce_ping(webhook_id: int = 1) -> tuple[dict[str, str], bytes]:
    """The unsigned ping WooCommerce posts when a webhook is saved (``deliver_ping``):
    a form-encoded ``webhook_id=<id>`` and none of the X-WC-Webhook-* headers."""
    headers = {
        "Content-Type": "application/x-www-form-urlencoded",
        "User-Agent": "WooCommerce/9.9.0 Hookshot (WordPress/6.8)",
    }
    return headers, f"webhook_id={webhook_id}".encode()


def standard_headers(
    whsec_secret: str, msg_id: str, body: bytes, timestamp: datetime
) -> dict[str, str]:
    """Standard Webhooks headers for ``body`` sent at ``timestamp``."""
    if timestamp.tzinfo is None:  # naive means UTC, as in the reference implementation
        timestamp = timestamp.replace(tzinfo=UTC)
    ts = str(math.floor(timestamp.timestamp()))
    digest = standard_digest(standard_key(whsec_secret), msg_id, ts, body)
    return {
        "Content-Type": JSON,
        "webhook-id": msg_id,
        "webhook-timestamp": ts,
        "webhook-signature": "v1," + base64.b64encode(digest).decode("ascii"),
    }
