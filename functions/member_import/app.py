"""Member import API: the go-live import of the existing customer base.

``POST /imports`` takes a JSON Lines file (one customer a line, docs/import.md). The
whole file is validated first: any bad line refuses it (400 naming the line and the
field) and nothing is written. A file of at most one batch is imported here (200 with
counts); a larger one is stored in the import bucket and processed by the member import
state machine in batches (202 with its ``import_id``; ``GET /imports/{import_id}`` reports
it). Counts and ids only in answers and logs: the file holds personal data.
"""

import base64
import hashlib
import json
import re

import boto3
from aws_lambda_powertools import Logger
from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response

from memberflow.api.http import answer_errors_as_json, error, json_response
from memberflow.clock import now
from memberflow.importing.service import FileRefused, check, fits_one_batch, import_customers
from memberflow.importing.settings import import_settings
from memberflow.runtime import app_context

logger = Logger()
app = APIGatewayRestResolver()
answer_errors_as_json(app, logger)
_clients: dict = {}

MAX_FILE_BYTES = 10 * 1024 * 1024  # API Gateway's payload quota
IMPORT_ID = re.compile(r"import-[0-9a-f]{24}-[0-9]{8}T[0-9]{6}")


def _client(service: str):
    if service not in _clients:
        _clients[service] = boto3.client(service, region_name=app_context().settings.region)
    return _clients[service]


def _body() -> bytes:
    event = app.current_event.raw_event
    raw = event.get("body") or ""
    return base64.b64decode(raw) if event.get("isBase64Encoded") else raw.encode("utf-8")


JSON_LINES = {"application/x-ndjson", "application/jsonl", "application/x-jsonlines", "text/plain"}


def _content_type_refused() -> Response | None:
    """JSON Lines has no registered media type: the common ones, UTF-8 only."""
    value = app.current_event.headers.get("Content-Type")  # case-insensitive
    if value is None:
        return None
    media, _, parameters = value.partition(";")
    charset = parameters.strip().lower().removeprefix("charset=").strip('"') if parameters else ""
    if media.strip().lower() not in JSON_LINES or charset not in ("", "utf-8"):
        return error(415, "header:Content-Type", "must be application/x-ndjson (UTF-8)")
    return None


@app.post("/imports")
def start_import():
    settings = import_settings()
    refused = _content_type_refused()
    if refused is not None:
        return refused
    data = _body()
    if not data.strip():
        return error(400, "body", "is empty: send the customers as JSON Lines")
    if len(data) > MAX_FILE_BYTES:
        return error(413, "body", f"is over {MAX_FILE_BYTES} bytes: split the file")
    as_of = now()
    context = app_context()
    try:
        customers = check(data, context.programme, as_of)
    except FileRefused as refused:
        logger.info("import refused", extra={"bad_lines": len(refused.errors)})
        return json_response(400, refused.body())
    if fits_one_batch(data, customers):
        counts = import_customers(customers, context.programme, as_of)
        logger.info("import done", extra=counts)
        return json_response(
            200, {"status": "SUCCEEDED", "as_of": as_of.isoformat(), "result": counts}
        )
    digest = hashlib.sha256(data).hexdigest()
    key = f"imports/{digest}.jsonl"
    _client("s3").put_object(Bucket=settings.bucket, Key=key, Body=data)
    name = f"import-{digest[:24]}-{as_of:%Y%m%dT%H%M%S}"
    _client("stepfunctions").start_execution(
        stateMachineArn=settings.machine_arn,
        name=name,
        input=json.dumps({"bucket": settings.bucket, "key": key, "as_of": as_of.isoformat()}),
    )
    logger.info("import started", extra={"import_id": name, "customers": len(customers)})
    return json_response(
        202,
        {"import_id": name, "status": "RUNNING", "customers": len(customers)},
        {"Location": f"/imports/{name}"},
    )


@app.get("/imports/<import_id>")
def import_status(import_id: str):
    settings = import_settings()
    if not IMPORT_ID.fullmatch(import_id):
        return error(404, "import_id", "no such import")
    arn = settings.machine_arn.replace(":stateMachine:", ":execution:") + f":{import_id}"
    client = _client("stepfunctions")
    try:
        execution = client.describe_execution(executionArn=arn)
    except client.exceptions.ExecutionDoesNotExist:
        return error(404, "import_id", "no such import")
    body = {"import_id": import_id, "status": execution["status"]}
    if execution["status"] == "SUCCEEDED":
        body["result"] = json.loads(execution.get("output") or "{}")
    elif execution["status"] in ("FAILED", "TIMED_OUT", "ABORTED"):
        body["error"] = execution.get("error")
    return json_response(200, body)


@logger.inject_lambda_context
def handler(event, lambda_context):
    app_context()
    import_settings()  # refuse to serve without the settings, naming the variable
    return app.resolve(event, lambda_context)
