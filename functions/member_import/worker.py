"""Member import worker: the tasks of the member import state machine.

``plan``: validate the stored file whole (nothing is written if a line is bad) and
write the batches' byte ranges as a JSON array next to it, which the Distributed Map
reads (ItemReader). ``batch``: read one byte range of the file and import its
customers. ``summarise``: add up the batches' counts. Ids, ranges and counts only in
the state machine's payloads.
"""

import json
from datetime import datetime

import boto3
from aws_lambda_powertools import Logger

from memberflow.importing.service import (
    FileRefused,
    check,
    check_range,
    import_customers,
    plan_batches,
    summarise,
)
from memberflow.runtime import app_context

logger = Logger()
_clients: dict = {}


def _s3():
    if "s3" not in _clients:
        _clients["s3"] = boto3.client("s3", region_name=app_context().settings.region)
    return _clients["s3"]


class ImportFileRefused(Exception):  # noqa: N818 - the error name Step Functions reports
    pass


def plan(event: dict) -> dict:
    context = app_context()
    as_of = datetime.fromisoformat(event["as_of"])
    data = _s3().get_object(Bucket=event["bucket"], Key=event["key"])["Body"].read()
    try:
        customers = check(data, context.programme, as_of)
    except FileRefused as refused:
        first = refused.errors[0]
        raise ImportFileRefused(f"line {first.line}: {first.field}: {first.reason}") from None
    batches = plan_batches(data)
    manifest = event["key"] + ".batches.json"
    _s3().put_object(Bucket=event["bucket"], Key=manifest, Body=json.dumps(batches).encode("utf-8"))
    return {"manifest_key": manifest, "batches": len(batches), "customers": len(customers)}


def batch(event: dict) -> dict:
    context = app_context()
    as_of = datetime.fromisoformat(event["as_of"])
    start, end = int(event["start"]), int(event["end"])
    if end <= start:
        return {"customers": 0}
    data = (
        _s3()
        .get_object(Bucket=event["bucket"], Key=event["key"], Range=f"bytes={start}-{end - 1}")[
            "Body"
        ]
        .read()
    )
    customers = check_range(data, int(event["first_line"]), context.programme, as_of)
    return import_customers(customers, context.programme, as_of)


ACTIONS = {"plan": plan, "batch": batch, "summarise": lambda e: summarise(e["results"])}


@logger.inject_lambda_context
def handler(event, lambda_context):
    app_context()
    result = ACTIONS[event["action"]](event)
    logger.info("import task", extra={"action": event["action"]})
    return result
