"""Deterministic experiment assignment: the same member, journey and key always land
in the same arm and variant, across re-runs and machines."""

from __future__ import annotations

import hashlib


def _bucket(*parts: str, buckets: int) -> int:
    digest = hashlib.sha256("|".join(parts).encode()).digest()
    return int.from_bytes(digest[:8], "big") % buckets


def assign_arm(member_id: str, journey: str, experiment_key: str, holdout_percent: float) -> str:
    """``control`` (tracked, never messaged) or ``treatment``; holdout in 0.01% steps."""
    threshold = round(holdout_percent * 100)
    return (
        "control"
        if _bucket(member_id, journey, experiment_key, buckets=10_000) < threshold
        else "treatment"
    )


def assign_variant(member_id: str, journey: str, experiment_key: str, variants: int) -> int:
    """Index of the member's A/B message variant (independent of the arm split)."""
    return _bucket(member_id, journey, experiment_key, "variant", buckets=variants)


def shard_of(member_id: str, shards: int) -> int:
    return _bucket(member_id, "shard", buckets=shards)
