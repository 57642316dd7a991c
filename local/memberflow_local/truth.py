"""The ground truth of a simulation: what the planted message effects did, counted from
the simulator's own records (never the store's), for the report's "planted" column and
the uplift tests."""

from __future__ import annotations

import json
from collections import defaultdict
from datetime import timedelta
from typing import TYPE_CHECKING

from memberflow.store import Cohort, Enrolment

if TYPE_CHECKING:
    from memberflow_local.simulation import Simulation


def true_uplift(simulation: Simulation) -> dict[str, dict]:
    """Per journey, over enrolments whose window has closed, from the simulator's own
    records (never the store's): ``true_uplift``, the mean over treated enrolments of
    (bought in window) minus (would have bought in window without this journey's
    messages), the quantity the report's treated-minus-holdout difference estimates;
    and each arm's size and conversions as the simulator placed them, so a test can
    check that the report counts exactly these orders for both arms."""
    windows = {}
    for cohort in Cohort.scan():
        pinned = json.loads(cohort.config)
        windows[cohort.cohort_id] = (
            sum(s["wait_days"] for s in pinned["config"]["steps"])
            + pinned["config"]["exit_after_days"]
        )
    now = simulation.stack.clock.now()
    arms = ("treatment", "control")
    # journey -> arm -> [closed, converted, converted without this journey's messages]
    totals: dict[str, dict[str, list[int]]] = defaultdict(lambda: {arm: [0, 0, 0] for arm in arms})
    for enrolment in Enrolment.scan():
        if enrolment.arm not in arms or enrolment.cohort_id not in windows:
            continue
        end = enrolment.entered_at + timedelta(days=windows[enrolment.cohort_id])
        if end > now:
            continue
        m = simulation.by_member_id.get(enrolment.member_id)
        if m is None:
            continue
        in_window = [(at, cause) for at, cause, _ in m.orders if enrolment.entered_at <= at <= end]
        actual = bool(in_window)
        without = any(cause != f"planted:{enrolment.journey}" for _, cause in in_window)
        counts = totals[enrolment.journey][enrolment.arm]
        counts[0] += 1
        counts[1] += int(actual)
        counts[2] += int(without)
    result = {}
    for journey, by_arm in totals.items():
        (n, converted, without), (cn, cconverted, _) = by_arm["treatment"], by_arm["control"]
        result[journey] = {
            "true_uplift": (converted - without) / n if n else None,
            "treated_closed": n,
            "treated_converted": converted,
            "treated_converted_without": without,
            "control_closed": cn,
            "control_converted": cconverted,
        }
    return result
