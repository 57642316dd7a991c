"""Webhook path: Shopify, WooCommerce and Standard Webhooks deliveries.

Thin: verify and parse (memberflow.webhooks), apply (memberflow.ingest), answer.
Every refusal is a 4xx whose JSON body names the field or header and the reason.
"""

import base64

from aws_lambda_powertools import Logger
from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response, content_types

from memberflow.clock import now
from memberflow.ingest.deliveries import apply_delivery
from memberflow.runtime import app_context
from memberflow.webhooks import WebhookError, verify_and_parse

logger = Logger()
app = APIGatewayRestResolver()


def _json(status: int, body: dict) -> Response:
    import json

    return Response(status_code=status, content_type=content_types.APPLICATION_JSON,
                    body=json.dumps(body))


def _receive(platform: str) -> Response:
    event = app.current_event
    raw = event.body or ""
    body = base64.b64decode(raw) if event.is_base64_encoded else raw.encode("utf-8")
    context = app_context()
    try:
        delivery = verify_and_parse(platform, dict(event.headers or {}), body,
                                    context.webhook_secrets(), now())
    except WebhookError as error:
        logger.info("delivery refused", extra={"platform": platform, "status": error.status,
                                                "field": error.field, "reason": error.reason})
        return _json(error.status, error.as_body())
    if delivery.ignored:
        logger.info("delivery ignored", extra={"platform": platform, "topic": delivery.topic,
                                                "reason": delivery.reason})
        return _json(202, {"status": "ignored", "topic": delivery.topic, "reason": delivery.reason})
    summary = apply_delivery(delivery, context, now())
    logger.info("delivery applied", extra=summary)
    return _json(200, {"status": "applied", **summary})


@app.post("/webhooks/shopify")
def shopify() -> Response:
    return _receive("shopify")


@app.post("/webhooks/woocommerce")
def woocommerce() -> Response:
    return _receive("woocommerce")


@app.post("/webhooks/events")
def standard_webhooks() -> Response:
    return _receive("events")


@logger.inject_lambda_context
def handler(event, lambda_context):
    return app.resolve(event, lambda_context)
