"""RFM quantile scores."""

from __future__ import annotations

import math
from decimal import Decimal

import pytest

from memberflow.loyalty.rfm import rfm_scores, score_quintiles


def test_five_distinct_values_use_every_score():
    values = {f"m{i}": float(i) for i in range(5)}
    assert score_quintiles(values) == {"m0": 1, "m1": 2, "m2": 3, "m3": 4, "m4": 5}


def test_ten_distinct_values_two_per_quintile():
    values = {f"m{i}": i * 1.5 for i in range(10)}
    scores = score_quintiles(values)
    assert [scores[f"m{i}"] for i in range(10)] == [1, 1, 2, 2, 3, 3, 4, 4, 5, 5]


def test_lower_is_better():
    values = {"a": 1, "b": 10, "c": 100, "d": 1000, "e": 10000}
    assert score_quintiles(values, higher_is_better=False) == {
        "a": 5,
        "b": 4,
        "c": 3,
        "d": 2,
        "e": 1,
    }


def test_ties_share_a_score():
    values = {"a": 1, "b": 1, "c": 1, "d": 2, "e": 3, "f": 3, "g": 9}
    scores = score_quintiles(values)
    assert scores["a"] == scores["b"] == scores["c"]
    assert scores["e"] == scores["f"]
    assert scores["a"] < scores["d"] < scores["e"] < scores["g"]


def test_tiny_and_flat_bases():
    assert score_quintiles({}) == {}
    assert score_quintiles({"only": 42.0}) == {"only": 3}
    assert set(score_quintiles({f"m{i}": 7 for i in range(100)}).values()) == {3}
    assert score_quintiles({"lo": 1, "hi": 2}) == {"lo": 2, "hi": 4}
    assert score_quintiles({"a": 1, "b": 2, "c": 3}) == {"a": 1, "b": 3, "c": 5}


def test_deterministic_whatever_the_input_order():
    items = [(f"m{i}", (i * 37) % 11) for i in range(40)]
    forward = score_quintiles(dict(items))
    backward = score_quintiles(dict(reversed(items)))
    assert forward == backward


def test_other_bin_counts():
    values = {f"m{i}": i for i in range(8)}
    assert sorted(score_quintiles(values, bins=4).values()) == [1, 1, 2, 2, 3, 3, 4, 4]
    assert set(score_quintiles(values, bins=10).values()) <= set(range(1, 11))
    assert score_quintiles({"x": 1}, bins=4) == {"x": 3}


def test_decimals_and_nan():
    assert score_quintiles({"a": Decimal("1.10"), "b": Decimal("1.1")}) == {"a": 3, "b": 3}
    with pytest.raises(ValueError):
        score_quintiles({"a": math.nan})
    with pytest.raises(ValueError):
        score_quintiles({"a": 1}, bins=0)


def test_rfm_scores():
    rows = [
        ("recent_big", 2, 12, Decimal("9000")),
        ("recent_small", 5, 3, Decimal("90")),
        ("mid", 40, 6, Decimal("900")),
        ("old", 200, 1, Decimal("50")),
        ("older", 400, 2, Decimal("300")),
        ("never", None, 0, Decimal("0")),
    ]
    scores = rfm_scores(rows)
    assert scores["never"] == (1, 1, 1)
    assert scores["recent_big"] == (5, 5, 5)
    assert scores["older"][0] == 1
    assert scores["old"] == (2, 1, 1)
    assert scores["mid"] == (3, 4, 4)
    assert set(scores) == {r[0] for r in rows}


def test_rfm_without_buyers_and_duplicates():
    assert rfm_scores([("a", None, 0, 0), ("b", None, 0, 0)]) == {"a": (1, 1, 1), "b": (1, 1, 1)}
    assert rfm_scores([]) == {}
    assert rfm_scores([("solo", 3, 1, Decimal("10"))], bins=5) == {"solo": (3, 3, 3)}
    with pytest.raises(ValueError):
        rfm_scores([("a", 1, 1, 1), ("a", 2, 2, 2)])
