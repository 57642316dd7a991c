"""Programme API: an operator publishes a programme version (docs/publishing.md).

``PUT /programme`` takes the programme document (JSON), validates it as start-up does
and publishes it as a new version of the SSM parameter the functions read (201), or
answers 200 when that content is current already (nothing written). A bad document is
refused (400) naming the field as a JSON path under ``body`` and the rule; nothing is
published. ``GET /programme`` reports the published version. The functions pick a new
version up within PROGRAMME_MAX_AGE; cohorts already in a journey keep the version they
pinned.
"""

import boto3
from aws_lambda_powertools import Logger
from aws_lambda_powertools.event_handler import APIGatewayRestResolver

from memberflow.api.http import answer_errors_as_json, error, json_response, read_json
from memberflow.config import ConfigError
from memberflow.config.versions import PublishRefused, current, publish
from memberflow.runtime import app_context

logger = Logger()
app = APIGatewayRestResolver()
answer_errors_as_json(app, logger)
_clients: dict = {}

# Room for a pretty-printed document whose compact form fills the Advanced tier's 8 KB.
MAX_DOCUMENT_BYTES = 64 * 1024


def _ssm():
    if "ssm" not in _clients:
        _clients["ssm"] = boto3.client("ssm", region_name=app_context().settings.region)
    return _clients["ssm"]


def _body_field(path: str) -> str:
    """A programme JSON path ($.journeys.welcome) as the API names body fields."""
    return "body" + path[1:]


@app.put("/programme")
def publish_programme():
    document = read_json(app.current_event.raw_event, max_bytes=MAX_DOCUMENT_BYTES)
    parameter = app_context().settings.programme_parameter
    try:
        published = publish(_ssm(), parameter, document)
    except ConfigError as bad:
        logger.info("programme refused", extra={"field": bad.field})
        return error(400, _body_field(bad.field), bad.rule)
    except PublishRefused as refused:
        field = _body_field(refused.field) if refused.field.startswith("$") else refused.field
        logger.info("programme refused", extra={"field": refused.field})
        return error(refused.status, field, refused.reason)
    logger.info(
        "programme published",
        extra={
            "version": published.version,
            "ssm_version": published.ssm_version,
            "changed": published.changed,
        },
    )
    return json_response(201 if published.changed else 200, published.as_dict())


@app.get("/programme")
def published_programme():
    parameter = app_context().settings.programme_parameter
    if not parameter:
        return error(
            404,
            "ProgrammeConfigParameter",
            "the stack reads the bundled programme: no published version",
        )
    found = current(_ssm(), parameter)
    if found is None:
        return error(404, "ProgrammeConfigParameter", "no valid programme in the parameter")
    return json_response(200, found.as_dict())


@logger.inject_lambda_context
def handler(event, lambda_context):
    app_context()
    return app.resolve(event, lambda_context)
