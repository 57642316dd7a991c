"""The uplift interval the report prints."""

import random

from memberflow.reports.stats import uplift


def test_known_values():
    u = uplift(30, 100, 10, 100)
    assert abs(u.uplift - 0.2) < 1e-12
    assert u.ci_low < 0.2 < u.ci_high
    assert (
        abs((u.ci_high - u.ci_low) / 2 - 1.959963984540054 * ((0.3 * 0.7 + 0.1 * 0.9) / 100) ** 0.5)
        < 1e-12
    )


def test_an_empty_arm_gives_no_estimate():
    u = uplift(3, 10, 0, 0)
    assert u.uplift is None and u.ci_low is None and u.treated_rate == 0.3


def test_coverage_is_about_95_percent():
    rng = random.Random(1)
    covered = 0
    for _ in range(2000):
        t = sum(rng.random() < 0.35 for _ in range(400))
        c = sum(rng.random() < 0.25 for _ in range(100))
        u = uplift(t, 400, c, 100)
        covered += u.ci_low <= 0.10 <= u.ci_high
    assert 0.93 <= covered / 2000 <= 0.97
