"""Write API Gateway (REST, proxy) events for ``sam local invoke -e``, signed with the
PUBLIC development secrets of docs/local-stack.md (never deployed):

    .venv/bin/python events/make_apigw.py            # writes events/apigw/*.json
    sam local invoke WebhookFunction -e events/apigw/shopify_customers_create.json

Shopify and WooCommerce events are deterministic (a test checks the files are current).
The Standard Webhooks one carries a timestamp that goes stale after 5 minutes (401):
regenerate it right before invoking (``--events-only``).
"""

from __future__ import annotations

import json
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "shared"))

from memberflow.webhooks.secrets import (  # noqa: E402
    DEV_MEMBERFLOW_SECRET,
    DEV_SHOPIFY_SECRET,
    DEV_WOOCOMMERCE_SECRET,
)
from memberflow.webhooks.signing import (  # noqa: E402
    shopify_headers,
    standard_headers,
    woocommerce_headers,
)

SHOP = "memberflow-demo.myshopify.com"
SOURCE = "https://shop.example.com/"
PAYLOADS = HERE / "payloads"
OUT = HERE / "apigw"

SHOPIFY = [
    ("customers/create", "customers_create.json"),
    ("orders/paid", "orders_paid.json"),
    ("refunds/create", "refunds_create.json"),
    ("customers/redact", "customers_redact.json"),
]
WOOCOMMERCE = [
    ("customer.created", "customer.created.json"),
    ("order.updated", "order.updated_processing.json"),
]
EVENTS = ["order.paid.json"]


def proxy_event(path: str, headers: dict[str, str], body: bytes) -> dict:
    return {
        "resource": path,
        "path": path,
        "httpMethod": "POST",
        "headers": headers,
        "multiValueHeaders": {k: [v] for k, v in headers.items()},
        "queryStringParameters": None,
        "multiValueQueryStringParameters": None,
        "pathParameters": None,
        "stageVariables": None,
        "requestContext": {
            "resourcePath": path,
            "httpMethod": "POST",
            "path": f"/v1{path}",
            "stage": "v1",
            "requestId": "00000000-0000-4000-8000-000000000000",
            "identity": {"sourceIp": "127.0.0.1"},
            "accountId": "123456789012",
            "apiId": "local",
        },
        "body": body.decode("utf-8"),
        "isBase64Encoded": False,
    }


def platform_events() -> dict[str, dict]:
    out = {}
    for topic, name in SHOPIFY:
        body = (PAYLOADS / "shopify" / name).read_bytes()
        headers = shopify_headers(DEV_SHOPIFY_SECRET, topic, SHOP, body, f"sample-{name}")
        out[f"shopify_{name}"] = proxy_event("/webhooks/shopify", headers, body)
    for topic, name in WOOCOMMERCE:
        body = (PAYLOADS / "woocommerce" / name).read_bytes()
        headers = woocommerce_headers(DEV_WOOCOMMERCE_SECRET, topic, SOURCE, body, f"sample-{name}")
        out[f"woocommerce_{name.replace('.', '_', 1)}"] = proxy_event(
            "/webhooks/woocommerce", headers, body
        )
    return out


def standard_events(at: datetime) -> dict[str, dict]:
    out = {}
    for name in EVENTS:
        body = (PAYLOADS / "memberflow" / name).read_bytes()
        headers = standard_headers(DEV_MEMBERFLOW_SECRET, f"msg_sample_{name}", body, at)
        out[f"memberflow_{name.replace('.', '_', 1)}"] = proxy_event(
            "/webhooks/events", headers, body
        )
    return out


def render(event: dict) -> str:
    return json.dumps(event, indent=2, ensure_ascii=False) + "\n"


def main(argv: list[str]) -> int:
    OUT.mkdir(exist_ok=True)
    events = {} if "--events-only" in argv else platform_events()
    events.update(standard_events(datetime.fromtimestamp(time.time(), UTC)))
    for name, event in events.items():
        (OUT / name).write_text(render(event))
        print(OUT / name)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
