"""Journey API: operators and CRMs enrol member ids into a journey as a cohort.

``POST /journeys/{journey}/enrollments`` records the request and hands it to the cohort
entry function (an asynchronous invocation), answering 202 at once; ``GET
/journeys/{journey}/enrollments/{cohort_id}`` reports the cohort's status and the ids
refused, with why. ``PUT /members/{member_id}/suppression`` is the operator's switch
that keeps a member out of every marketing journey.
"""

import json
import os

import boto3
from aws_lambda_powertools import Logger
from aws_lambda_powertools.event_handler import APIGatewayRestResolver

from memberflow.api.http import answer_errors_as_json, json_response, read_json
from memberflow.journeys.entry import EntryError, JourneyEntry, cohort_entry_function
from memberflow.journeys.suppression import set_suppression
from memberflow.runtime import app_context

logger = Logger()
app = APIGatewayRestResolver()
answer_errors_as_json(app, logger)
_lambda = {}


def _hand_off(cohort_id: str) -> None:
    """Asynchronous invocation of the cohort entry function: ids only in the payload."""
    context = app_context()
    if "client" not in _lambda:
        _lambda["client"] = boto3.client("lambda", region_name=context.settings.region)
    _lambda["client"].invoke(
        FunctionName=cohort_entry_function(os.environ),
        InvocationType="Event",
        Payload=json.dumps({"cohort_id": cohort_id}).encode(),
    )


@app.post("/journeys/<journey>/enrollments")
def enrol(journey: str):
    body = read_json(app.current_event.raw_event)  # refusals: answer_errors_as_json
    key = app.current_event.headers.get("Idempotency-Key")  # case-insensitive
    status, payload = JourneyEntry(app_context()).accept(journey, body, key, _hand_off)
    # Ids and counts only: never member data in logs.
    logger.info("enrol", extra={"journey": journey, "status": status})
    headers = None
    if "cohort_id" in payload:
        headers = {"Location": f"/journeys/{journey}/enrollments/{payload['cohort_id']}"}
    return json_response(status, payload, headers)


@app.get("/journeys/<journey>/enrollments/<cohort_id>")
def cohort_status(journey: str, cohort_id: str):
    status, payload = JourneyEntry(app_context()).status(journey, cohort_id)
    return json_response(status, payload)


@app.put("/members/<member_id>/suppression")
def suppression(member_id: str):
    try:
        status, payload = set_suppression(member_id, read_json(app.current_event.raw_event))
    except EntryError as error:
        return json_response(error.status, error.body())
    logger.info("suppression", extra={"member_id": member_id, "status": status})
    return json_response(status, payload)


@logger.inject_lambda_context
def handler(event, lambda_context):
    app_context()
    return app.resolve(event, lambda_context)
