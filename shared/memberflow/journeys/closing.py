"""Closing a cohort: every open enrolment closed (converted, completed, exited), the
totals recorded by arm, and the configured stage change of members without the goal."""

from __future__ import annotations

import logging
from datetime import datetime
from typing import TYPE_CHECKING

from memberflow.journeys.cohorts import shard_items
from memberflow.journeys.decisions import EnrolmentState, MemberState, _closing
from memberflow.journeys.pacing import Budget
from memberflow.loyalty import service as loyalty
from memberflow.members.service import change_stage
from memberflow.store import Enrolment, Member, claims
from memberflow.store.enrolments import close_enrolment
from memberflow.store.journeys import _close_all_at_once, _finished, load_cohort

if TYPE_CHECKING:
    from memberflow.journeys.steps import StepRunner

log = logging.getLogger("memberflow.journeys")


def _churn(member_id: str, stage: str, reason: str, enrolment: Enrolment, now: datetime) -> bool:
    """lapsed -> churned through the member's one write path (version-checked, replayed
    on a conflict): not if the member bought since entry or moved on meanwhile."""

    def plan(member: Member | None, _order):
        if member is None or member.erased or member.stage != "lapsed":
            return None
        if member.last_order_at is not None and member.last_order_at >= enrolment.entered_at:
            return None
        if not change_stage(member, stage, reason, now):
            return None
        return loyalty.Change(member=member, result=True)

    return bool(loyalty.run(member_id, plan))


# A cohort whose open enrolments are this few is closed in one TransactWriteItems with
# its totals (100 items: the closes and the cohort), e.g. a welcome's cohort of one.
CLOSE_IN_ONE_TRANSACTION = 99


def _count(totals: dict, enrolment: Enrolment, status: str) -> None:
    arm = totals.setdefault(enrolment.arm, {})
    arm[status] = arm.get(status, 0) + 1
    arm["entered"] = arm.get("entered", 0) + 1


def finalize(
    cohort_id: str,
    now: datetime,
    failed_shards: list[int] | None = None,
    budget: Budget | None = None,
    *,
    after: StepRunner | None = None,
) -> dict:
    """Close every open enrolment and record the totals. Inside the invocation's budget:
    when it runs short, ``unfinished`` (the caller continues in a new execution; members
    already closed are only counted then). A small cohort with no churn to apply closes
    in one transaction with its totals.

    ``after``: the step that has just run over the cohort's one shard in this invocation
    (``run_pass``): its cohort, enrolments and members are used as read (every close is
    conditioned on the enrolment still being open), and its last provider ids are
    recorded in the closing transaction."""
    if after is not None and int(after.cohort.shards) == 1:
        cohort, pinned = after.cohort, after.pinned
        loaded = [after.shard_state]
        carried, after.sent = list(after.sent), []
    else:
        cohort, pinned = load_cohort(cohort_id)
        loaded, carried = None, []
        if after is not None and after.sent:
            claims.record_provider_ids(after.sent)
            after.sent = []
    config = pinned["config"]
    churn_stage = (config.get("on_no_conversion") or {}).get("stage")
    failed_shards = set(failed_shards or [])
    budget = budget or Budget(None)
    shards = loaded or []
    for shard in range(0 if loaded else int(cohort.shards)):
        enrolments, unseen, members = shard_items(cohort, shard)
        if unseen:  # days after the last write: the index has long caught up in AWS
            log.warning("index behind at finalize", extra={"cohort_id": cohort_id, "shard": shard})
        shards.append((shard, enrolments, members))
    if not churn_stage:
        closes, totals = [], {}
        for shard, enrolments, members in shards:
            for enrolment in enrolments:
                if enrolment.status != "open":
                    _count(totals, enrolment, enrolment.status)
                    continue
                status, reason, extra = _closing(
                    config,
                    MemberState.of(members.get(enrolment.member_id)),
                    EnrolmentState.of(enrolment),
                    shard in failed_shards,
                )
                closes.append((enrolment, status, reason, extra))
                _count(totals, enrolment, status)
        if len(closes) + len(carried) <= CLOSE_IN_ONE_TRANSACTION and _close_all_at_once(
            cohort, closes, totals, now, carried
        ):
            return {
                "cohort_id": cohort_id,
                "journey": cohort.journey,
                "totals": totals,
                "churned": 0,
            }
    if carried:
        claims.record_provider_ids(carried)
    totals = {}
    churned = 0
    for shard, enrolments, members in shards:
        for enrolment in enrolments:
            if enrolment.status == "open" and budget.exhausted():
                return {
                    "cohort_id": cohort_id,
                    "journey": cohort.journey,
                    "unfinished": True,
                    "churned": churned,
                }
            if enrolment.status == "open":
                member = members.get(enrolment.member_id)
                status, reason, extra = _closing(
                    config,
                    MemberState.of(member),
                    EnrolmentState.of(enrolment),
                    shard in failed_shards,
                )
                if close_enrolment(enrolment, status, reason, now, **extra):
                    enrolment.status = status
                    # Holdout members churn too: the arms must stay comparable.
                    if status == "completed" and churn_stage and member.stage == "lapsed":
                        churned += _churn(
                            member.member_id,
                            churn_stage,
                            f"{cohort.journey}_ended",
                            enrolment,
                            now,
                        )
                if enrolment.status == "open":  # closed concurrently: read the outcome
                    enrolment.refresh(consistent_read=True)
            _count(totals, enrolment, enrolment.status)
    cohort.update(actions=_finished(totals, now))
    return {"cohort_id": cohort_id, "journey": cohort.journey, "totals": totals, "churned": churned}
