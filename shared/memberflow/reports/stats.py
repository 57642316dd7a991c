"""Uplift of a treated arm over its holdout, with a confidence interval."""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import asdict, dataclass

Z_95 = 1.959963984540054


@dataclass(frozen=True)
class Uplift:
    treated_n: int
    treated_converted: int
    control_n: int
    control_converted: int
    treated_rate: float | None
    control_rate: float | None
    uplift: float | None  # treated_rate - control_rate
    ci_low: float | None
    ci_high: float | None
    # how much each arm's rate varies beyond independent windows (a member's re-entries)
    treated_design_effect: float = 1.0
    control_design_effect: float = 1.0

    def as_dict(self) -> dict:
        return asdict(self)


def design_effect(members: Iterable[tuple[int, int]]) -> float:
    """How much more an arm's conversion rate varies because a member's windows come
    together (a journey members re-enter) than if every window were independent: the
    ratio of the member-clustered variance of the rate to the independent one, from
    (windows, conversions) per member. 1.0 when every member has one window; never below
    1, so the interval is only ever widened."""
    members = [(n, y) for n, y in members if n]
    windows, count = sum(n for n, _ in members), len(members)
    if count < 2 or windows <= count:
        return 1.0
    rate = sum(y for _, y in members) / windows
    independent = windows / (windows - 1) * windows * rate * (1 - rate)
    if independent == 0:
        return 1.0
    clustered = count / (count - 1) * sum((y - rate * n) ** 2 for n, y in members)
    return max(1.0, clustered / independent)


def uplift(
    treated_converted: int,
    treated_n: int,
    control_converted: int,
    control_n: int,
    z: float = Z_95,
    *,
    treated_design_effect: float = 1.0,
    control_design_effect: float = 1.0,
) -> Uplift:
    """Difference in conversion rates, with the Agresti–Caffo interval.

    Holdouts are small (10 % of a cohort) and their conversions often few or none;
    there the plain Wald interval collapses (a 0 % arm has no variance) and covers the
    true uplift far less than 95 % of the time. Agresti–Caffo adds one conversion and
    one non-conversion to each arm before taking the Wald interval: as simple, and close
    to nominal coverage at these sizes (tests/unit/test_uplift_stats.py). Each arm's
    variance is multiplied by its design effect (:func:`design_effect`: windows of one
    member are not independent). The point estimate stays the observed difference.
    Undefined (None) when either arm is empty.
    """
    pt = treated_converted / treated_n if treated_n else None
    pc = control_converted / control_n if control_n else None
    if pt is None or pc is None:
        return Uplift(
            treated_n, treated_converted, control_n, control_converted, pt, pc, None, None, None
        )
    at, nt = (treated_converted + 1) / (treated_n + 2), treated_n + 2
    ac, nc = (control_converted + 1) / (control_n + 2), control_n + 2
    half = z * math.sqrt(
        treated_design_effect * at * (1 - at) / nt + control_design_effect * ac * (1 - ac) / nc
    )
    centre = at - ac
    return Uplift(
        treated_n,
        treated_converted,
        control_n,
        control_converted,
        pt,
        pc,
        pt - pc,
        max(-1.0, centre - half),
        min(1.0, centre + half),
        treated_design_effect,
        control_design_effect,
    )
