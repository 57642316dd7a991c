"""Programme report: KPIs, journey funnels by arm, uplift against the holdout."""

from aws_lambda_powertools import Logger
from aws_lambda_powertools.event_handler import APIGatewayRestResolver

from memberflow.api.http import answer_errors_as_json
from memberflow.clock import now
from memberflow.reports.kpis import compute_kpis
from memberflow.runtime import app_context

logger = Logger()
app = APIGatewayRestResolver()
answer_errors_as_json(app, logger)  # a failure is ours (no client input): JSON 500


@app.get("/reports/kpis")
def kpis():
    return compute_kpis(app_context().programme, now())


@logger.inject_lambda_context
def handler(event, lambda_context):
    app_context()
    return app.resolve(event, lambda_context)
