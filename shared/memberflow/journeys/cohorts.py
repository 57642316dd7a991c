"""Cohorts: entering members into a journey as one cohort, and reading a cohort's shard."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from datetime import datetime

from memberflow.config import Programme
from memberflow.journeys.decisions import (
    MEMBERS_PER_SHARD,
    CohortState,
    MemberState,
    pinned_config,
    plan_of,
    refusal,
)
from memberflow.journeys.experiments import assign_arm, assign_variant, shard_of
from memberflow.store import Cohort, Enrolment, Member
from memberflow.store.errors import DoesNotExist, PutError
from memberflow.store.journeys import (
    UnknownCohort,
    _enrolled_already,
    _members,
    _recently_enrolled,
    _write_enrolments,
    enrolment_key,
    read_enrolments_and_members,
    read_members,
)


@dataclass
class EnrolResult:
    cohort_id: str
    enrolled: list[str]
    skipped: dict[str, str]
    started: bool
    execution_arn: str | None = None


def _new_cohort(programme: Programme, journey: str, cohort_id: str, size: int, now: datetime):
    messaging = programme.messaging
    per_shard = messaging.get("members_per_shard", MEMBERS_PER_SHARD)
    shards = max(1, min(messaging["cohort_shards"], math.ceil(size / per_shard)))
    cohort = Cohort(
        cohort_id=cohort_id,
        journey=journey,
        config_version=programme.version,
        config=json.dumps(pinned_config(programme, journey)),
        shards=shards,
        size=0,
        created_at=now,
    )
    try:
        cohort.save(condition=Cohort.cohort_id.does_not_exist())
        return cohort
    except PutError:
        return Cohort.get(cohort_id, consistent_read=True)  # a concurrent or earlier run


def enrol_cohort(
    *,
    programme: Programme,
    journey: str,
    member_ids: list[str],
    cohort_id: str,
    state_machine_arn: str,
    stepfunctions,
    now: datetime,
) -> EnrolResult:
    """Enrol members as one cohort and start its execution (idempotent on cohort id).

    A re-run (the sweep again, an API retry with the same cohort key) finds the cohort,
    the enrolments and the execution already there: nothing is enrolled or started
    twice. Members added to a cohort whose execution has started are refused
    (``cohort_started``): they would miss its first steps. Reads and writes go in
    batches (BatchGetItem, TransactWriteItems of 100), so a cohort of 1,000 costs tens
    of calls, not thousands; only the re-entry rule reads per member.
    """
    config = programme.journey(journey)
    if not config["enabled"]:
        return EnrolResult(cohort_id, [], dict.fromkeys(member_ids, "journey_disabled"), False)
    try:
        cohort = Cohort.get(cohort_id, consistent_read=True)
        if cohort.journey != journey:
            raise ValueError(f"cohort {cohort_id} belongs to journey {cohort.journey}")
    except DoesNotExist:
        cohort = _new_cohort(programme, journey, cohort_id, len(member_ids), now)
    pinned = json.loads(cohort.config)
    journey_config = pinned["config"]
    purpose = journey_config.get("purpose", "marketing")
    experiment_key = journey_config.get("experiment_key", pinned["version"])
    entered_at = cohort.created_at  # every member of a cohort enters at the same moment
    key = enrolment_key(journey, cohort_id)
    variants = max(len(s.get("variants", [])) for s in journey_config["steps"])
    ids = list(dict.fromkeys(member_ids))
    already = _enrolled_already(ids, key)  # a re-run
    enrolled = [m for m in ids if m in already]
    skipped: dict[str, str] = {}
    fresh = [m for m in ids if m not in already]
    if cohort.execution_arn:
        skipped.update(dict.fromkeys(fresh, "cohort_started"))
        fresh = []
    members = _members(fresh)
    new = []
    for member_id in fresh:
        reason = refusal(MemberState.of(members.get(member_id)), purpose)
        if reason is None and _recently_enrolled(
            member_id, journey, journey_config["reentry_days"], now
        ):
            reason = "reentry_window"
        if reason is not None:
            skipped[member_id] = reason
            continue
        new.append(
            Enrolment(
                member_id=member_id,
                enrolment_key=key,
                cohort_shard=f"COHORT#{cohort_id}#{shard_of(member_id, int(cohort.shards))}",
                journey=journey,
                cohort_id=cohort_id,
                config_version=cohort.config_version,
                goal=journey_config["goal"],
                arm=assign_arm(
                    member_id, journey, experiment_key, journey_config["holdout_percent"]
                ),
                variant=str(assign_variant(member_id, journey, experiment_key, variants))
                if variants
                else None,
                entered_at=entered_at,
                status="open",
            )
        )
    written, late = _write_enrolments(cohort, new)
    enrolled.extend(written)
    skipped.update(dict.fromkeys(late, "cohort_started"))
    if late:
        cohort.refresh(consistent_read=True)
    # Answer in the order asked.
    order = {m: i for i, m in enumerate(ids)}
    enrolled.sort(key=order.__getitem__)
    skipped = {m: skipped[m] for m in sorted(skipped, key=order.__getitem__)}
    if not enrolled:
        return EnrolResult(cohort_id, [], skipped, False)
    if not cohort.execution_arn:
        cohort.update(actions=_membership(cohort, enrolled))
    try:
        response = stepfunctions.start_execution(
            stateMachineArn=state_machine_arn,
            name=cohort_id,
            # ids only: never member data (history is kept 90 days; erasure must be complete)
            # The first execution brings its plan (made here from the cohort at hand), so
            # it starts at its first Wait without a Lambda call to plan it.
            input=json.dumps(
                {
                    "cohort_id": cohort_id,
                    "journey": journey,
                    "cursor": plan_of(CohortState.of(cohort), pinned),
                }
            ),
        )
        arn = response["executionArn"]
        started = not cohort.execution_arn
        if not cohort.execution_arn:
            cohort.update(actions=[Cohort.execution_arn.set(arn)])
    except stepfunctions.exceptions.ExecutionAlreadyExists:
        started, arn = False, cohort.execution_arn  # the sweep re-ran: already under way
    return EnrolResult(cohort_id, enrolled, skipped, started, arn)


# A cohort this small records its member ids (under 30 KB of the item's 400 KB), so
# its steps read enrolments by key, consistently; larger ones record shard sizes.
LISTED_COHORT_MAX = 1000


# A shard whose index is behind is re-run after this (advance() waits >= 60 s anyway).
INDEX_BEHIND_RETRY_SECONDS = 60


def _membership(cohort: Cohort, enrolled: list[str]) -> list:
    """The cohort's size, per-shard sizes and (small cohorts) member ids, written before
    its execution starts. A re-run of the entry adds to what an earlier run recorded."""
    members = list(dict.fromkeys([*(cohort.member_ids or []), *enrolled]))
    shards = int(cohort.shards)
    sizes = [0] * shards
    for member_id in members:
        sizes[shard_of(member_id, shards)] += 1
    actions = [Cohort.size.set(len(members)), Cohort.shard_sizes.set(sizes)]
    if len(members) <= LISTED_COHORT_MAX:
        actions.append(Cohort.member_ids.set(members))
    return actions


def shard_items(cohort: Cohort, shard: int) -> tuple[list[Enrolment], int, dict[str, Member]]:
    """``shard_enrolments`` and the members of the open ones. A listed cohort reads each
    member's enrolment and member item in the same BatchGetItem (consistent; 50 members
    a call); a larger one queries the index, then reads the open members in batches."""
    if cohort.member_ids is None:
        enrolments, unseen = shard_enrolments(cohort, shard)
        return (
            enrolments,
            unseen,
            read_members([e.member_id for e in enrolments if e.status == "open"]),
        )
    key = enrolment_key(cohort.journey, cohort.cohort_id)
    mine = [m for m in cohort.member_ids if shard_of(m, int(cohort.shards)) == shard]
    enrolments, members = read_enrolments_and_members([(m, key) for m in mine])
    enrolments.sort(key=lambda e: e.member_id)
    return enrolments, len(mine) - len(enrolments), members


def _load_with_members(cohort_id: str, journey: str, member_ids: list[str]):
    """((cohort, pinned), (enrolments, unseen, members)) of a one-shard cohort whose
    members the cursor names, in one read; ``None`` when the cohort does not list exactly
    those members (then the step reads the usual way)."""
    key = enrolment_key(journey, cohort_id)
    enrolments, members, cohort = read_enrolments_and_members(
        [(m, key) for m in member_ids], cohort_id=cohort_id
    )
    if cohort is None:
        raise UnknownCohort(f"cohort {cohort_id} does not exist")
    if int(cohort.shards) != 1 or list(cohort.member_ids or []) != list(member_ids):
        return None
    enrolments.sort(key=lambda e: e.member_id)
    return (cohort, json.loads(cohort.config)), (
        enrolments,
        len(member_ids) - len(enrolments),
        members,
    )


def shard_enrolments(cohort: Cohort, shard: int) -> tuple[list[Enrolment], int]:
    """The shard's enrolments, and how many of them the index does not show yet.

    The by_cohort_shard index is eventually consistent: right after enrolment it may
    show none of the shard's members. A listed cohort reads its enrolments by key
    (consistent); a larger one compares what the index shows with the shard's recorded
    size, so the step defers the unseen members instead of skipping them.
    """
    shards = int(cohort.shards)
    if cohort.member_ids is not None:
        key = enrolment_key(cohort.journey, cohort.cohort_id)
        mine = [(m, key) for m in cohort.member_ids if shard_of(m, shards) == shard]
        found = list(Enrolment.batch_get(mine, consistent_read=True))
        found.sort(key=lambda e: e.member_id)
        return found, len(mine) - len(found)
    found = list(Enrolment.cohort_index.query(f"COHORT#{cohort.cohort_id}#{shard}"))
    sizes = cohort.shard_sizes
    expected = int(sizes[shard]) if sizes is not None and shard < len(sizes) else len(found)
    return found, max(0, expected - len(found))
