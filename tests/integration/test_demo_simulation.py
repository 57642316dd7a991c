"""The demo's simulation: the report recovers the planted uplift, and finds none when
there is none (fixed seeds).

The two uplift tests simulate 400 members for 60 days (about two minutes each): enough
for welcome and activation to have treated and holdout groups the interval can say
something about. The smoke test runs the same pipeline, small.
"""

import pytest

from memberflow_local.demo import simulate
from memberflow_local.report import write_report
from memberflow_local.simulation import SimulationConfig

MIN_TREATED = 40


def _checked(kpis, truth):
    checked = []
    for journey, data in kpis["journeys"].items():
        u = data["uplift"]
        t = truth.get(journey, {}).get("true_uplift")
        if u["uplift"] is None or t is None or u["treated_n"] < MIN_TREATED or u["control_n"] < 5:
            continue
        checked.append((journey, u, t))
    return checked


def _assert_report_counts_what_the_simulator_did(kpis, truth):
    """Both arms' closed enrolments and conversions in the report are exactly those in the
    simulator's own records: the measured difference and the planted value are the same
    quantity, counted over the same members and windows, so the interval check fails only
    by sampling chance, never because the arms are counted differently."""
    for journey, data in kpis["journeys"].items():
        arms = data["arms"]
        t = truth.get(journey)
        if t is None:
            assert arms["treatment"]["window_closed"] == arms["control"]["window_closed"] == 0
            continue
        measured = (
            arms["treatment"]["window_closed"],
            arms["treatment"]["converted_in_window"],
            arms["control"]["window_closed"],
            arms["control"]["converted_in_window"],
        )
        placed = (
            t["treated_closed"],
            t["treated_converted"],
            t["control_closed"],
            t["control_converted"],
        )
        assert measured == placed, (journey, measured, placed)


UPLIFT_PROGRAMME = {"members": 400, "days": 60, "seed": 11}


def test_a_small_simulation_runs_through_the_public_interfaces_and_reports(tmp_path):
    config = SimulationConfig(members=24, days=6, seed=5, existing_share=0.5, erasures=1)
    kpis, truth, run = simulate(config, progress=False)
    assert run["rejected_requests"] == 0, run["first_rejections"]
    assert kpis["members"]["total"] >= 20 and kpis["members"]["erased"] == 1
    assert sum(kpis["stages"].values()) == kpis["members"]["live"]
    assert kpis["points"]["issued"] > 0 and kpis["messages"]["total"] > 0
    welcome = kpis["journeys"]["welcome"]["arms"]
    # Every member who signed up during the run is welcomed; the customers of before
    # go-live came in through the import and are not (no welcome flood).
    imported = run["go_live_import"]["imported"]
    assert imported >= 8
    welcomed = welcome["treatment"]["entered"] + welcome["control"]["entered"]
    assert welcomed == kpis["members"]["total"] - imported
    assert kpis["messages"]["max_in_any_rolling_window"] <= kpis["messages"]["cap"]["max_messages"]
    path = write_report(kpis, tmp_path, truth=truth, run=run)
    page = path.read_text()
    assert page.count("<svg") >= 5 and "<script" not in page and "<link" not in page


@pytest.fixture(scope="module")
def planted():
    config = SimulationConfig(**UPLIFT_PROGRAMME, message_effect=0.3)
    return simulate(config, progress=False)


def test_report_recovers_each_journeys_planted_uplift(planted, tmp_path):
    kpis, truth, run = planted
    assert run["rejected_requests"] == 0, run["first_rejections"]
    # the planted coupon purchases went through codes the local shops hold (issue 14)
    assert run["coupons"]["used"] > 0 and run["coupons"]["refused"] == 0, run["coupons"]
    _assert_report_counts_what_the_simulator_did(kpis, truth)
    checked = _checked(kpis, truth)
    assert {j for j, _, _ in checked} >= {"welcome", "activation"}, (kpis["journeys"], truth)
    for journey, u, t in checked:
        assert t > 0, (journey, t)
        assert u["ci_low"] <= t <= u["ci_high"], (journey, u, t)
    path = write_report(kpis, tmp_path, truth=truth, run=run)
    page = path.read_text()
    assert "<svg" in page and "<script" not in page and "<link" not in page  # self-contained
    assert (tmp_path / "kpis.json").is_file()


def test_no_uplift_is_reported_when_the_planted_effect_is_zero():
    config = SimulationConfig(**UPLIFT_PROGRAMME, message_effect=0.0)
    kpis, truth, run = simulate(config, progress=False)
    assert run["rejected_requests"] == 0, run["first_rejections"]
    _assert_report_counts_what_the_simulator_did(kpis, truth)
    checked = _checked(kpis, truth)
    assert {j for j, _, _ in checked} >= {"welcome", "activation"}, (kpis["journeys"], truth)
    for journey, u, t in checked:
        assert t == 0, (journey, t)
        assert u["ci_low"] <= 0 <= u["ci_high"], (journey, u)
