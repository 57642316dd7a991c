"""RFM scores: recency, frequency and monetary value as quantile scores 1..bins.

Scoring is rank based and exact (integer arithmetic): the members are sorted by value,
each group of equal values takes the middle of the ranks it spans, and the score is the
quantile that middle rank falls in: ``floor((first + end) × bins / (2 × n)) + 1`` for a
group spanning ranks ``[first, end)`` of ``n``. Consequences:

- equal values always get the same score, and the result does not depend on member
  ids or input order;
- with ``n`` distinct values and ``n`` a multiple of ``bins``, every score is used
  equally often;
- tiny or flat bases get middle scores: one member, or all members equal, score
  ``bins // 2 + 1`` (3 of 5); two different members score 2 and 4 (of 5). Extreme
  scores need enough members to be meaningful.
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Iterable, Mapping
from decimal import Decimal
from itertools import groupby
from typing import TypeVar

K = TypeVar("K", bound=Hashable)
Value = float | int | Decimal


def score_quintiles(
    values: Mapping[K, Value], bins: int = 5, higher_is_better: bool = True
) -> dict[K, int]:
    """Score each member 1..bins by the quantile of its value (see the module text)."""
    if bins < 1:
        raise ValueError("bins must be at least 1")
    for key, value in values.items():
        if isinstance(value, float) and math.isnan(value):
            raise ValueError(f"value for {key!r} is NaN")
    n = len(values)
    if n == 0:
        return {}
    ordered = sorted(values.items(), key=lambda kv: kv[1], reverse=not higher_is_better)
    scores: dict[K, int] = {}
    first = 0
    for _, group in groupby(ordered, key=lambda kv: kv[1]):
        members = [key for key, _ in group]
        end = first + len(members)
        score = (first + end) * bins // (2 * n) + 1
        for key in members:
            scores[key] = score
        first = end
    return scores


def rfm_scores(
    rows: Iterable[tuple[K, Value | None, Value, Value]], bins: int = 5
) -> dict[K, tuple[int, int, int]]:
    """``{member_id: (r, f, m)}`` from ``(member_id, days_since_last_order, frequency, monetary)``.

    Recency: fewer days since the last order is better. Members with no orders
    (``days_since_last_order is None``) score ``(1, 1, 1)`` and are left out of the
    quantiles of the others.
    """
    result: dict[K, tuple[int, int, int]] = {}
    recency: dict[K, Value] = {}
    frequency: dict[K, Value] = {}
    monetary: dict[K, Value] = {}
    for member_id, days, freq, money in rows:
        if member_id in result or member_id in recency:
            raise ValueError(f"member {member_id!r} appears twice")
        if days is None:
            result[member_id] = (1, 1, 1)
            continue
        recency[member_id] = days
        frequency[member_id] = freq
        monetary[member_id] = money
    r = score_quintiles(recency, bins, higher_is_better=False)
    f = score_quintiles(frequency, bins)
    m = score_quintiles(monetary, bins)
    for member_id in recency:
        result[member_id] = (r[member_id], f[member_id], m[member_id])
    return result
