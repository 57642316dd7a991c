"""Weekly RFM recomputation."""

from aws_lambda_powertools import Logger

from memberflow.clock import now
from memberflow.loyalty.handoffs import JourneysOnFirstUse
from memberflow.loyalty.rfm_job import recompute_rfm
from memberflow.runtime import app_context

logger = Logger()


def _journey_entry(context):
    from memberflow.journeys.entry import JourneyEntry  # loaded once someone is handed off

    return JourneyEntry(context)


@logger.inject_lambda_context
def handler(event, _lambda_context):
    context = app_context()
    segments = int((event or {}).get("segments", 4))
    result = recompute_rfm(
        programme=context.programme,
        now=now(),
        journeys=JourneysOnFirstUse(lambda: _journey_entry(context)),
        segments=segments,
    )
    logger.info("rfm", extra=result)
    return result
