"""Lifecycle stage rules with the default programme (domain.md §1)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from memberflow.loyalty.stages import (
    MemberFacts,
    StageDecision,
    apply_decision,
    evaluate_stage,
    median_gap,
    next_stage_review,
    on_purchase,
    on_winback_failed,
)

T0 = datetime(2026, 1, 10, 12, 0, tzinfo=UTC)
SECOND = timedelta(seconds=1)
JOINED = T0 - timedelta(days=400)


def days(n: float) -> timedelta:
    return timedelta(days=n)


def member(
    stage: str = "active",
    orders: tuple[datetime, ...] = (),
    joined: datetime | None = JOINED,
    activated: datetime | None = None,
    active_since: datetime | None = None,
    interactions: int = 0,
) -> MemberFacts:
    if stage in ("active", "loyal", "at_risk", "lapsed", "churned") and activated is None:
        activated = orders[0] if orders else joined
    if stage in ("active", "loyal") and active_since is None:
        active_since = activated
    return MemberFacts(
        stage=stage,
        joined_at=joined,
        activated_at=activated,
        active_since=active_since,
        order_times=tuple(orders),
        interactions_in_first_window=interactions,
    )


# --- new / prospect ---------------------------------------------------------------


def test_new_member_without_activation_stays_new(programme):
    facts = member("new", joined=T0)
    assert evaluate_stage(facts, programme, T0 + days(10)) == StageDecision(
        "new", "unchanged", False
    )
    assert next_stage_review(facts, programme, T0) is None


def test_new_member_with_no_purchase_long_after_lapsed_threshold_stays_new(programme):
    facts = member("new", joined=T0, interactions=2)
    decision = evaluate_stage(facts, programme, T0 + days(181))
    assert decision.stage == "new" and not decision.changed
    assert evaluate_stage(facts, programme, T0 + days(3650)).stage == "new"


def test_new_member_activation_interactions_boundary(programme):
    two = member("new", joined=T0, interactions=2)
    three = member("new", joined=T0, interactions=3)
    assert evaluate_stage(two, programme, T0 + days(5)).stage == "new"
    decision = evaluate_stage(three, programme, T0 + days(5))
    assert decision == StageDecision("active", "interactions_met", True)


def test_new_member_with_recorded_order_becomes_active(programme):
    facts = member("new", joined=T0, orders=(T0 + days(2),))
    assert evaluate_stage(facts, programme, T0 + days(3)) == StageDecision(
        "active", "first_purchase", True
    )


@pytest.mark.parametrize("stage", ["new", "prospect"])
def test_first_purchase_activates(programme, stage):
    now = T0 + days(4)
    facts = member(stage, joined=T0 if stage == "new" else None, orders=(now,))
    decision = on_purchase(facts, programme, now)
    assert decision == StageDecision("active", "first_purchase", True)
    after = apply_decision(facts, decision, now)
    assert after.stage == "active" and after.active_since == now and after.activated_at == now
    assert not after.won_back


def test_prospect_does_not_change_without_event(programme):
    facts = member("prospect", joined=None)
    assert not evaluate_stage(facts, programme, T0 + days(500)).changed
    assert next_stage_review(facts, programme, T0) is None


# --- at risk: fixed rule ----------------------------------------------------------


def test_at_risk_day_59_vs_60(programme):
    facts = member("active", orders=(T0 - days(200), T0))
    assert evaluate_stage(facts, programme, T0 + days(59)).stage == "active"
    assert evaluate_stage(facts, programme, T0 + days(60) - SECOND).stage == "active"
    assert evaluate_stage(facts, programme, T0 + days(60)) == StageDecision(
        "at_risk", "no_order_60d", True
    )


def test_loyal_member_goes_at_risk_too(programme):
    facts = member("loyal", orders=(T0,), active_since=T0 - days(400))
    assert evaluate_stage(facts, programme, T0 + days(60)).stage == "at_risk"


def test_interaction_activated_member_measured_from_activation(programme):
    activated = T0
    facts = member("active", orders=(), joined=T0 - days(5), activated=activated)
    assert evaluate_stage(facts, programme, activated + days(60) - SECOND).stage == "active"
    assert evaluate_stage(facts, programme, activated + days(60)).reason == "no_order_60d"


# --- at risk: personal gap --------------------------------------------------------


def test_personal_gap_rule_fires_first(programme):
    orders = tuple(T0 - days(10 * k) for k in range(4, -1, -1))  # every 10 days
    facts = member("active", orders=orders)
    assert evaluate_stage(facts, programme, T0 + days(20) - SECOND).stage == "active"
    assert evaluate_stage(facts, programme, T0 + days(20)) == StageDecision(
        "at_risk", "personal_gap", True
    )


def test_a_burst_of_orders_does_not_make_a_member_at_risk_within_the_floor(programme):
    """Three orders in four days (a 2-day median gap: 4 days by the multiplier) are a
    burst, not a rhythm: the member is at risk only after the floor (14 days)."""
    burst = (T0 - days(4), T0 - days(2), T0)
    facts = member("active", orders=burst)
    assert evaluate_stage(facts, programme, T0 + days(4)).stage == "active"
    assert evaluate_stage(facts, programme, T0 + days(7)).stage == "active"
    assert evaluate_stage(facts, programme, T0 + days(14) - SECOND).stage == "active"
    assert evaluate_stage(facts, programme, T0 + days(14)) == StageDecision(
        "at_risk", "personal_gap", True
    )


def test_personal_gap_needs_min_orders(programme):
    facts = member("active", orders=(T0 - days(10), T0))  # 2 orders < 3
    assert evaluate_stage(facts, programme, T0 + days(30)).stage == "active"
    assert evaluate_stage(facts, programme, T0 + days(60)).reason == "no_order_60d"


def test_personal_gap_uses_the_median(programme):
    orders = (T0 - days(115), T0 - days(15), T0 - days(5), T0)  # gaps 100, 10, 5
    assert median_gap(orders) == days(10)
    facts = member("active", orders=orders)
    assert evaluate_stage(facts, programme, T0 + days(20) - SECOND).stage == "active"
    assert evaluate_stage(facts, programme, T0 + days(20)).reason == "personal_gap"


def test_personal_gap_median_of_even_gap_count(programme):
    orders = (T0 - days(30), T0 - days(20), T0 - days(16), T0)  # gaps 10, 4, 16 -> median 10
    assert median_gap(orders) == days(10)
    assert median_gap(orders[:3]) == days(7)  # gaps 10, 4 -> 7
    assert median_gap(orders[:1]) is None


def test_fixed_rule_when_personal_gap_is_longer(programme):
    orders = tuple(T0 - days(40 * k) for k in range(3, -1, -1))  # 2 x 40 = 80 > 60
    facts = member("active", orders=orders)
    assert evaluate_stage(facts, programme, T0 + days(60)).reason == "no_order_60d"


def test_tie_between_rules_goes_to_fixed_rule(programme):
    orders = tuple(T0 - days(30 * k) for k in range(3, -1, -1))  # 2 x 30 = 60
    facts = member("active", orders=orders)
    assert evaluate_stage(facts, programme, T0 + days(60) - SECOND).stage == "active"
    assert evaluate_stage(facts, programme, T0 + days(60)).reason == "no_order_60d"


def test_zero_median_gap_is_ignored(programme):
    facts = member("active", orders=(T0, T0, T0, T0))
    assert evaluate_stage(facts, programme, T0 + days(1)).stage == "active"


def test_order_times_need_not_be_sorted(programme):
    facts = member("active", orders=(T0, T0 - days(100)))
    assert evaluate_stage(facts, programme, T0 + days(59)).stage == "active"


def test_personal_multiplier_comes_from_config(variant):
    rule = {"days_without_order": 60, "personal_gap_multiplier": 1.5}
    prog = variant(stages={"at_risk": {**rule, "min_orders_for_personal_rule": 3}})
    orders = tuple(T0 - days(10 * k) for k in range(3, -1, -1))
    facts = member("active", orders=orders)
    assert evaluate_stage(facts, prog, T0 + days(15) - SECOND).stage == "active"
    assert evaluate_stage(facts, prog, T0 + days(15)).reason == "personal_gap"


# --- lapsed and churned -----------------------------------------------------------


def test_lapsed_after_180_days(programme):
    facts = member("at_risk", orders=(T0,))
    assert evaluate_stage(facts, programme, T0 + days(180) - SECOND) == StageDecision(
        "at_risk", "unchanged", False
    )
    assert evaluate_stage(facts, programme, T0 + days(180)) == StageDecision(
        "lapsed", "no_order_180d", True
    )


def test_late_sweep_skips_at_risk(programme):
    facts = member("active", orders=(T0,))
    assert evaluate_stage(facts, programme, T0 + days(200)).stage == "lapsed"


def test_time_rules_never_move_back(programme):
    recent = member("at_risk", orders=(T0,))
    assert evaluate_stage(recent, programme, T0 + days(1)).stage == "at_risk"
    lapsed = member("lapsed", orders=(T0,))
    assert evaluate_stage(lapsed, programme, T0 + days(1)).stage == "lapsed"
    assert evaluate_stage(lapsed, programme, T0 + days(1000)).stage == "lapsed"


def test_churned_only_by_winback_and_left_only_by_purchase(programme):
    lapsed = member("lapsed", orders=(T0,))
    decision = on_winback_failed(lapsed)
    assert decision == StageDecision("churned", "winback_no_conversion", True)
    churned = apply_decision(lapsed, decision, T0 + days(230))
    assert churned.stage == "churned"
    assert not evaluate_stage(churned, programme, T0 + days(2000)).changed
    assert next_stage_review(churned, programme, T0 + days(230)) is None
    assert not on_winback_failed(member("active", orders=(T0,))).changed


@pytest.mark.parametrize("stage", ["lapsed", "churned"])
def test_purchase_wins_back(programme, stage):
    now = T0 + days(250)
    facts = member(stage, orders=(T0, now))
    decision = on_purchase(facts, programme, now)
    assert decision == StageDecision("active", "won_back", True, won_back=True)
    after = apply_decision(facts, decision, now)
    assert after.won_back and after.stage == "active" and after.active_since == now
    assert after.activated_at == facts.activated_at  # first activation is kept


def test_purchase_while_at_risk_recalls(programme):
    now = T0 + days(70)
    facts = member("at_risk", orders=(T0, now))
    decision = on_purchase(facts, programme, now)
    assert decision == StageDecision("active", "recalled", True)
    assert apply_decision(facts, decision, now).active_since == now


# --- loyal ------------------------------------------------------------------------

LOYAL_ORDERS = tuple(T0 + days(d) for d in (30, 60, 90, 120, 150, 170))


def test_loyal_threshold_boundaries(programme):
    facts = member("active", orders=LOYAL_ORDERS, active_since=T0)
    assert evaluate_stage(facts, programme, T0 + days(180) - SECOND).stage == "active"
    assert evaluate_stage(facts, programme, T0 + days(180)) == StageDecision(
        "loyal", "loyal_threshold", True
    )


def test_loyal_needs_six_orders(programme):
    facts = member("active", orders=LOYAL_ORDERS[1:], active_since=T0)
    assert evaluate_stage(facts, programme, T0 + days(180)).stage == "active"


def test_loyal_counts_only_last_365_days(programme):
    orders = (T0 - days(200), *(T0 + days(d) for d in (60, 90, 120, 150, 160)))
    facts = member("active", orders=orders, active_since=T0 - days(300))
    assert evaluate_stage(facts, programme, T0 + days(165) - SECOND).stage == "loyal"
    # at T0+165 the order of T0-200 is 365 days old: out of the half-open window
    assert evaluate_stage(facts, programme, T0 + days(165)).stage == "active"


def test_purchase_reaching_sixth_order_makes_loyal(programme):
    now = T0 + days(200)
    orders = (*LOYAL_ORDERS[1:], now)
    facts = member("active", orders=orders, active_since=T0)
    assert on_purchase(facts, programme, now) == StageDecision("loyal", "loyal_threshold", True)
    young = member("active", orders=orders, active_since=now - days(100))
    assert on_purchase(young, programme, now) == StageDecision("active", "purchase", False)


def test_loyal_is_not_demoted_by_order_count(programme):
    facts = member("loyal", orders=(T0,), active_since=T0 - days(500))
    assert evaluate_stage(facts, programme, T0 + days(30)) == StageDecision(
        "loyal", "unchanged", False
    )
    assert on_purchase(facts, programme, T0) == StageDecision("loyal", "purchase", False)


# --- next review ------------------------------------------------------------------


def test_next_review_fixed_and_personal(programme):
    assert next_stage_review(member("active", orders=(T0,)), programme, T0) == T0 + days(60)
    orders = tuple(T0 - days(10 * k) for k in range(4, -1, -1))
    assert next_stage_review(member("active", orders=orders), programme, T0) == T0 + days(20)


def test_next_review_at_risk_is_lapse(programme):
    facts = member("at_risk", orders=(T0,))
    assert next_stage_review(facts, programme, T0 + days(61)) == T0 + days(180)


def test_next_review_loyal_candidate(programme):
    regular = tuple(T0 + days(d) for d in (0, 30, 60, 90, 120, 150))  # 2 x 30 = 60: fixed
    six = member("active", orders=regular, active_since=T0)
    assert next_stage_review(six, programme, T0 + days(155)) == T0 + days(180)
    five = member("active", orders=regular[1:], active_since=T0)
    assert next_stage_review(five, programme, T0 + days(155)) == T0 + days(210)


def test_next_review_overdue_is_now(programme):
    facts = member("active", orders=(T0,))
    now = T0 + days(90)
    assert next_stage_review(facts, programme, now) == now


def test_next_review_matches_evaluation(programme):
    """At the review moment the stage changes; just before it, it does not."""
    cases = [
        member("active", orders=(T0,)),
        member("active", orders=tuple(T0 - days(7 * k) for k in range(5, -1, -1))),
        member("at_risk", orders=(T0,)),
        member(
            "active", orders=tuple(T0 + days(d) for d in (0, 30, 60, 90, 120, 150)), active_since=T0
        ),
    ]
    for facts in cases:
        now = max(facts.order_times)
        moment = next_stage_review(facts, programme, now)
        assert moment is not None
        assert not evaluate_stage(facts, programme, moment - SECOND).changed
        assert evaluate_stage(facts, programme, moment).changed


def test_validation(programme):
    with pytest.raises(ValueError):
        evaluate_stage(member("gold"), programme, T0)
    with pytest.raises(ValueError):
        evaluate_stage(member("active", orders=(T0,)), programme, datetime(2026, 1, 1))
