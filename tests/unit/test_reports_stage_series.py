"""The stage series counts each member in the stage it was in at each moment, once it
existed: the span of a stage change found by bisection gives exactly what a walk of
every moment gives, at the edges too (a change at a moment, before the member existed,
two at one moment, a change without a stage, after the last moment)."""

import random
from collections import Counter
from datetime import UTC, datetime, timedelta

from memberflow.reports.kpis import _stage_series

T0 = datetime(2026, 1, 5, tzinfo=UTC)
MOMENTS = [T0 + timedelta(days=7 * k) for k in range(6)]


def _walked(histories, moments):
    """The series walked moment by moment (the reference)."""
    counts = [Counter() for _ in moments]
    for created, history in histories:
        stage, i = None, 0
        for k, at in enumerate(moments):
            if created > at:
                continue
            while i < len(history) and history[i][0] <= at:
                stage = history[i][2]
                i += 1
            if stage:
                counts[k][stage] += 1
    return counts


def _day(n: float) -> datetime:
    return T0 + timedelta(days=n)


CASES = {
    "a change exactly at a moment": (_day(0), [(_day(7), None, "new")]),
    "changes before the member existed": (
        _day(14),
        [(_day(1), None, "new"), (_day(3), "new", "active")],
    ),
    "two changes at one moment": (_day(0), [(_day(7), None, "new"), (_day(7), "new", "active")]),
    "a change without a stage": (
        _day(0),
        [(_day(1), None, "new"), (_day(8), "new", None), (_day(20), None, "lapsed")],
    ),
    "a change after the last moment": (
        _day(0),
        [(_day(2), None, "new"), (_day(60), "new", "active")],
    ),
    "no history": (_day(0), []),
    "created after every moment": (_day(90), [(_day(90), None, "new")]),
    "created at a moment, changed before": (_day(21), [(_day(20), None, "active")]),
}


def test_each_edge_counts_as_a_walk_of_every_moment():
    for name, member in CASES.items():
        assert _stage_series([member], MOMENTS) == _walked([member], MOMENTS), name
    everyone = list(CASES.values())
    assert _stage_series(everyone, MOMENTS) == _walked(everyone, MOMENTS)


def test_random_histories_count_as_a_walk_of_every_moment():
    rng = random.Random(5)
    stages = ["new", "active", "at_risk", "lapsed", None, ""]
    histories = []
    for _ in range(400):
        created = _day(rng.choice([rng.uniform(-10, 50), 7 * rng.randint(0, 6)]))
        changes = [
            (
                _day(rng.choice([7 * rng.randint(-1, 7), rng.uniform(-10, 60)])),
                None,
                rng.choice(stages),
            )
            for _ in range(rng.randint(0, 6))
        ]
        changes.sort(key=lambda change: change[0])  # as the KPIs read a history
        histories.append((created, changes))
    assert _stage_series(histories, MOMENTS) == _walked(histories, MOMENTS)
    assert _stage_series(histories, []) == []
