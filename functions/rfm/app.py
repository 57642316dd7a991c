"""Weekly RFM recomputation."""

from aws_lambda_powertools import Logger

from memberflow.runtime import app_context

logger = Logger()


@logger.inject_lambda_context
def handler(event, _lambda_context):
    app_context()
    return {"scored": 0}
