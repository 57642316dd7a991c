"""The RFM job: recency, frequency and monetary scores over the whole member base.

Quintiles need every member's values, so this job reads the base once. It is the one
place a Scan is right: a weekly read of every item is exactly what a quantile over the
whole base costs, and a parallel Scan (``segments``) reads it in pages without holding
more than the three numbers per member. Scores are written only where they changed,
one UpdateItem each (``store.members.set_rfm``).
"""

from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from decimal import Decimal

from memberflow.config import triggers
from memberflow.config.programme import Programme
from memberflow.loyalty import rfm
from memberflow.loyalty.handoffs import Journeys
from memberflow.store.members import set_rfm
from memberflow.store.models import Member

log = logging.getLogger("memberflow.loyalty.rfm")

ATTRIBUTES = [
    "member_id",
    "last_order_at",
    "order_count",
    "lifetime_spend",
    "rfm",
    "erased",
    "stage",
    "tier",
]
DAY = 86_400


def _segment(segment: int, total: int, page_size: int) -> list[tuple]:
    rows = []
    for m in Member.scan(
        segment=segment,
        total_segments=total,
        attributes_to_get=ATTRIBUTES,
        page_size=page_size,
    ):
        rows.append(
            (
                m.member_id,
                m.last_order_at,
                int(m.order_count or 0),
                Decimal(m.lifetime_spend or 0),
                m.rfm,
                bool(m.erased),
                m.stage,
                m.tier,
            )
        )
    return rows


def read_base(segments: int = 4, page_size: int = 1000) -> list[tuple]:
    """Every member's (id, last_order_at, order_count, lifetime_spend, rfm, erased,
    stage, tier)."""
    with ThreadPoolExecutor(max_workers=segments) as pool:
        parts = pool.map(lambda s: _segment(s, segments, page_size), range(segments))
        return [row for part in parts for row in part]


def recompute_rfm(
    *, programme: Programme, now: datetime, journeys: Journeys, segments: int = 4
) -> dict:
    """Score every (not erased) member; write ``Member.rfm`` (e.g. ``"535"``) where changed.

    Recency: whole days since the last order (members with no order score ``111``),
    frequency: paid orders not reversed (``order_count``), monetary: ``lifetime_spend``.

    Then enrols each segment journey's members (``entry.trigger: segment``) as one
    cohort, ``<journey>-<day>``: the segment needs the whole base, which this job has
    just read (``journeys``: where the members are handed; the RFM handler passes the
    journey engine's entry)."""
    base = [row for row in read_base(segments) if not row[5]]
    rows = [
        (
            member_id,
            None if last is None else int((now - last).total_seconds() // DAY),
            count,
            spend,
        )
        for member_id, last, count, spend, *_ in base
    ]
    scores = rfm.rfm_scores(rows, bins=programme.rfm["bins"])
    written = 0
    for member_id, _, _, _, current, *_ in base:
        value = "".join(str(s) for s in scores[member_id])
        if value == current:
            continue
        if set_rfm(member_id, value):
            written += 1
        else:
            log.info(
                "rfm not written (member gone, erased or already scored)",
                extra={"member_id": member_id},
            )
    result = {"scored": len(rows), "written": written}
    entered = _enter_segments(base, scores, programme, now, journeys)
    if entered:
        result["segments"] = entered
    log.info("rfm done", extra=result)
    return result


def _enter_segments(base, scores, programme: Programme, now: datetime, journeys: Journeys) -> dict:
    """Enrol every segment journey's members as this week's cohort; {journey: members}."""
    segment_journeys = triggers.journeys_triggered(programme, triggers.SEGMENT)
    if not segment_journeys:
        return {}
    entered = {}
    day = now.astimezone(UTC).date().isoformat()
    for journey, trigger in segment_journeys:
        member_ids = sorted(
            member_id
            for member_id, _, _, _, _, erased, stage, tier in base
            if not erased
            and triggers.in_segment(
                trigger, stage, tier, "".join(str(s) for s in scores[member_id])
            )
        )
        if not member_ids:
            continue
        journeys.enrol(journey, member_ids, cohort_id=f"{journey}-{day}")
        entered[journey] = len(member_ids)
    return entered
