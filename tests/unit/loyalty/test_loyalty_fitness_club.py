"""A second, different programme: a fitness club (seed 003) with visit-count tiers.

Nothing in the loyalty rules is hard-wired to the retail defaults: the same functions
follow ``fitness_club.json`` (visits instead of spend, at risk after 14 days without a
visit, lapsed after 45, points per visit, 3-month tier window, 6-month reset,
Europe/Berlin calendar, quartiles instead of quintiles).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from memberflow.config.programme import ConfigError, validate_document
from memberflow.loyalty import points, rfm, stages, tiers
from memberflow.loyalty.points import BonusWindow
from memberflow.loyalty.stages import MemberFacts, StageDecision

FITNESS_CLUB = Path(__file__).with_name("fitness_club.json")
T0 = datetime(2026, 5, 4, 16, 0, tzinfo=UTC)  # 18:00 in Berlin
SECOND = timedelta(seconds=1)


def days(n: float) -> timedelta:
    return timedelta(days=n)


def member(stage="active", visits=(), active_since=None, interactions=0) -> MemberFacts:
    first = visits[0] if visits else None
    return MemberFacts(
        stage=stage,
        joined_at=T0 - days(200),
        activated_at=first if stage != "new" else None,
        active_since=active_since or (first if stage in ("active", "loyal") else None),
        order_times=tuple(visits),
        interactions_in_first_window=interactions,
    )


def test_document_is_valid_and_different(fitness, programme):
    assert fitness.tiers["measure"] == "visits"
    assert fitness.base_tier == "standard"
    assert fitness.stages["at_risk"]["days_without_order"] == 14
    assert fitness.stages != programme.stages and fitness.points != programme.points


def test_document_is_checked_by_the_schema():
    doc = json.loads(FITNESS_CLUB.read_text())
    doc["points"]["earn_per_visit"] = -1
    with pytest.raises(ConfigError) as info:
        validate_document(doc)
    assert info.value.field == "$.points.earn_per_visit"


# --- stages -----------------------------------------------------------------------


def test_at_risk_after_14_days_without_a_visit(fitness):
    facts = member(visits=(T0 - days(20), T0 - days(9), T0))  # too few for personal rule
    assert stages.evaluate_stage(facts, fitness, T0 + days(13)).stage == "active"
    assert stages.evaluate_stage(facts, fitness, T0 + days(14) - SECOND).stage == "active"
    assert stages.evaluate_stage(facts, fitness, T0 + days(14)) == StageDecision(
        "at_risk", "no_order_14d", True
    )
    assert stages.next_stage_review(facts, fitness, T0) == T0 + days(14)


def test_personal_gap_uses_club_multiplier_and_minimum(fitness):
    five = tuple(T0 - days(2 * k) for k in range(4, -1, -1))  # every 2 days, 5 visits
    facts = member(visits=five)
    assert stages.evaluate_stage(facts, fitness, T0 + days(6) - SECOND).stage == "active"
    assert stages.evaluate_stage(facts, fitness, T0 + days(6)).reason == "personal_gap"
    four = member(visits=five[1:])  # below min_orders_for_personal_rule = 5
    assert stages.evaluate_stage(four, fitness, T0 + days(13)).stage == "active"


def test_lapsed_after_45_days(fitness):
    facts = member("at_risk", visits=(T0,))
    assert stages.evaluate_stage(facts, fitness, T0 + days(45) - SECOND).stage == "at_risk"
    assert stages.evaluate_stage(facts, fitness, T0 + days(45)).reason == "no_order_45d"


def test_activation_needs_four_visits_in_first_two_weeks(fitness):
    assert stages.evaluate_stage(member("new", interactions=3), fitness, T0).stage == "new"
    assert stages.evaluate_stage(member("new", interactions=4), fitness, T0).reason == (
        "interactions_met"
    )


def test_loyal_after_90_days_with_36_visits(fitness):
    visits = tuple(T0 + days(2.5 * k) for k in range(1, 37))  # 36 visits in 90 days
    facts = member(visits=visits, active_since=T0)
    assert stages.evaluate_stage(facts, fitness, T0 + days(90)) == StageDecision(
        "loyal", "loyal_threshold", True
    )
    fewer = member(visits=visits[:-1], active_since=T0)
    assert stages.evaluate_stage(fewer, fitness, T0 + days(90)).stage == "active"


# --- tiers by visits --------------------------------------------------------------


def visits_between(start: datetime, count: int, every: timedelta):
    return [(start + every * i, Decimal("0")) for i in range(count)]


@pytest.mark.parametrize(
    ("count", "tier"),
    [(0, "standard"), (44, "standard"), (45, "silver"), (89, "silver"), (90, "gold")],
)
def test_visit_tiers(fitness, count, tier):
    now = T0 + days(60)
    history = visits_between(T0, count, timedelta(hours=12))
    value = tiers.rolling_value(history, fitness, now)
    assert value == count
    assert tiers.tier_for(value, fitness) == tier


def test_rolling_window_is_three_months_and_ignores_amounts(fitness):
    now = datetime(2026, 8, 4, 16, 0, tzinfo=UTC)
    history = [
        (datetime(2026, 5, 4, 16, 0, tzinfo=UTC), Decimal("100")),  # exactly 3 months: out
        (datetime(2026, 5, 5, 16, 0, tzinfo=UTC), Decimal("100")),
        (datetime(2026, 8, 1, 16, 0, tzinfo=UTC), Decimal("0")),
    ]
    assert tiers.rolling_value(history, fitness, now) == 2


def test_visit_tier_upgrade_review_and_six_month_reset(fitness):
    assert tiers.on_purchase("standard", 45, fitness) == "silver"
    assert tiers.on_purchase("gold", 3, fitness) == "gold"
    recent = T0 - days(3)
    assert tiers.at_review("gold", 50, recent, fitness, T0) == ("silver", "downgrade")
    last_visit = datetime(2025, 11, 4, 16, 0, tzinfo=UTC)
    assert tiers.at_review("gold", 0, last_visit, fitness, T0) == ("standard", "no_purchase_6m")
    assert tiers.multiplier("silver", fitness) == Decimal("1.5")
    assert tiers.next_tier_review(T0, fitness) == datetime(2026, 6, 4, 16, 0, tzinfo=UTC)


# --- points per visit -------------------------------------------------------------


def test_points_per_visit_whatever_the_total(fitness):
    assert points.points_for_order(Decimal("0"), "standard", fitness) == 10
    assert points.points_for_order(Decimal("49.90"), "standard", fitness) == 10
    assert points.points_for_order(Decimal("0"), "silver", fitness) == 15
    assert points.points_for_order(Decimal("0"), "gold", fitness) == 20


def test_triple_points_window_from_club_recall(fitness):
    incentive = fitness.journey("dormancy_recall")["steps"][1]["incentive"]
    window = BonusWindow.from_incentive(incentive, T0)
    bonus = points.bonus_multiplier([window], T0 + days(6))
    assert bonus == 3
    assert points.points_for_order(Decimal("0"), "silver", fitness, bonus) == 45
    assert points.bonus_multiplier([window], T0 + days(7)) == 1


def test_six_month_expiry_in_berlin_across_dst(fitness):
    earned = datetime(2026, 8, 31, 10, 0, tzinfo=UTC)  # 12:00 CEST
    # 6 months on: Feb 31 -> Feb 28, 12:00 CET = 11:00 UTC
    assert points.expires_at(earned, fitness) == datetime(2027, 2, 28, 11, 0, tzinfo=UTC)


def test_club_redemption_and_bonuses(fitness):
    assert points.redemption_value(25, fitness) == Decimal("2.50")
    assert points.points_for_value(Decimal("3"), fitness) == 30
    assert points.bonus_points("join", fitness) == 50
    assert points.bonus_points("phone_bound", fitness) == 0


def test_refund_of_a_visit_reverses_its_points(fitness):
    earned = points.points_for_order(Decimal("0"), "silver", fitness)
    assert points.points_reversed_for_refund(Decimal("0"), Decimal("0"), earned) == earned


# --- RFM with quartiles -----------------------------------------------------------


def test_rfm_uses_club_bins(fitness):
    bins = fitness.rfm["bins"]
    rows = [(f"m{i}", i, 40 - i, Decimal(10 * i)) for i in range(8)]
    scores = rfm.rfm_scores(rows, bins)
    assert {s for triple in scores.values() for s in triple} == {1, 2, 3, 4}
    assert scores["m0"] == (4, 4, 1)
