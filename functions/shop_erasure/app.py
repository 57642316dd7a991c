"""Shop erasure (Shopify shop/redact), handed over by the webhook: erases in pages within
this invocation's time budget, then hands the rest to a fresh asynchronous invocation."""

from aws_lambda_powertools import Logger

from memberflow.clock import now
from memberflow.ingest.privacy import redact_shop
from memberflow.runtime import app_context

logger = Logger()

# Stop reading new pages with this much time left: a page's erasures must finish.
RESERVE_MS = 120_000


@logger.inject_lambda_context
def handler(event, lambda_context):
    context = app_context()
    erased, cursor = redact_shop(
        event["platform"],
        event.get("shop"),
        now=now(),
        cursor=event.get("cursor"),
        has_time=lambda: lambda_context.get_remaining_time_in_millis() > RESERVE_MS,
    )
    if cursor is not None:
        context.start_shop_erasure({**event, "cursor": cursor})
    result = {"request_id": event.get("request_id"), "erased": len(erased), "done": cursor is None}
    logger.info("shop erasure", extra=result)  # counts and the request id only
    return result
