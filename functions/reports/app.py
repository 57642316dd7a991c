"""Programme report: KPIs, journey funnels by arm, uplift against the holdout."""

from aws_lambda_powertools import Logger
from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response
from aws_lambda_powertools.event_handler.exceptions import NotFoundError

from memberflow.api.http import error
from memberflow.clock import now
from memberflow.reports.kpis import compute_kpis
from memberflow.runtime import app_context

logger = Logger()
app = APIGatewayRestResolver()


@app.not_found
def not_found(_: NotFoundError) -> Response:
    return error(404, "path", "no such route")


@app.exception_handler(Exception)
def failed(failure: Exception) -> Response:
    # The report reads no client input: a failure is ours, answered in the API's error
    # shape; the type only is logged (messages of lower layers may quote values).
    logger.error("report failed", extra={"error_type": type(failure).__name__})
    return error(500, None, "internal error")


@app.get("/reports/kpis")
def kpis():
    return compute_kpis(app_context().programme, now())


@logger.inject_lambda_context
def handler(event, lambda_context):
    app_context()
    return app.resolve(event, lambda_context)
