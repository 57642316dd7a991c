"""The sparse, sharded review-date index key."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import UTC, date, datetime, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from memberflow.loyalty import review
from memberflow.loyalty.review import due_keys, next_review, review_day, review_key, shard_of


def test_none_means_no_key():
    assert review_key(None, "m-1") is None


def test_key_format():
    key = review_key(datetime(2026, 3, 2, 0, 0, tzinfo=UTC), "m-1")
    assert key == f"REVIEW#2026-03-02#{shard_of('m-1'):02d}"
    assert key.startswith("REVIEW#") and len(key.split("#")[2]) == 2


def test_moment_is_filed_under_first_utc_day_starting_at_or_after_it():
    assert review_day(datetime(2026, 3, 2, 0, 0, tzinfo=UTC)) == date(2026, 3, 2)
    assert review_day(datetime(2026, 3, 2, 0, 0, 1, tzinfo=UTC)) == date(2026, 3, 3)
    assert review_day(datetime(2026, 3, 2, 23, 59, tzinfo=UTC)) == date(2026, 3, 3)
    assert review_day(datetime(2026, 12, 31, 10, tzinfo=UTC)) == date(2027, 1, 1)


def test_review_day_is_a_utc_day():
    shanghai = ZoneInfo("Asia/Shanghai")
    # 08:00 in Shanghai is midnight UTC
    assert review_day(datetime(2026, 3, 2, 8, 0, tzinfo=shanghai)) == date(2026, 3, 2)
    # 07:00 in Shanghai on Mar 2 is 23:00 UTC on Mar 1
    assert review_day(datetime(2026, 3, 2, 7, 0, tzinfo=shanghai)) == date(2026, 3, 2)
    minus5 = timezone(timedelta(hours=-5))
    assert review_day(datetime(2026, 3, 2, 20, 0, tzinfo=minus5)) == date(2026, 3, 4)
    with pytest.raises(ValueError):
        review_day(datetime(2026, 3, 2))


def test_due_keys_cover_every_shard():
    keys = due_keys(date(2026, 3, 2))
    assert len(keys) == 16 == len(set(keys))
    assert keys[0] == "REVIEW#2026-03-02#00" and keys[-1] == "REVIEW#2026-03-02#15"
    for member_id in ("a", "b", "member-42", "会员-7"):
        assert review_key(datetime(2026, 3, 2, tzinfo=UTC), member_id) in keys
    assert len(due_keys(date(2026, 3, 2), shards=4)) == 4
    with pytest.raises(TypeError):
        due_keys(datetime(2026, 3, 2, tzinfo=UTC))
    with pytest.raises(ValueError):
        due_keys(date(2026, 3, 2), shards=0)


def test_shard_is_sha256_based_and_spreads():
    assert shard_of("member-1") == shard_of("member-1")
    counts = [0] * 16
    for i in range(1600):
        counts[shard_of(f"member-{i}")] += 1
    assert min(counts) > 50  # roughly 100 each
    assert {shard_of(f"m{i}", 1) for i in range(50)} == {0}


def test_shard_is_stable_across_processes():
    code = (
        "from memberflow.loyalty.review import shard_of;"
        "print([shard_of(f'member-{i}') for i in range(20)])"
    )
    shared = str(Path(review.__file__).parents[2])
    out = subprocess.run(
        [sys.executable, "-c", code],
        env={**os.environ, "PYTHONHASHSEED": "12345", "PYTHONPATH": shared},
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    assert out == str([shard_of(f"member-{i}") for i in range(20)])


def test_known_shard_values():
    # regression: changing the hash would orphan every stored review key
    assert [shard_of(m) for m in ("m-1", "m-2", "m-3")] == [12, 3, 0]


def test_next_review():
    a = datetime(2026, 3, 2, tzinfo=UTC)
    b = datetime(2026, 2, 2, tzinfo=UTC)
    assert next_review(a, None, b) == b
    assert next_review(None, None) is None
    assert next_review() is None
