"""The uplift interval the report prints."""

import random

from memberflow.reports.stats import design_effect, uplift


def test_known_values():
    # Agresti–Caffo: one success and one failure added to each arm.
    u = uplift(30, 100, 10, 100)
    assert abs(u.uplift - 0.2) < 1e-12
    at, ac = 31 / 102, 11 / 102
    half = 1.959963984540054 * ((at * (1 - at) + ac * (1 - ac)) / 102) ** 0.5
    assert abs(u.ci_low - (at - ac - half)) < 1e-12
    assert abs(u.ci_high - (at - ac + half)) < 1e-12


def test_a_holdout_without_conversions_still_gets_an_honest_interval():
    # The plain Wald interval has no width from a 0 % arm; this one does.
    u = uplift(52, 358, 0, 40)
    assert u.uplift == 52 / 358
    assert u.ci_low < 0.08 < u.ci_high
    assert -1.0 <= u.ci_low and u.ci_high <= 1.0


def test_an_empty_arm_gives_no_estimate():
    u = uplift(3, 10, 0, 0)
    assert u.uplift is None and u.ci_low is None and u.treated_rate == 0.3


def _coverage(treated_n, treated_p, control_n, control_p, runs=2000):
    rng = random.Random(1)
    covered = 0
    for _ in range(runs):
        t = sum(rng.random() < treated_p for _ in range(treated_n))
        c = sum(rng.random() < control_p for _ in range(control_n))
        u = uplift(t, treated_n, c, control_n)
        covered += u.ci_low <= treated_p - control_p <= u.ci_high
    return covered / runs


def test_coverage_is_about_95_percent():
    assert 0.93 <= _coverage(400, 0.35, 100, 0.25) <= 0.97


def test_coverage_holds_for_small_holdouts_with_rare_conversions():
    # A 10 % holdout of a demo cohort: Wald covers about 88 % here, 83 % at 60/8.
    assert 0.95 <= _coverage(350, 0.13, 40, 0.05) <= 0.995
    assert 0.95 <= _coverage(60, 0.5, 8, 0.2) <= 0.995


def test_one_window_per_member_leaves_the_interval_as_it_was():
    members = [(1, 1)] * 30 + [(1, 0)] * 70
    assert design_effect(members) == 1.0
    assert uplift(30, 100, 10, 100, treated_design_effect=design_effect(members)) == uplift(
        30, 100, 10, 100
    )


def test_windows_of_one_member_that_move_together_widen_the_interval():
    together = [(2, 2)] * 30 + [(2, 0)] * 70  # each member converts in both or neither
    assert abs(design_effect(together) - 2.0) < 0.05
    plain, clustered = (
        uplift(60, 200, 10, 100),
        uplift(60, 200, 10, 100, treated_design_effect=design_effect(together)),
    )
    assert clustered.uplift == plain.uplift
    assert clustered.ci_low < plain.ci_low and clustered.ci_high > plain.ci_high
    # windows that vary less than independent ones never narrow it
    assert design_effect([(2, 1)] * 100) == 1.0


def _clustered_coverage(adjusted: bool, runs: int = 1500) -> float:
    """Members re-entering a journey twice, each with a rate of their own (0.1 or 0.6),
    the message adding 0.1: the kind of arm the points-expiry reminder has."""
    rng = random.Random(2)
    covered = 0
    for _ in range(runs):
        arms = []
        for members, lift in ((300, 0.1), (40, 0.0)):
            windows = []
            for _ in range(members):
                rate = (0.1 if rng.random() < 0.5 else 0.6) + lift
                windows.append((2, sum(rng.random() < rate for _ in range(2))))
            arms.append(windows)
        (t, c) = arms
        effects = (design_effect(t), design_effect(c)) if adjusted else (1.0, 1.0)
        u = uplift(
            sum(y for _, y in t),
            2 * len(t),
            sum(y for _, y in c),
            2 * len(c),
            treated_design_effect=effects[0],
            control_design_effect=effects[1],
        )
        covered += u.ci_low <= 0.1 <= u.ci_high
    return covered / runs


def test_member_clustered_intervals_keep_their_coverage():
    unadjusted, adjusted = _clustered_coverage(False), _clustered_coverage(True)
    assert 0.93 <= adjusted <= 0.99
    assert unadjusted < adjusted
