"""Uplift of a treated arm over its holdout, with a confidence interval."""

from __future__ import annotations

import math
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

    def as_dict(self) -> dict:
        return asdict(self)


def uplift(
    treated_converted: int, treated_n: int, control_converted: int, control_n: int, z: float = Z_95
) -> Uplift:
    """Difference in conversion rates, with the Agresti–Caffo interval.

    Holdouts are small (10 % of a cohort) and their conversions often few or none;
    there the plain Wald interval collapses (a 0 % arm has no variance) and covers the
    true uplift far less than 95 % of the time. Agresti–Caffo adds one conversion and
    one non-conversion to each arm before taking the Wald interval: as simple, and close
    to nominal coverage at these sizes (tests/unit/test_uplift_stats.py). The point
    estimate stays the observed difference. Undefined (None) when either arm is empty.
    """
    pt = treated_converted / treated_n if treated_n else None
    pc = control_converted / control_n if control_n else None
    if pt is None or pc is None:
        return Uplift(
            treated_n, treated_converted, control_n, control_converted, pt, pc, None, None, None
        )
    at, nt = (treated_converted + 1) / (treated_n + 2), treated_n + 2
    ac, nc = (control_converted + 1) / (control_n + 2), control_n + 2
    half = z * math.sqrt(at * (1 - at) / nt + ac * (1 - ac) / nc)
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
    )
