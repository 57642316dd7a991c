"""Daily sweep: members due for a stage, tier or points review today."""

from aws_lambda_powertools import Logger

from memberflow.clock import now
from memberflow.runtime import app_context

logger = Logger()


@logger.inject_lambda_context
def handler(event, _lambda_context):
    app_context()
    logger.info("sweep", extra={"at": now().isoformat()})
    return {"swept": 0}
