"""Journey step: the one Lambda the journey state machine's Task states call, for every journey."""

from aws_lambda_powertools import Logger

from memberflow.clock import now
from memberflow.journeys import engine
from memberflow.journeys.channels import ChannelAdapters
from memberflow.metrics import count, metrics
from memberflow.runtime import app_context

logger = Logger()


def _channels(context) -> ChannelAdapters:
    settings = context.settings
    return ChannelAdapters(
        email_sender=settings.email_sender,
        event_bus=settings.journey_event_bus,
        webhook_url=settings.outbound_webhook_url,
        webhook_secret=context.webhook_secrets().memberflow
        if settings.outbound_webhook_url
        else "",
        region=settings.region,
    )


def _count_outcomes(counts: dict) -> None:
    for metric, key in (
        ("MessagesSent", "sent"),
        ("MessagesCapped", "capped"),
        ("Conversions", "converted"),
        ("MembersExited", "exited"),
    ):
        count(metric, counts.get(key, 0))


@metrics.log_metrics
@logger.inject_lambda_context
def handler(event, lambda_context):
    context = app_context()
    action = event["action"]
    cohort_id = event["cohort_id"]
    if action == "plan":
        return engine.plan(cohort_id)
    if action == "step":
        # The shard stops early, inside this invocation's Timeout, and reports the rest.
        runner = engine.StepRunner(
            channels=_channels(context), now=now(), budget=engine.Budget.of(lambda_context)
        )
        result = runner.run(cohort_id, int(event["step_index"]), int(event["shard"]))
        _count_outcomes(result.get("counts", {}))
        return result
    if action == "pass":
        # A cohort of one shard: step, advance and (at the end) the close in one invocation.
        cursor = engine.run_pass(
            cohort_id,
            event["cursor"],
            channels=_channels(context),
            now=now(),
            budget=engine.Budget.of(lambda_context),
            state_machine_arn=event["state_machine_arn"],
            stepfunctions=context.stepfunctions,
        )
        _count_outcomes(cursor.pop("result", {}))
        return cursor
    if action == "advance":
        cursor = engine.advance(cohort_id, event["cursor"], event["shard_results"])
        if "state_machine_arn" not in event:
            return cursor
        # Each pass runs in its own execution, so no history grows with the passes.
        return engine.continue_cohort(
            cohort_id,
            cursor,
            state_machine_arn=event["state_machine_arn"],
            stepfunctions=context.stepfunctions,
        )
    if action == "finalize":
        outcome = engine.finalize(
            cohort_id,
            now(),
            event.get("failed_shards") or [],
            budget=engine.Budget.of(lambda_context),
        )
        if outcome.get("unfinished") and "state_machine_arn" in event:
            # Out of time: the close goes on in a new execution (its history stays bounded).
            engine.continue_cohort(
                cohort_id,
                engine.closing_cursor(cohort_id, event["cursor"]),
                state_machine_arn=event["state_machine_arn"],
                stepfunctions=context.stepfunctions,
            )
        return outcome
    raise ValueError(f"unknown action {action!r}")
