"""The sparse, sharded review-date index: ``REVIEW#<YYYY-MM-DD>#<shard>``.

A member carries a review key only while a change is pending (stage, tier review,
points expiry); the daily sweep queries the keys of its day instead of scanning the
table. Shards spread one day's members over several partition keys.

The day is a UTC calendar day, and a moment is filed under the **first UTC day that
starts at or after it** (``2026-03-02T10:00Z`` → ``2026-03-03``, ``2026-03-02T00:00Z``
→ ``2026-03-02``). So whenever the sweep for day D runs (at any time on D), every
member it reads is already due: filing a moment under its own date would let a sweep
that runs at 00:05 find a member due at 10:00 not yet due, re-file it under the same
day, and never see it again. The cost is at most one day of delay. A sweep that missed
days should also read the keys of those days. The sweep itself reads the
``by_review_shard`` index, sorted by the moment, up to its run's moment
(memberflow.loyalty.sweep): no delay there.

The shard is a stable hash (SHA-256) of the member id, never Python's ``hash()``
(randomised per process).
"""

from __future__ import annotations

import hashlib
from datetime import UTC, date, datetime, time, timedelta

from memberflow.loyalty._time import require_aware

PREFIX = "REVIEW#"
DEFAULT_SHARDS = 16


def _check_shards(shards: int) -> None:
    if not 1 <= shards <= 100:
        raise ValueError("shards must be between 1 and 100")


def shard_of(member_id: str, shards: int = DEFAULT_SHARDS) -> int:
    """Stable shard of a member id in ``range(shards)``."""
    _check_shards(shards)
    digest = hashlib.sha256(member_id.encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") % shards


def review_day(when: datetime) -> date:
    """The UTC day a moment is filed under: the first day starting at or after it."""
    require_aware(when, "when")
    utc = when.astimezone(UTC)
    day = utc.date()
    if utc != datetime.combine(day, time(0), tzinfo=UTC):
        day += timedelta(days=1)
    return day


def review_key(when: datetime | None, member_id: str, shards: int = DEFAULT_SHARDS) -> str | None:
    """``REVIEW#<YYYY-MM-DD>#<shard:02d>``, or ``None`` (no review pending: sparse index)."""
    if when is None:
        return None
    return f"{PREFIX}{review_day(when).isoformat()}#{shard_of(member_id, shards):02d}"


def shard_key(member_id: str, shards: int = DEFAULT_SHARDS) -> str:
    """``REVIEW#<shard:02d>``: the member's partition of the ``by_review_shard`` index."""
    return f"{PREFIX}{shard_of(member_id, shards):02d}"


def shard_keys(shards: int = DEFAULT_SHARDS) -> list[str]:
    """Every partition of ``by_review_shard`` (the sweep queries each once)."""
    _check_shards(shards)
    return [f"{PREFIX}{shard:02d}" for shard in range(shards)]


def day_start(day: date) -> datetime:
    """00:00 UTC of ``day``: a member is due on ``day`` iff ``review_at <= day_start(day)``
    (``review_day`` files a moment under the first day starting at or after it)."""
    return datetime.combine(day, time(0), tzinfo=UTC)


def due_keys(day: date, shards: int = DEFAULT_SHARDS) -> list[str]:
    """Every shard key of one UTC day (what the sweep for ``day`` queries)."""
    _check_shards(shards)
    if isinstance(day, datetime):
        raise TypeError("pass a date, not a datetime")
    return [f"{PREFIX}{day.isoformat()}#{shard:02d}" for shard in range(shards)]


def next_review(*candidates: datetime | None) -> datetime | None:
    """The earliest of the candidates that are not ``None`` (``None`` if there are none)."""
    present = [c for c in candidates if c is not None]
    return min(present) if present else None
