"""Webhook path: Shopify, WooCommerce and Standard Webhooks deliveries.

Thin: the routes are in :mod:`memberflow.api.webhooks` (verify and parse, apply once,
answer). Every refusal is a 4xx whose JSON body names the field or header and the reason.
"""

from aws_lambda_powertools import Logger

from memberflow.api.http import begin
from memberflow.api.webhooks import build_app
from memberflow.metrics import metrics

logger = Logger(service="memberflow-webhooks")
app = build_app()


@metrics.log_metrics
@logger.inject_lambda_context
def handler(event, lambda_context):
    begin(event, lambda_context)
    return app.resolve(event, lambda_context)
