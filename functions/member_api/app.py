"""Member API: lookups, ledger, journeys, consent, export, erasure, redemptions
(IAM-authorised in AWS). Thin: the routes are in :mod:`memberflow.api.members`."""

from aws_lambda_powertools import Logger

from memberflow.api.http import begin
from memberflow.api.members import build_app
from memberflow.api.openapi import document
from memberflow.metrics import metrics  # PointsRedeemed
from memberflow.runtime import app_context

logger = Logger(service="memberflow-member-api")
app = build_app(openapi=document)


@metrics.log_metrics
@logger.inject_lambda_context
def handler(event, lambda_context):
    app_context()
    begin(event, lambda_context)
    return app.resolve(event, lambda_context)
