"""The sweep (02:00 and 14:00 UTC): members due for a stage, tier, points or date review."""

from aws_lambda_powertools import Logger

from memberflow.clock import now
from memberflow.loyalty.handoffs import JourneysOnFirstUse
from memberflow.loyalty.sweep import DEFAULT_LOOKBACK_DAYS, run_sweep
from memberflow.metrics import count_sweep, metrics
from memberflow.runtime import app_context

logger = Logger()


def _journey_entry(context):
    from memberflow.journeys.entry import JourneyEntry  # loaded once someone is handed off

    return JourneyEntry(context)


@metrics.log_metrics
@logger.inject_lambda_context
def handler(event, _lambda_context):
    context = app_context()
    lookback = int((event or {}).get("lookback_days", DEFAULT_LOOKBACK_DAYS))
    result = run_sweep(
        programme=context.programme,
        now=now(),
        journeys=JourneysOnFirstUse(lambda: _journey_entry(context)),
        lookback_days=lookback,
    )
    logger.info("sweep", extra=result)  # counts only, no personal data
    count_sweep(result)
    return result
