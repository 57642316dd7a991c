"""KPI snapshot job: computes the programme KPIs from the whole store and stores them
for ``GET /reports/kpis``. Runs weekly (EventBridge Scheduler) and when
``POST /reports/kpis/snapshots`` invokes it asynchronously."""

from aws_lambda_powertools import Logger

from memberflow.clock import now
from memberflow.reports.snapshots import write_snapshot
from memberflow.runtime import app_context

logger = Logger()


@logger.inject_lambda_context
def handler(event, lambda_context):
    kpis = write_snapshot(app_context().programme, now())
    logger.info("kpi snapshot", extra={"generated_at": kpis["generated_at"]})
    return {"generated_at": kpis["generated_at"]}
