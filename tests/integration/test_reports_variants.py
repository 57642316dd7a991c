"""An A/B test needs no hand counting: the KPIs give each message variant's treated
members, their conversions in the journey's window and their uplift against the holdout."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta

from memberflow.reports.kpis import compute_kpis
from memberflow.runtime import app_context
from memberflow.store import Enrolment, Order
from memberflow_local.stack import LocalStack
from tests.integration.test_journeys_support import enrol, make_member, programme_file


def _two_variants(doc):
    doc["journeys"]["activation"]["steps"][0]["variants"] = ["activation_nudge", "recall_reminder"]


def test_each_variant_is_counted_against_the_holdout(tmp_path, monkeypatch):
    monkeypatch.delenv("MEMBERFLOW_PROGRAMME_FILE", raising=False)
    path = programme_file(tmp_path, _two_variants)
    with LocalStack(programme_file=str(path)) as stack:
        ids = [f"ab-{i:03d}" for i in range(60)]
        for member_id in ids:
            make_member(stack, member_id)
        enrol("activation", ids, cohort_id="activation-2026-01-05")
        stack.clock.wait_idle()
        start = stack.clock.now()
        # every third member buys two days in, inside the window
        buyers = set(ids[::3])
        for member_id in buyers:
            Order(
                order_key=f"shopify#shop#{member_id}",
                member_id=member_id,
                placed_at=(start + timedelta(days=2)).isoformat(),
                platform="shopify",
                order_id=member_id,
                status="paid",
                total=50,
                paid_at=start + timedelta(days=2),
            ).save()
        stack.advance(days=40)  # past the last step and the exit window
        kpis = compute_kpis(app_context().programme, stack.clock.now())
        enrolments = [e for e in Enrolment.scan() if e.journey == "activation"]

    treated = [e for e in enrolments if e.arm == "treatment"]
    by_variant = Counter(e.variant for e in treated)
    bought = Counter(e.variant for e in treated if e.member_id in buyers)
    activation = kpis["journeys"]["activation"]
    variants = activation["variants"]
    assert set(variants) == {"0", "1"} == set(by_variant)
    for name, counts in variants.items():
        assert counts["entered"] == counts["window_closed"] == by_variant[name]
        assert counts["converted_in_window"] == bought[name]
        control = activation["arms"]["control"]
        assert counts["uplift"]["control_n"] == control["window_closed"] > 0
        assert counts["uplift"]["treated_n"] == by_variant[name]
        assert counts["uplift"]["treated_converted"] == bought[name]
    arm = activation["arms"]["treatment"]
    assert sum(v["converted_in_window"] for v in variants.values()) == arm["converted_in_window"]
    assert kpis["journeys"]["welcome"]["variants"] == {}  # no A/B there
