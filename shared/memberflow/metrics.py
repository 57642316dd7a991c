"""Programme metrics in CloudWatch (Powertools Metrics, embedded metric format).

Handlers flush them with ``@metrics.log_metrics``; the dashboard in template.yaml plots
them. Counts and ids-free dimensions only: no personal data in metrics. The local
stack sets ``POWERTOOLS_METRICS_DISABLED`` so a simulation does not print them.
"""

from __future__ import annotations

from aws_lambda_powertools import Metrics
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.metrics.functions import is_metrics_disabled

metrics = Metrics()


def count(name: str, value: float = 1) -> None:
    # Powertools keeps adding to the set when metrics are disabled and prints it once a
    # metric holds 100 values, so a disabled run must not add at all.
    if value and not is_metrics_disabled():
        metrics.add_metric(name=name, unit=MetricUnit.Count, value=value)


# The dashboard's lifecycle and points widgets (template.yaml), by the event's own word.
STAGE_METRICS = {"at_risk": "EnteredAtRisk", "lapsed": "EnteredLapsed", "loyal": "EnteredLoyal"}
LEDGER_METRICS = {
    "earn": "PointsEarned",
    "gift": "PointsGifted",  # a journey's points gift (memberflow.journeys.gifts)
    "redemption": "PointsRedeemed",
    "expiry": "PointsExpired",
}


def count_sweep(result: dict) -> None:
    """The daily sweep's report: members swept, stage changes, points expired."""
    count("MembersSwept", result.get("swept", 0))
    for stage, amount in (result.get("stage_changes") or {}).items():
        if stage in STAGE_METRICS:
            count(STAGE_METRICS[stage], amount)


def count_ledger(entries) -> None:
    """Committed ledger entries: points earned, gifted, redeemed and expired (absolute points)."""
    for entry in entries:
        if entry.kind in LEDGER_METRICS:
            count(LEDGER_METRICS[entry.kind], abs(int(entry.points)))
