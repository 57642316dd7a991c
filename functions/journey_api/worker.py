"""Cohort entry: the asynchronous half of ``POST /journeys/{journey}/enrollments``.

Invoked asynchronously with ``{"cohort_id": ...}`` (ids only); enrols the recorded
request in batches and starts the cohort's execution. Idempotent on the cohort id, so
Lambda's retries of an asynchronous invocation enrol nobody twice.
"""

from aws_lambda_powertools import Logger

from memberflow.journeys.entry import JourneyEntry
from memberflow.runtime import app_context

logger = Logger()


@logger.inject_lambda_context
def handler(event, lambda_context):
    status = JourneyEntry(app_context()).run_request(event["cohort_id"])
    logger.info(
        "cohort entered",
        extra={
            "cohort_id": status["cohort_id"],
            "requested": status["requested"],
            "refused": len(status["refused"]),
        },
    )
    return {k: status[k] for k in ("cohort_id", "status", "requested", "started")}
