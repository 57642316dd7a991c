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
    """Difference in conversion rates with a Wald interval (unpooled variance).

    Undefined (None) when either arm is empty.
    """
    pt = treated_converted / treated_n if treated_n else None
    pc = control_converted / control_n if control_n else None
    if pt is None or pc is None:
        return Uplift(
            treated_n, treated_converted, control_n, control_converted, pt, pc, None, None, None
        )
    se = math.sqrt(pt * (1 - pt) / treated_n + pc * (1 - pc) / control_n)
    diff = pt - pc
    return Uplift(
        treated_n,
        treated_converted,
        control_n,
        control_converted,
        pt,
        pc,
        diff,
        diff - z * se,
        diff + z * se,
    )
