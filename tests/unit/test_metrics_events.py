"""The dashboard's lifecycle and points metrics come from the events that make them."""

from types import SimpleNamespace

import pytest

from memberflow import metrics


@pytest.fixture
def emitted(monkeypatch):
    monkeypatch.setenv("POWERTOOLS_METRICS_DISABLED", "false")
    metrics.metrics.clear_metrics()
    yield lambda: {name: sum(m["Value"]) for name, m in metrics.metrics.metric_set.items()}
    metrics.metrics.clear_metrics()


def test_a_sweep_report_counts_members_swept_and_stage_entries(emitted):
    metrics.count_sweep(
        {"swept": 7, "stage_changes": {"at_risk": 2, "lapsed": 1, "active": 3}, "tier_changes": 1}
    )
    assert emitted() == {"MembersSwept": 7, "EnteredAtRisk": 2, "EnteredLapsed": 1}


def test_committed_ledger_entries_count_points_by_movement(emitted):
    entries = [
        SimpleNamespace(kind="earn", points=120),
        SimpleNamespace(kind="earn", points=30),
        SimpleNamespace(kind="redemption", points=-100),
        SimpleNamespace(kind="expiry", points=-20),
        SimpleNamespace(kind="reversal", points=-5),
    ]
    metrics.count_ledger(entries)
    assert emitted() == {"PointsEarned": 150, "PointsRedeemed": 100, "PointsExpired": 20}
