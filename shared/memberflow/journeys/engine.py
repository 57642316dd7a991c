"""The journey engine: what each state of a journey state machine does.

One Standard execution runs one cohort (architecture.md §2). ``plan`` pins the
configuration, each step runs ``run_step`` once per shard (a Map), ``advance`` moves
the cursor, ``finalize`` closes the enrolments. Members' progress lives in enrolment
items; the execution carries only the cohort id and the cursor (no personal data).
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pynamodb.exceptions import DoesNotExist, PutError, UpdateError

from memberflow.config import Programme
from memberflow.journeys import claims, incentives
from memberflow.journeys.channels import (
    ChannelAdapters,
    Outgoing,
    Rejected,
    Throttled,
    Undeliverable,
)
from memberflow.journeys.experiments import assign_arm, assign_variant, shard_of
from memberflow.journeys.templates import pick_locale, render
from memberflow.loyalty import service as loyalty
from memberflow.loyalty.accounts import _lots
from memberflow.loyalty.points import expiring_between
from memberflow.members.service import change_stage, get_member
from memberflow.shops import ShopRefused
from memberflow.store import Cohort, Coupon, Enrolment, Member, Message

log = logging.getLogger("memberflow.journeys")

DAY = 86_400
# Defaults of the optional ``messaging`` settings (programme.default.json states them too;
# a cohort pinned before they existed runs with these).
MEMBERS_PER_SHARD = 250
SEND_RATE_PER_SECOND = {"email": 14, "sms": 20, "esp": 100, "webhook": 50}
# Inline Map's concurrency in the journey state machine (statemachines/journey.asl.json):
# at most this many shards send at once, so each shard paces at rate / min(shards, 40).
MAP_CONCURRENCY = 40
# Channels whose consent flag governs them (ESP and outbound webhook deliver email).
CONSENT_FOR_CHANNEL = {"email": "email", "sms": "sms", "esp": "email", "webhook": "email"}


# ------------------------------------------------------------------ configuration pin
def pinned_config(programme: Programme, journey: str) -> dict:
    """What a cohort keeps for its whole life, whatever the configuration becomes."""
    config = programme.journey(journey)
    used = {s["template"] for s in config["steps"]}
    used |= {v for s in config["steps"] for v in s.get("variants", [])}
    return {
        "journey": journey,
        "version": programme.version,
        "fingerprint": programme.fingerprint,
        "config": config,
        "messaging": programme.messaging,
        "templates": {name: programme.templates[name] for name in sorted(used)},
        "programme_name": programme.doc["programme"]["name"],
        "default_locale": programme.doc["programme"]["locale"],
        "timezone": programme.doc["programme"]["timezone"],
        "tiers": {t["name"]: t for t in programme.tiers["ladder"]},
    }


# ------------------------------------------------------------------ entry
@dataclass
class EnrolResult:
    cohort_id: str
    enrolled: list[str]
    skipped: dict[str, str]
    started: bool
    execution_arn: str | None = None


def enrolment_key(journey: str, cohort_id: str) -> str:
    return f"{journey}#{cohort_id}"


def _recently_enrolled(
    member_id: str, journey: str, reentry_days: int | None, now: datetime
) -> bool:
    """Re-entry rule: ``None`` = never again; N = not again within N days of the last entry."""
    for previous in Enrolment.query(member_id, Enrolment.enrolment_key.startswith(f"{journey}#")):
        if reentry_days is None or previous.entered_at > now - timedelta(days=reentry_days):
            return True
    return False


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


# Members a journey of this purpose may not enter, and why (checked at entry and again
# at send time): an erased member gets nothing; a churned member and one the operator
# suppressed get no marketing. Transactional journeys (the welcome) are not marketing.
def refusal(member: Member | None, purpose: str) -> str | None:
    if member is None:
        return "unknown_member"
    if member.erased:
        return "erased"
    if purpose == "marketing":
        if member.stage == "churned":
            return "churned"
        if member.suppressed:
            return "suppressed"
    return None


BATCH_GET = 100  # BatchGetItem's limit
TRANSACTION_PUTS = 99  # TransactWriteItems holds 100 items: 99 puts + the cohort check


def _enrolled_already(member_ids: list[str], key: str) -> set[str]:
    keys = [(member_id, key) for member_id in member_ids]
    found = set()
    for start in range(0, len(keys), BATCH_GET):
        for item in Enrolment.batch_get(
            keys[start : start + BATCH_GET], consistent_read=True, attributes_to_get=["member_id"]
        ):
            found.add(item.member_id)
    return found


def _members(member_ids: list[str]) -> dict[str, Member]:
    # Only what the entry rules read: member items carry long bookkeeping lists.
    wanted = ["member_id", "erased", "stage", "suppressed"]
    found = {}
    for start in range(0, len(member_ids), BATCH_GET):
        for member in Member.batch_get(
            member_ids[start : start + BATCH_GET], consistent_read=True, attributes_to_get=wanted
        ):
            found[member.member_id] = member
    return found


def _write_enrolments(cohort: Cohort, enrolments: list[Enrolment]) -> tuple[list[str], list[str]]:
    """Put new enrolments in transactions of 100 items, each with a check that the
    cohort's execution has not started (members added later would miss its first steps).
    Returns (enrolled, refused as cohort_started)."""
    from pynamodb.exceptions import TransactWriteError
    from pynamodb.transactions import TransactWrite

    enrolled: list[str] = []
    pending = list(enrolments)
    while pending:
        chunk, pending = pending[:TRANSACTION_PUTS], pending[TRANSACTION_PUTS:]
        while chunk:
            try:
                # The model's own connection (a new one per call would build a new client).
                with TransactWrite(connection=Cohort._get_connection().connection) as write:
                    write.condition_check(
                        Cohort, cohort.cohort_id, condition=Cohort.execution_arn.does_not_exist()
                    )
                    for enrolment in chunk:
                        write.save(enrolment, condition=Enrolment.enrolment_key.does_not_exist())
                enrolled.extend(e.member_id for e in chunk)
                break
            except TransactWriteError as error:
                reasons = [r.code if r else None for r in (error.cancellation_reasons or [])]
                if not reasons or any(
                    code not in (None, "None", "ConditionalCheckFailed") for code in reasons
                ):
                    raise
                if reasons[0] == "ConditionalCheckFailed":  # the execution started meanwhile
                    started = [e.member_id for e in chunk + pending]
                    return enrolled, started
                # Enrolled by a concurrent run of the same cohort: already in, keep the rest.
                taken = {
                    i for i, code in enumerate(reasons[1:]) if code == "ConditionalCheckFailed"
                }
                enrolled.extend(chunk[i].member_id for i in taken)
                chunk = [e for i, e in enumerate(chunk) if i not in taken]
    return enrolled, []


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
        reason = refusal(members.get(member_id), purpose)
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
                {"cohort_id": cohort_id, "journey": journey, "cursor": plan_of(cohort, pinned)}
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


def read_enrolments_and_members(
    keys: list[tuple[str, str]], *, cohort_id: str | None = None
) -> tuple[list[Enrolment], dict[str, Member]] | tuple[list[Enrolment], dict, Cohort | None]:
    """Enrolments by (member id, enrolment key) and their members, consistently: both
    tables in one BatchGetItem per 50 members (unprocessed keys asked again). With
    ``cohort_id``, the cohort item comes in the first batch too (and is returned third)."""
    client = Enrolment._get_connection().connection.client
    enrolments_table, members_table = Enrolment.Meta.table_name, Member.Meta.table_name
    cohorts_table = Cohort.Meta.table_name
    enrolments: list[Enrolment] = []
    members: dict[str, Member] = {}
    cohort = None
    for start in range(0, max(1, len(keys)), BATCH_GET // 2 - 1):
        chunk = keys[start : start + BATCH_GET // 2 - 1]
        request = {
            enrolments_table: {
                "Keys": [{"member_id": {"S": m}, "enrolment_key": {"S": k}} for m, k in chunk],
                "ConsistentRead": True,
            },
            members_table: {
                "Keys": [{"member_id": {"S": m}} for m in dict.fromkeys(m for m, _ in chunk)],
                "ConsistentRead": True,
            },
        }
        if not chunk:
            request = {}
        if cohort_id is not None and start == 0:
            request[cohorts_table] = {
                "Keys": [{"cohort_id": {"S": cohort_id}}],
                "ConsistentRead": True,
            }
        for attempt in range(8):
            if not request:
                break
            answer = client.batch_get_item(RequestItems=request)
            responses = answer.get("Responses", {})
            for item in responses.get(cohorts_table, []):
                cohort = Cohort.from_raw_data(item)
            enrolments += [Enrolment.from_raw_data(i) for i in responses.get(enrolments_table, [])]
            for item in responses.get(members_table, []):
                member = Member.from_raw_data(item)
                members[member.member_id] = member
            request = answer.get("UnprocessedKeys") or {}
            if not request:
                break
            time.sleep(min(1.0, 0.05 * 2**attempt))  # DynamoDB asks for a backoff
        else:
            raise RuntimeError("BatchGetItem left keys unprocessed")
    if cohort_id is not None:
        return enrolments, members, cohort
    return enrolments, members


# A one-shard cohort this small carries its member ids in its cursor (ids only), so each
# pass reads the cohort, the enrolments and the members in one BatchGetItem.
CURSOR_MEMBER_IDS = 10


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


# ------------------------------------------------------------------ plan / advance
class UnknownCohort(LookupError):
    pass


def load_cohort(cohort_id: str) -> tuple[Cohort, dict]:
    try:
        cohort = Cohort.get(cohort_id, consistent_read=True)
    except DoesNotExist:
        raise UnknownCohort(f"cohort {cohort_id} does not exist") from None
    return cohort, json.loads(cohort.config)


_load = load_cohort
SHARD_REPEATS = 3  # a failed shard's step is re-run this many times before moving on


def plan(cohort_id: str) -> dict:
    cohort, pinned = _load(cohort_id)
    return plan_of(cohort, pinned)


def plan_of(cohort: Cohort, pinned: dict) -> dict:
    """The first cursor of a cohort. It carries the pinned steps' ids and waits and the
    exit window (ids and numbers only), so ``advance`` needs no read of the cohort."""
    config = pinned["config"]
    steps = config["steps"]
    return {
        "journey": cohort.journey,
        "config_version": cohort.config_version,
        "step_index": 0,
        "step": steps[0]["id"],
        "wait_seconds": int(steps[0]["wait_days"] * DAY),
        "shards": list(range(int(cohort.shards))),
        "repeats": 0,
        "failed_shards": [],
        "done": False,
        "pass": 0,
        "steps": [[s["id"], int(s["wait_days"] * DAY)] for s in steps],
        "exit_seconds": int(config["exit_after_days"] * DAY),
        # one shard: each pass is one task (run_pass), not a Map, advance and finalize
        "one_task": int(cohort.shards) == 1,
    } | (
        # ids only (never member data): the pass reads cohort, enrolments and members at once
        {"member_ids": list(cohort.member_ids)}
        if int(cohort.shards) == 1
        and cohort.member_ids is not None
        and len(cohort.member_ids) <= CURSOR_MEMBER_IDS
        else {}
    )


def execution_name(cohort_id: str, pass_number: int) -> str:
    """Name of the execution that runs pass ``pass_number`` of a cohort (the first is the
    cohort id itself). Unique per state machine for 90 days, so a retried start of the
    next pass finds it (``ExecutionAlreadyExists``) instead of starting a second one."""
    suffix = f".p{pass_number}"
    if len(cohort_id) + len(suffix) <= 80:
        return cohort_id + suffix
    digest = hashlib.sha256(cohort_id.encode()).hexdigest()[:10]
    return f"{cohort_id[: 80 - len(suffix) - 11]}-{digest}{suffix}"


def advance(cohort_id: str, cursor: dict, shard_results: list[dict]) -> dict:
    """Same step again (members waiting for their send window or a retry), or the next.

    Each pass runs in an execution of its own (architecture.md, "Journeys"): the cursor
    returned names the execution of the next pass."""
    following_pass = int(cursor.get("pass", 0)) + 1
    cursor = {
        **cursor,
        "pass": following_pass,
        "execution_name": execution_name(cohort_id, following_pass),
    }
    if "steps" in cursor:  # planned with its timings (cursors from before: read them)
        steps = [{"id": i, "wait_seconds": w} for i, w in cursor["steps"]]
        exit_seconds = int(cursor["exit_seconds"])
    else:
        _cohort, pinned = _load(cohort_id)
        steps = [
            {"id": s["id"], "wait_seconds": int(s["wait_days"] * DAY)}
            for s in pinned["config"]["steps"]
        ]
        exit_seconds = int(pinned["config"]["exit_after_days"] * DAY)
    failed = sorted({int(r["shard"]) for r in shard_results if r.get("failed")})
    waiting = [r for r in shard_results if r.get("deferred") and not r.get("failed")]
    repeats = int(cursor.get("repeats", 0))
    if failed and repeats < SHARD_REPEATS:
        waits = [int(r["retry_in_seconds"]) for r in waiting] + [300 * 2**repeats]
        return {**cursor, "repeats": repeats + 1, "wait_seconds": max(60, min(waits))}
    failed_shards = sorted(set(cursor.get("failed_shards", [])) | set(failed))
    if any(r.get("unfinished") and not r.get("failed") for r in shard_results):
        # A shard ran out of its invocation's time: run the step again at once.
        return {**cursor, "wait_seconds": 0, "failed_shards": failed_shards}
    if waiting:
        wait = min(int(r["retry_in_seconds"]) for r in waiting)
        return {**cursor, "wait_seconds": max(60, wait), "failed_shards": failed_shards}
    following = cursor["step_index"] + 1
    if following < len(steps):
        return {
            **cursor,
            "step_index": following,
            "step": steps[following]["id"],
            "wait_seconds": steps[following]["wait_seconds"],
            "repeats": 0,
            "failed_shards": failed_shards,
        }
    return {
        **cursor,
        "done": True,
        "wait_seconds": exit_seconds,
        "failed_shards": failed_shards,
    }


def continue_cohort(cohort_id: str, cursor: dict, *, state_machine_arn: str, stepfunctions) -> dict:
    """Start the execution of the next pass (ids and the cursor only, never member data).

    Idempotent: the name comes from the cursor, which ``advance`` derives from its input
    alone, so a retried ``advance`` finds the execution already started."""
    if cursor.get("done") and not cursor.get("closing"):
        return {**cursor, "continued": False}
    try:
        stepfunctions.start_execution(
            stateMachineArn=state_machine_arn,
            name=cursor["execution_name"],
            input=json.dumps(
                {"cohort_id": cohort_id, "journey": cursor.get("journey"), "cursor": cursor},
                sort_keys=True,
            ),
        )
    except stepfunctions.exceptions.ExecutionAlreadyExists:
        pass  # a retry: the next pass is under way (or already finished)
    return {**cursor, "continued": True}


# ------------------------------------------------------------------ per-member rules
def goal_met(goal: str, member: Member, enrolment: Enrolment) -> bool:
    """The goal after entry: a purchase; for ``activation`` also the activation rule."""
    bought = member.last_order_at is not None and member.last_order_at >= enrolment.entered_at
    if goal == "purchase":
        return bought
    if goal == "activation":
        return bought or (
            member.activated_at is not None and member.activated_at >= enrolment.entered_at
        )
    return False


def _zone(member: Member, default: str) -> ZoneInfo:
    try:
        return ZoneInfo(member.timezone or default)
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo(default)


def seconds_until_window(member: Member, pinned: dict, now: datetime) -> int:
    """0 when the member's local time is inside the send window, else seconds until it opens."""
    window = pinned["messaging"]["send_window"]
    local = now.astimezone(_zone(member, pinned["timezone"]))
    start_h, start_m = map(int, window["start"].split(":"))
    end_h, end_m = map(int, window["end"].split(":"))
    opens = local.replace(hour=start_h, minute=start_m, second=0, microsecond=0)
    closes = local.replace(hour=end_h, minute=end_m, second=0, microsecond=0)
    if opens <= local < closes:
        return 0
    if local >= closes:
        opens += timedelta(days=1)
    return max(60, int((opens - local).total_seconds()))


def messages_in_window(member_id: str, pinned: dict, now: datetime) -> int:
    """Marketing messages to the member in the cap's window, across every journey."""
    cap = pinned["messaging"]["frequency_cap"]
    since = now - timedelta(days=cap["per_days"])
    recent = Message.query(
        member_id,
        filter_condition=(Message.sent_at > since) & (Message.purpose == "marketing"),
        consistent_read=True,
    )
    return sum(1 for _ in recent)


def coupon_code(cohort_id: str, member_id: str, step: str) -> str:
    digest = hashlib.sha256(f"{cohort_id}|{member_id}|{step}".encode()).digest()
    return "MF" + base64.b32encode(digest).decode()[:10]


def last_step_sent(enrolment: Enrolment) -> str | None:
    """The last step that reached the member (capped / undeliverable steps did not)."""
    for step in reversed(enrolment.steps_reached or []):
        if ":" not in step:
            return step
    return None


def _close_actions(status: str, reason: str, now: datetime, extra: dict) -> list:
    actions = [
        Enrolment.status.set(status),
        Enrolment.outcome_reason.set(reason),
        Enrolment.closed_at.set(now),
    ]
    for name, value in extra.items():
        if value is not None:
            actions.append(getattr(Enrolment, name).set(value))
    return actions


def _close(enrolment: Enrolment, status: str, reason: str, now: datetime, **extra) -> bool:
    actions = _close_actions(status, reason, now, extra)
    try:
        enrolment.update(actions=actions, condition=Enrolment.status == "open")
        return True
    except UpdateError:
        return False  # closed concurrently (e.g. converted by an order)


def _reach(enrolment: Enrolment, mark: str, sent: bool) -> None:
    """Record that the member passed a step (``step``, ``step:capped``, ...)."""
    if mark in (enrolment.steps_reached or []):
        return
    actions = [Enrolment.steps_reached.set((Enrolment.steps_reached | []).append([mark]))]
    if sent:
        actions.append(Enrolment.messages_sent.add(1))
    try:
        enrolment.update(actions=actions, condition=Enrolment.status == "open")
    except UpdateError:
        pass


# ------------------------------------------------------------------ time and pace
class Budget:
    """The time left to one Lambda invocation, as ``context.get_remaining_time_in_millis()``
    reported it at the start, minus what has elapsed since (the send pacer's sleeps
    included). A shard stops taking members once less than the safety margin is left:
    one member's work (a few DynamoDB calls and a send with a 5 s timeout) must fit in it.
    """

    # The seam the benchmark replaces to count sleeps instead of sleeping them.
    clock: Callable[[], float] = staticmethod(time.monotonic)
    pause: Callable[[float], None] = staticmethod(time.sleep)

    def __init__(self, remaining_ms: int | None, *, margin_fraction: float = 0.1):
        self.total = None if remaining_ms is None else remaining_ms / 1000
        self.margin = None if self.total is None else max(0.05, self.total * margin_fraction)
        self.started = self.clock()

    @classmethod
    def of(cls, lambda_context) -> Budget:
        remaining = getattr(lambda_context, "get_remaining_time_in_millis", None)
        return cls(remaining() if remaining else None)

    def elapsed(self) -> float:
        return self.clock() - self.started

    def left(self) -> float:
        return math.inf if self.total is None else self.total - self.elapsed()

    def exhausted(self) -> bool:
        return self.total is not None and self.left() < self.margin

    def sleep(self, seconds: float) -> bool:
        """Sleep, unless that would eat into the margin (then ``False``, not slept)."""
        if self.total is not None and self.left() - seconds < self.margin:
            return False
        if seconds > 0:
            self.pause(seconds)
        return True


class Pacer:
    """Spaces one shard's sends so that all of a step's shards together stay within the
    channel's configured rate (SES's default quota is 14 messages a second per account):
    each of the shards that run at once (at most the Map's concurrency) gets an equal share.
    """

    def __init__(self, rate_per_second: float, budget: Budget):
        self.interval = 1 / rate_per_second
        self.budget = budget
        self.next_at: float | None = None

    def wait(self) -> bool:
        """Wait for the next send slot; ``False`` when the invocation has no time for it."""
        now = self.budget.clock()
        if self.next_at is not None and self.next_at > now:
            if not self.budget.sleep(self.next_at - now):
                return False
            now = self.next_at
        self.next_at = now + self.interval
        return True


def shard_rate(pinned: dict, channel: str, shards: int) -> float:
    rates = {**SEND_RATE_PER_SECOND, **pinned["messaging"].get("send_rate_per_second", {})}
    return rates[channel] / max(1, min(int(shards), MAP_CONCURRENCY))


class OutOfTime(Exception):
    """The invocation's budget cannot fit this member's send: leave it to the next pass."""


# Failed attempts for one member at one step before the member is marked ``failed``.
MAX_MEMBER_ATTEMPTS = 8
OUTCOMES = (
    "processed",
    "sent",
    "control",
    "deferred",
    "retry",
    "capped",
    "undeliverable",
    "converted",
    "exited",
    "failed",
    "rejected",
    "already_sent",
    "unreached",
)


class StepRunner:
    """Runs one step of one cohort over one shard.

    Every member is processed on its own: a member whose processing raises is retried
    on the step's next pass (with backoff, on the execution's Wait state), and after
    ``MAX_MEMBER_ATTEMPTS`` is closed as ``failed``; the shard never fails for it.
    """

    def __init__(self, *, channels: ChannelAdapters, now: datetime, budget: Budget | None = None):
        self.channels = channels
        self.now = now
        self.budget = budget or Budget(None)
        self.pacer: Pacer | None = None
        self.codes: incentives.ShardCodes | None = None

    def run(
        self,
        cohort_id: str,
        step_index: int,
        shard: int,
        *,
        flush: bool = True,
        member_ids: list[str] | None = None,
        journey: str | None = None,
    ) -> dict:
        """One pass of a step over one shard, inside the invocation's time budget.

        Members the pass does not reach before the margin (or whose send would not fit)
        are reported ``unreached``; ``unfinished`` tells ``advance`` to run the step again
        at once. A re-run skips the members already done (their enrolment records it).

        The shard's members are read in batches (BatchGetItem, consistent) and each send
        is one claim (memberflow.journeys.claims) and the channel's call; the providers'
        message ids are recorded for the whole shard at the end."""
        loaded = _load_with_members(cohort_id, journey, member_ids) if member_ids else None
        cohort, pinned = loaded[0] if loaded else _load(cohort_id)
        self.cohort, self.pinned = cohort, pinned
        step = pinned["config"]["steps"][step_index]
        self.pacer = Pacer(shard_rate(pinned, step["channel"], int(cohort.shards)), self.budget)
        self.sent = []
        counts = dict.fromkeys(OUTCOMES, 0)
        enrolments, unseen, members = loaded[1] if loaded else shard_items(cohort, shard)
        self.shard_state = (shard, enrolments, members)
        # A coupon step whose members' shops create codes: created before each claim.
        self.codes = incentives.for_step(
            cohort_id=cohort.cohort_id,
            step=step,
            enrolments=enrolments,
            members=members,
            now=self.now,
            coupon_for=lambda m: self._coupon(cohort, step, m),
            may_send=lambda e, m: self._may_send(pinned, step, e, m),
        )
        # Members the index does not show yet are deferred, never skipped.
        counts["deferred"] += unseen
        retry_in = INDEX_BEHIND_RETRY_SECONDS if unseen else None
        try:
            for enrolment in enrolments:
                if enrolment.status != "open":
                    continue
                if counts["unreached"] or self.budget.exhausted():
                    counts["unreached"] += 1  # counted, not processed: the next pass takes it
                    continue
                counts["processed"] += 1
                try:
                    outcome, wait = self._member(
                        cohort, pinned, step, enrolment, members.get(enrolment.member_id)
                    )
                except OutOfTime:
                    outcome, wait = "unreached", None
                    counts["processed"] -= 1
                except Exception as error:  # noqa: BLE001 - one member never fails the shard
                    outcome, wait = self._failed(enrolment, step["id"], error)
                counts[outcome] += 1
                if wait:
                    retry_in = wait if retry_in is None else min(retry_in, wait)
        finally:
            if self.sent and flush:
                claims.record_provider_ids(self.sent)
                self.sent = []
        log.info(
            "step done",
            extra={"cohort_id": cohort_id, "step": step["id"], "shard": shard, **counts},
        )
        return {
            "shard": shard,
            "deferred": counts["deferred"] + counts["retry"] + counts["unreached"],
            "unfinished": counts["unreached"] > 0,
            "retry_in_seconds": retry_in or 0,
            "counts": counts,
            "elapsed_ms": int(self.budget.elapsed() * 1000),
        }

    def _failed(self, enrolment: Enrolment, step_id: str, error: Exception):
        # Ids and the error's type only: messages of provider errors may carry addresses.
        log.warning(
            "member step failed",
            extra={
                "cohort_id": enrolment.cohort_id,
                "member_id": enrolment.member_id,
                "step": step_id,
                "error": type(error).__name__,
            },
        )
        same_step = enrolment.failure_step == step_id
        attempts = (int(enrolment.failures or 0) if same_step else 0) + 1
        try:
            enrolment.update(
                actions=[Enrolment.failures.set(attempts), Enrolment.failure_step.set(step_id)],
                condition=Enrolment.status == "open",
            )
        except UpdateError:
            return "already_sent", None  # closed meanwhile
        if attempts >= MAX_MEMBER_ATTEMPTS:
            _close(enrolment, "failed", f"error:{type(error).__name__}", self.now)
            return "failed", None
        return "retry", min(3600, 60 * 2**attempts)

    def _member(
        self, cohort: Cohort, pinned: dict, step: dict, enrolment: Enrolment, member: Member | None
    ):
        """The member's step; a claim that finds the member or the enrolment changed since
        they were read (an order, a consent change, another journey's send) is decided
        again on what they are now."""
        for _attempt in range(CLAIM_ATTEMPTS):
            try:
                return self._decide(cohort, pinned, step, enrolment, member)
            except claims.Stale as stale:
                if stale.which == "provider_id":  # not there to record: never expected
                    log.warning("provider ids dropped", extra={"cohort_id": cohort.cohort_id})
                    self.sent.clear()
                    continue
                if stale.which == "message":
                    return "already_sent", None  # claimed by an earlier or concurrent run
                if stale.which == "enrolment":
                    try:
                        enrolment.refresh(consistent_read=True)
                    except DoesNotExist:
                        return "exited", None
                    if enrolment.status != "open":
                        return ("converted" if enrolment.status == "converted" else "exited"), None
                member = get_member(enrolment.member_id)
        raise ConcurrentChange(f"member {enrolment.member_id} kept changing")

    def _decide(self, cohort, pinned, step, enrolment, member):
        now = self.now
        config = pinned["config"]
        step_id = step["id"]
        if _reached(enrolment, step_id):
            return "already_sent", None  # a re-run of the step (deferral, retry)
        if member is None or member.erased:
            _close(enrolment, "exited", "erased", now)
            return "exited", None
        if goal_met(config["goal"], member, enrolment):
            _close(
                enrolment,
                "converted",
                "goal_met",
                now,
                converted_at=member.last_order_at or member.activated_at or now,
                attributed_step=last_step_sent(enrolment),
            )
            return "converted", None
        suppression = refusal(member, config["purpose"])
        if suppression:  # churned or suppressed since entry: no more marketing
            _close(enrolment, "exited", suppression, now)
            return "exited", None
        channel = step["channel"]
        marketing = config["purpose"] == "marketing"
        consent = member.consent
        # Both arms face the same consent rule, so the holdout stays comparable.
        if marketing and not (consent and getattr(consent, CONSENT_FOR_CHANNEL[channel])):
            _close(enrolment, "exited", f"consent:{CONSENT_FOR_CHANNEL[channel]}", now)
            return "exited", None
        if enrolment.arm == "control":
            _reach(enrolment, step_id, sent=False)
            return "control", None
        wait = seconds_until_window(member, pinned, now)
        if wait:
            return "deferred", wait
        return self._send(cohort, pinned, step, enrolment, member)

    def _template(self, step: dict, enrolment: Enrolment) -> str:
        if step.get("variants") and enrolment.variant is not None:
            return step["variants"][int(enrolment.variant) % len(step["variants"])]
        return step["template"]

    def _send(self, cohort, pinned, step, enrolment, member):
        now = self.now
        config = pinned["config"]
        marketing = config["purpose"] == "marketing"
        step_id = step["id"]
        template = self._template(step, enrolment)
        texts = pinned["templates"][template]
        locale = pick_locale(member.locale, texts, pinned["default_locale"])
        incentive = step.get("incentive") or {}
        code = (
            coupon_code(cohort.cohort_id, member.member_id, step_id)
            if incentive.get("type") == "coupon"
            else None
        )
        # The cap, across every journey, from the member as read: the claim is
        # conditioned on that version, so a concurrent claim makes this one decide again.
        if marketing:
            cap = pinned["messaging"]["frequency_cap"]
            if len(claims.recent_sends(member, now, cap["per_days"])) >= cap["max_messages"]:
                _reach(enrolment, f"{step_id}:capped", sent=False)
                return "capped", None
        message_key = f"{cohort.journey}#{cohort.cohort_id}#{step_id}"
        record = Message(
            member_id=member.member_id,
            message_key=message_key,
            journey=cohort.journey,
            cohort_id=cohort.cohort_id,
            step=step_id,
            channel=step["channel"],
            template=template,
            locale=locale,
            sent_at=now,
            coupon_code=code,
            purpose=config["purpose"],
        )
        coupon = self._coupon(cohort, step, member) if code is not None else None
        # A marketing claim writes the member anyway (the cap): the double points' window
        # goes with it, under the same version check as the loyalty engine's own writes.
        member_fields = None
        if marketing and incentive.get("type") == "double_points":
            member_fields = {
                "double_points_until": now + timedelta(days=incentive["days"]),
                "double_points_multiplier": Decimal(str(incentive["multiplier"])),
            }
        # 0. The code in the member's shop first (when the shop creates codes): a refusal
        #    defers the member with nothing of it written (journeys.incentives).
        if coupon is not None and self.codes is not None:
            try:
                prepared = self.codes.ensure(member, coupon)
            except ShopRefused as refused:
                if not refused.retryable:
                    raise  # counted as the member's failure: retried, then failed
                return "deferred", incentives.REFUSED_RETRY_SECONDS
            if marketing and prepared.identities:
                member_fields = {**(member_fields or {}), "shop_identities": prepared.identities}
        # 1. Claim the (enrolment, step) send, with the enrolment's progress and the cap,
        #    in one transaction: a retried Map iteration finds the claim.
        claim = claims.Claim(
            record=record,
            enrolment=enrolment,
            member=member,
            step_mark=step_id,
            reached_before=list(enrolment.steps_reached or []),
            marketing=marketing,
            coupon=coupon,
            member_fields=member_fields,
            # the provider ids of this shard's earlier sends ride along (few: one a send)
            provider_ids=self.sent[:CARRIED_PROVIDER_IDS],
        )
        claims.claim(claim, now)
        del self.sent[: len(claim.provider_ids)]
        # The pace slot is taken only for a send this pass owns: a re-run over members
        # sent before (the index may still show their old enrolment) must not spend its
        # budget pacing sends it will not make, or it never gets past them.
        if self.pacer is not None and not self.pacer.wait():
            claims.release(claim, now)
            raise OutOfTime
        try:
            fields = self._fields(pinned, member, template)
            fields.update(self._incentive(cohort, step, member, coupon, incentive))
            rendered = render(texts[locale], fields)
            outgoing = Outgoing(
                member_id=member.member_id,
                journey=cohort.journey,
                cohort_id=cohort.cohort_id,
                step=step_id,
                template=template,
                locale=locale,
                message_key=message_key,
                subject=rendered["subject"],
                body=rendered["body"],
                coupon_code=code,
            )
            provider_id = self.channels.send(
                step["channel"], outgoing, email=member.email, phone=member.phone
            )
        except Undeliverable:
            claims.release(claim, now)
            _reach(enrolment, f"{step_id}:undeliverable", sent=False)
            return "undeliverable", None
        except Rejected as error:
            # Permanent for this member (SES sandbox: an unverified recipient): recorded
            # once, the enrolment closed, never retried.
            claims.release(claim, now)
            log.warning(
                "message rejected",
                extra={
                    "cohort_id": cohort.cohort_id,
                    "member_id": member.member_id,
                    "step": step_id,
                    "error": error.code,
                },
            )
            _reach(enrolment, f"{step_id}:rejected", sent=False)
            _close(enrolment, "failed", f"rejected:{error.code}", now)
            return "rejected", None
        except Throttled:
            # The provider's rate (shared with other cohorts): not the member's failure.
            claims.release(claim, now)
            return "deferred", 60
        except Exception:
            # Transient failure: release the claim so the retry sends it (exactly once).
            try:
                claims.release(claim, now)
            except Exception:  # noqa: BLE001 - the original error matters more
                log.warning("claim not released", extra={"cohort_id": cohort.cohort_id})
            raise
        if provider_id:
            self.sent.append((record, provider_id))
        return "sent", None

    def _coupon(self, cohort: Cohort, step: dict, member: Member) -> Coupon:
        incentive = step["incentive"]
        return Coupon(
            code=coupon_code(cohort.cohort_id, member.member_id, step["id"]),
            member_id=member.member_id,
            journey=cohort.journey,
            cohort_id=cohort.cohort_id,
            step=step["id"],
            percent_off=Decimal(str(incentive["percent_off"])),
            issued_at=self.now,
            expires_at=self.now + timedelta(days=incentive["valid_days"]),
            status=incentives.ISSUED,
        )

    def _may_send(self, pinned: dict, step: dict, enrolment: Enrolment, member: Member) -> bool:
        """What ``_decide`` would send to, on the items as read (no I/O): a code is
        created ahead only for these (a later check may still hold one back: the code then
        waits unused in the shop, restricted to the member, until it expires)."""
        config = pinned["config"]
        if enrolment.status != "open" or enrolment.arm == "control" or member.erased:
            return False
        if _reached(enrolment, step["id"]) or goal_met(config["goal"], member, enrolment):
            return False
        if refusal(member, config["purpose"]):
            return False
        marketing = config["purpose"] == "marketing"
        consent = member.consent
        wanted = CONSENT_FOR_CHANNEL[step["channel"]]
        if marketing and not (consent and getattr(consent, wanted)):
            return False
        if marketing:
            cap = pinned["messaging"]["frequency_cap"]
            if len(claims.recent_sends(member, self.now, cap["per_days"])) >= cap["max_messages"]:
                return False
        return not seconds_until_window(member, pinned, self.now)

    def _fields(self, pinned: dict, member: Member, template: str) -> dict:
        tier = pinned["tiers"].get(member.tier, {})
        texts = json.dumps(pinned["templates"][template], ensure_ascii=False)
        return {
            "programme": pinned["programme_name"],
            "first_name": member.first_name or "",
            "points_balance": int(member.points_balance or 0),
            "points_expiring": points_expiring(member, self.now, _expiry_window(pinned))
            if "{points_expiring}" in texts
            else 0,
            "tier": member.tier,
            "discount_percent": tier.get("discount_percent", ""),
        }

    def _incentive(self, cohort, step, member, coupon, incentive) -> dict:
        now = self.now
        if incentive.get("type") == "coupon":
            # Issued with the claim (claims.claim), so its expiry is the one recorded.
            return {
                "coupon_code": coupon.code,
                "coupon_expires": coupon.expires_at.date().isoformat(),
                "percent_off": _number(incentive["percent_off"]),
            }
        if incentive.get("type") == "double_points" and member.double_points_until == now + (
            timedelta(days=incentive["days"])
        ):
            return {"double_points_until": member.double_points_until.date().isoformat()}
        if incentive.get("type") == "double_points":  # a transactional journey's step
            until = now + timedelta(days=incentive["days"])
            multiplier = Decimal(str(incentive["multiplier"]))

            def open_window(current: Member | None, _order):
                # The loyalty engine's earning reads these two fields.
                if current is None:
                    return None
                current.double_points_until = until
                current.double_points_multiplier = multiplier
                return loyalty.Change(member=current, result=True)

            # The member's one write path: version-checked, replayed on a conflict, so
            # a concurrent order neither loses the window nor has its own write lost.
            loyalty.run(member.member_id, open_window, first=member)
            return {"double_points_until": until.date().isoformat()}
        return {}


# Earlier sends' provider ids a claim's transaction records (of its 100 items).
CARRIED_PROVIDER_IDS = 20
# A member whose claim keeps finding it changed (orders, consent, other journeys' sends
# arriving at that very moment) is retried on the step's next pass after this many.
CLAIM_ATTEMPTS = 5


class ConcurrentChange(Exception):
    """The member changed under every claim attempt: the next pass tries again."""


def _reached(enrolment: Enrolment, step_id: str) -> bool:
    return any(m == step_id or m.startswith(f"{step_id}:") for m in enrolment.steps_reached or [])


def read_members(member_ids: list[str]) -> dict[str, Member]:
    """Members by id, consistently, 100 per BatchGetItem (absent ids: not in the answer)."""
    found: dict[str, Member] = {}
    ids = list(dict.fromkeys(member_ids))
    for start in range(0, len(ids), BATCH_GET):
        for member in Member.batch_get(ids[start : start + BATCH_GET], consistent_read=True):
            found[member.member_id] = member
    return found


def _number(value):
    return int(value) if float(value).is_integer() else value


def _expiry_window(pinned: dict) -> int:
    """Days ahead ``{points_expiring}`` counts: a points-expiring journey's own notice
    (``entry.days_before``), else 30 (the recall reminder's)."""
    entry = pinned["config"].get("entry") or {}
    return int(entry["days_before"]) if entry.get("trigger") == "points_expiring" else 30


def points_expiring(member: Member, now: datetime, within_days: int = 30) -> int:
    """Points still in lots that expire within ``within_days`` (for the recall reminder):
    read from the member's live lots, which the loyalty engine keeps (no ledger query)."""
    return expiring_between(_lots(member), now, now + timedelta(days=within_days))


# ------------------------------------------------------------------ finalize
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


def closing_cursor(cohort_id: str, cursor: dict) -> dict:
    """The cursor of an execution that only finishes closing the cohort (``finalize`` ran
    out of its invocation's time): no wait, straight to the close."""
    following_pass = int(cursor.get("pass", 0)) + 1
    return {
        **cursor,
        "done": True,
        "closing": True,
        "wait_seconds": 0,
        "pass": following_pass,
        "execution_name": execution_name(cohort_id, following_pass),
    }


# A cohort whose open enrolments are this few is closed in one TransactWriteItems with
# its totals (100 items: the closes and the cohort), e.g. a welcome's cohort of one.
CLOSE_IN_ONE_TRANSACTION = 99


def _closing(config: dict, member: Member | None, enrolment: Enrolment, failed: bool):
    """How an open enrolment closes: (status, reason, extra fields)."""
    if member is None or member.erased:
        return "exited", "erased", {}
    if goal_met(config["goal"], member, enrolment):
        return (
            "converted",
            "goal_met",
            {
                "converted_at": member.last_order_at or member.activated_at,
                "attributed_step": last_step_sent(enrolment),
            },
        )
    if failed:
        return "failed", "shard_error", {}
    return "completed", "no_conversion", {}


def _close_all_at_once(
    cohort: Cohort, closes: list, totals: dict, now: datetime, provider_ids: list
) -> bool:
    """Every close and the cohort's totals in one transaction; ``False`` (nothing written)
    when one enrolment was closed meanwhile (an order): then they go one by one."""
    from pynamodb.exceptions import TransactWriteError
    from pynamodb.transactions import TransactWrite

    try:
        with TransactWrite(connection=Cohort._get_connection().connection) as write:
            for enrolment, status, reason, extra in closes:
                write.update(
                    enrolment,
                    actions=_close_actions(status, reason, now, extra),
                    condition=Enrolment.status == "open",
                )
            write.update(cohort, actions=_finished(totals, now))
            for record, provider_id in provider_ids:
                write.update(
                    record,
                    actions=[Message.provider_message_id.set(provider_id)],
                    condition=Message.message_key.exists(),
                )
    except TransactWriteError as error:
        reasons = [r.code if r else None for r in (error.cancellation_reasons or [])]
        if "ConditionalCheckFailed" in reasons:
            return False
        raise
    return True


def _finished(totals: dict, now: datetime) -> list:
    return [
        Cohort.status.set("finished"),
        Cohort.finished_at.set(now),
        Cohort.totals.set(json.dumps(totals, sort_keys=True)),
    ]


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
        cohort, pinned = _load(cohort_id)
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
                    config, members.get(enrolment.member_id), enrolment, shard in failed_shards
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
                status, reason, extra = _closing(config, member, enrolment, shard in failed_shards)
                if _close(enrolment, status, reason, now, **extra):
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


def run_pass(
    cohort_id: str,
    cursor: dict,
    *,
    channels: ChannelAdapters,
    now: datetime,
    budget: Budget,
    state_machine_arn: str,
    stepfunctions,
) -> dict:
    """One pass of a cohort of one shard, in one invocation (the state machines' ``RunPass``
    task): the step, ``advance``, then the next pass's execution, or, when nothing is left
    to wait for (the last step done, no exit window), the close. A cohort of one (a
    sign-up's welcome) so costs one Lambda invocation a pass instead of three (Map task,
    advance, finalize). Returns the next cursor; ``closed`` when the cohort is closed or its
    closing goes on in the execution just started."""
    runner = StepRunner(channels=channels, now=now, budget=budget)
    result = runner.run(
        cohort_id,
        int(cursor["step_index"]),
        0,
        flush=False,
        member_ids=cursor.get("member_ids"),
        journey=cursor.get("journey"),
    )
    shard_result = {
        "shard": result["shard"],
        "deferred": result["deferred"],
        "retry_in_seconds": result["retry_in_seconds"],
        "failed": False,
        "unfinished": result["unfinished"],
    }
    following = advance(cohort_id, cursor, [shard_result])
    if following.get("done") and int(following["wait_seconds"]) == 0:
        outcome = finalize(
            cohort_id, now, following.get("failed_shards") or [], budget, after=runner
        )
        if outcome.get("unfinished"):
            continue_cohort(
                cohort_id,
                closing_cursor(cohort_id, following),
                state_machine_arn=state_machine_arn,
                stepfunctions=stepfunctions,
            )
        return {**following, "closed": True, "result": result["counts"]}
    if runner.sent:
        claims.record_provider_ids(runner.sent)
    continued = continue_cohort(
        cohort_id, following, state_machine_arn=state_machine_arn, stepfunctions=stepfunctions
    )
    return {**continued, "closed": False, "result": result["counts"]}
