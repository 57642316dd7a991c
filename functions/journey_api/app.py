"""Journey API: operators and CRMs enrol member ids into a journey as a cohort."""

import json

from aws_lambda_powertools import Logger
from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response, content_types

from memberflow.api.http import answer_errors_as_json, read_json
from memberflow.journeys.entry import JourneyEntry
from memberflow.runtime import app_context

logger = Logger()
app = APIGatewayRestResolver()
answer_errors_as_json(app, logger)


def _json(status: int, body: dict) -> Response:
    return Response(
        status_code=status, content_type=content_types.APPLICATION_JSON, body=json.dumps(body)
    )


@app.post("/journeys/<journey>/enrollments")
def enrol(journey: str):
    body = read_json(app.current_event.raw_event)  # refusals: answer_errors_as_json
    status, payload = JourneyEntry(app_context()).enrol_from_api(journey, body)
    # Ids and counts only: never member data in logs.
    logger.info("enrol", extra={"journey": journey, "status": status})
    return _json(status, payload)


@logger.inject_lambda_context
def handler(event, lambda_context):
    app_context()
    return app.resolve(event, lambda_context)
