"""Journey API: operators and CRMs enrol member ids into a journey as a cohort."""

from aws_lambda_powertools import Logger
from aws_lambda_powertools.event_handler import APIGatewayRestResolver

from memberflow.runtime import app_context

logger = Logger()
app = APIGatewayRestResolver()


@logger.inject_lambda_context
def handler(event, lambda_context):
    app_context()
    return app.resolve(event, lambda_context)
