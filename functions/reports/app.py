"""Programme report: serves the newest KPI snapshot (KPIs, journey funnels by arm,
uplift against the holdout); ``POST /reports/kpis/snapshots`` asks for a fresh one.

The KPIs are computed by KpiSnapshotFunction (a job: it scans the store), never in
this request: the route reads one item, whatever the size of the programme."""

import json
import os

import boto3
from aws_lambda_powertools import Logger
from aws_lambda_powertools.event_handler import APIGatewayRestResolver

from memberflow.api.http import answer_errors_as_json, json_response
from memberflow.clock import now
from memberflow.reports.snapshots import kpi_snapshot_function, latest_snapshot
from memberflow.runtime import app_context

logger = Logger()
app = APIGatewayRestResolver()
answer_errors_as_json(app, logger)  # a failure is ours (no client input): JSON 500
_lambda = {}


@app.get("/reports/kpis")
def kpis():
    snapshot = latest_snapshot()
    if snapshot is None:
        reason = "no KPI snapshot yet: POST /reports/kpis/snapshots computes one"
        return json_response(404, {"error": {"status": 404, "field": "snapshot", "reason": reason}})
    return json_response(200, snapshot)


@app.post("/reports/kpis/snapshots")
def request_snapshot():
    """Asynchronous: the snapshot function computes it; GET /reports/kpis shows it once
    its ``generated_at`` is at or after ``requested_at``."""
    context = app_context()
    if "client" not in _lambda:
        _lambda["client"] = boto3.client("lambda", region_name=context.settings.region)
    requested_at = now()
    _lambda["client"].invoke(
        FunctionName=kpi_snapshot_function(os.environ),
        InvocationType="Event",
        Payload=json.dumps({"requested_at": requested_at.isoformat()}).encode(),
    )
    return json_response(
        202, {"requested_at": requested_at.isoformat(), "status_url": "/reports/kpis"}
    )


@logger.inject_lambda_context
def handler(event, lambda_context):
    app_context()
    return app.resolve(event, lambda_context)
