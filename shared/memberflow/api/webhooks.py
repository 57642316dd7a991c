"""The webhook routes: verify and parse (memberflow.webhooks), apply once
(memberflow.ingest), answer. Every refusal is a 4xx whose JSON body names the field or
header and the reason; nothing is stored before the signature and schema checks pass.
"""

from __future__ import annotations

import base64
import binascii

from aws_lambda_powertools import Logger
from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response

from memberflow.api.http import error, json_response, lambda_context, raw_event
from memberflow.clock import now
from memberflow.metrics import count
from memberflow.runtime import app_context
from memberflow.webhooks import WebhookError, verify_and_parse

# a child of the handler's Logger(service="memberflow-webhooks"): JSON, ids only
log = Logger(service="memberflow-webhooks", child=True)

ERRORS = {
    400: {
        "description": "Body not UTF-8 / JSON, or a field fails the schema (named in error.field)"
    },
    401: {
        "description": "Missing or invalid signature, stale timestamp (error.field names the header)"
    },
    403: {
        "description": "The source is not configured in the programme's sources (error.field names the header or body.data.shop)"
    },
    409: {
        "description": "The delivery id was used before with another body (error.field = delivery), or the same delivery is being applied right now (Retry-After)"
    },
    413: {"description": "Body larger than 256 KiB"},
    415: {"description": "Content-Type is not application/json (utf-8)"},
    500: {"description": "Applying failed; nothing is marked done, so a redelivery finishes it"},
}
OK = {
    200: {"description": "Applied, or a duplicate of a delivery already applied"},
    202: {"description": "Genuine but ignored (unknown topic, ping, untracked order status)"},
}


def _body(event: dict) -> bytes:
    """The raw bytes as sent: API Gateway base64-encodes bodies it treats as binary."""
    raw = event.get("body")
    if raw is None:
        return b""
    if event.get("isBase64Encoded"):
        try:
            return base64.b64decode(raw, validate=False)
        except (binascii.Error, ValueError):
            raise WebhookError(400, "body", "invalid base64 from the gateway") from None
    return raw.encode("utf-8", "surrogatepass") if isinstance(raw, str) else bytes(raw)


def _headers(event: dict) -> dict[str, str]:
    headers = dict(event.get("headers") or {})
    for name, values in (event.get("multiValueHeaders") or {}).items():
        if name not in headers and values:
            headers[name] = values[-1]
    return headers


def receive(platform: str) -> Response:
    from memberflow.ingest.deliveries import DeliveryConflict, DeliveryInProgress, apply_once

    event = raw_event()
    context = app_context()
    try:
        delivery = verify_and_parse(
            platform, _headers(event), _body(event), context.webhook_secrets(), now()
        )
    except WebhookError as refused:
        log.info(
            "delivery refused",
            extra={
                "platform": platform,
                "status": refused.status,
                "field": refused.field,
                "reason": refused.reason,
            },
        )
        count("DeliveriesRefused")
        return json_response(refused.status, refused.as_body())
    if delivery.ignored:
        log.info(
            "delivery ignored",
            extra={
                "platform": platform,
                "topic": delivery.topic,
                "reason": delivery.reason,
                "delivery_id": delivery.delivery_id,
            },
        )
        count("DeliveriesIgnored")
        return json_response(
            202, {"status": "ignored", "topic": delivery.topic, "reason": delivery.reason}
        )
    try:
        summary = apply_once(delivery, context, now(), lambda_context())
    except DeliveryConflict:
        log.info(
            "delivery id reused with another body", extra={"delivery_id": delivery.delivery_id}
        )
        count("DeliveriesRefused")
        return error(409, "delivery", "this delivery id was used with another body")
    except DeliveryInProgress:
        log.info("delivery in progress elsewhere", extra={"delivery_id": delivery.delivery_id})
        return error(
            409,
            "delivery",
            "the same delivery is being applied; redeliver later",
            {"Retry-After": "5"},
        )
    except Exception as failure:  # noqa: BLE001 - answered 500 so the platform retries
        # the type only: messages of lower layers may quote values
        log.error(
            "delivery failed",
            extra={
                "delivery_id": delivery.delivery_id,
                "topic": delivery.topic,
                "error_type": type(failure).__name__,
            },
        )
        return error(500, None, "could not apply the delivery; it will be retried")
    log.info("delivery applied", extra=summary)
    count("DeliveriesApplied")
    return json_response(200, {"status": "applied", **summary})


def build_app() -> APIGatewayRestResolver:
    app = APIGatewayRestResolver()
    responses = {**OK, **ERRORS}

    @app.post(
        "/webhooks/shopify",
        summary="Shopify webhook deliveries",
        description=(
            "Topics customers/create, customers/update, customers/email_marketing_consent_update, "
            "customers/marketing_consent_update, orders/create, orders/paid, orders/cancelled, "
            "refunds/create, customers/data_request, customers/redact, shop/redact. The shop "
            "(X-Shopify-Shop-Domain) must be configured in the programme's sources (403); "
            "signed with X-Shopify-Hmac-Sha256 = base64(HMAC-SHA256(that shop's secret, raw "
            "body)); deduplicated on (shop, topic, X-Shopify-Event-Id), another body under "
            "the same id is 409."
        ),
        tags=["webhooks"],
        responses=responses,
    )
    def shopify():
        return receive("shopify")

    @app.post(
        "/webhooks/woocommerce",
        summary="WooCommerce webhook deliveries",
        description=(
            "Topics customer.created, customer.updated, order.created, order.updated and the "
            "unsigned ping sent when a hook is saved. The site (X-WC-Webhook-Source) must be "
            "configured in the programme's sources (403); signed with X-WC-Webhook-Signature "
            "= base64(HMAC-SHA256(that site's secret, raw body)); deduplicated on "
            "X-WC-Webhook-Delivery-ID, another body under the same id is 409."
        ),
        tags=["webhooks"],
        responses=responses,
    )
    def woocommerce():
        return receive("woocommerce")

    @app.post(
        "/webhooks/events",
        summary="memberflow events (any platform), Standard Webhooks signed",
        description=(
            "Envelope {type, timestamp, data}; types member.upserted, order.paid, "
            "order.refunded, interaction, consent.changed (JSON Schemas in "
            "shared/memberflow/webhooks/schemas). Headers webhook-id, webhook-timestamp "
            "(5-minute tolerance), webhook-signature v1,<base64> with the key of a sender "
            "configured in the programme's sources (the key that verifies names the sender); "
            "data.platform/shop must name a configured source (403); another body under the "
            "same webhook-id is 409."
        ),
        tags=["webhooks"],
        responses=responses,
    )
    def standard_webhooks():
        return receive("events")

    return app
