"""Journey decisions: what to do for each member, in plain Python on the member's state.

No I/O here: these read the cohort's pinned configuration and plain, immutable state of
the member, the enrolment and the cohort (:class:`MemberState`, :class:`EnrolmentState`,
:class:`CohortState`, each built once from the item the activity read), and answer (who may enter, whether the goal is met, when the send window opens,
how an enrolment closes, the cursor of the next pass). The activities that act on the
answers (claim, cap, send, coupon, record) are in :mod:`memberflow.journeys.steps`,
:mod:`memberflow.journeys.activities`, :mod:`memberflow.journeys.closing` and the store.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from memberflow.config import Programme
from memberflow.loyalty.points import Lot, expiring_between

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


@dataclass(frozen=True)
class MemberState:
    """What the journey decisions read of a member."""

    member_id: str
    stage: str | None = None
    erased: bool = False
    suppressed: bool = False
    timezone: str | None = None
    last_order_at: datetime | None = None
    activated_at: datetime | None = None
    consent: frozenset[str] = frozenset()  # the channels consented to ("email", "sms")

    @classmethod
    def of(cls, member) -> MemberState | None:
        """From a member item (``None``: no member)."""
        if member is None:
            return None
        consent = member.consent
        return cls(
            member_id=member.member_id,
            stage=member.stage,
            erased=bool(member.erased),
            suppressed=bool(member.suppressed),
            timezone=member.timezone,
            last_order_at=member.last_order_at,
            activated_at=member.activated_at,
            consent=frozenset(
                channel for channel in ("email", "sms") if consent and getattr(consent, channel)
            ),
        )


@dataclass(frozen=True)
class EnrolmentState:
    """What the journey decisions read of an enrolment."""

    entered_at: datetime
    arm: str | None = None
    steps_reached: tuple[str, ...] = ()

    @classmethod
    def of(cls, enrolment) -> EnrolmentState:
        return cls(enrolment.entered_at, enrolment.arm, tuple(enrolment.steps_reached or ()))


@dataclass(frozen=True)
class CohortState:
    """What a cohort's first cursor reads of the cohort."""

    journey: str
    config_version: str
    shards: int
    member_ids: tuple[str, ...] | None = None

    @classmethod
    def of(cls, cohort) -> CohortState:
        ids = cohort.member_ids
        return cls(
            cohort.journey,
            cohort.config_version,
            int(cohort.shards),
            None if ids is None else tuple(ids),
        )


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


# Members a journey of this purpose may not enter, and why (checked at entry and again
# at send time): an erased member gets nothing; a churned member and one the operator
# suppressed get no marketing. Transactional journeys (the welcome) are not marketing.
def refusal(member: MemberState | None, purpose: str) -> str | None:
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


def goal_met(goal: str, member: MemberState, enrolment: EnrolmentState) -> bool:
    """The goal after entry: a purchase; for ``activation`` also the activation rule."""
    bought = member.last_order_at is not None and member.last_order_at >= enrolment.entered_at
    if goal == "purchase":
        return bought
    if goal == "activation":
        return bought or (
            member.activated_at is not None and member.activated_at >= enrolment.entered_at
        )
    return False


def _zone(member: MemberState, default: str) -> ZoneInfo:
    try:
        return ZoneInfo(member.timezone or default)
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo(default)


def seconds_until_window(member: MemberState, pinned: dict, now: datetime) -> int:
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


def coupon_code(cohort_id: str, member_id: str, step: str) -> str:
    digest = hashlib.sha256(f"{cohort_id}|{member_id}|{step}".encode()).digest()
    return "MF" + base64.b32encode(digest).decode()[:10]


def last_step_sent(enrolment: EnrolmentState) -> str | None:
    """The last step that reached the member (capped / undeliverable steps did not)."""
    for step in reversed(enrolment.steps_reached):
        if ":" not in step:
            return step
    return None


def _reached(enrolment: EnrolmentState, step_id: str) -> bool:
    return any(m == step_id or m.startswith(f"{step_id}:") for m in enrolment.steps_reached)


def _number(value):
    return int(value) if float(value).is_integer() else value


def _expiry_window(pinned: dict) -> int:
    """Days ahead ``{points_expiring}`` counts: a points-expiring journey's own notice
    (``entry.days_before``), else 30 (the recall reminder's)."""
    entry = pinned["config"].get("entry") or {}
    return int(entry["days_before"]) if entry.get("trigger") == "points_expiring" else 30


def points_expiring(lots: Iterable[Lot], now: datetime, within_days: int = 30) -> int:
    """Points still in ``lots`` that expire within ``within_days`` (for the recall
    reminder): the member's live lots, which the loyalty engine keeps (no ledger query;
    ``memberflow.loyalty.points.lots_of`` reads them from the item, only when a template
    shows the figure)."""
    return expiring_between(lots, now, now + timedelta(days=within_days))


def _closing(config: dict, member: MemberState | None, enrolment: EnrolmentState, failed: bool):
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


SHARD_REPEATS = 3  # a failed shard's step is re-run this many times before moving on
# A one-shard cohort this small carries its member ids in its cursor (ids only), so each
# pass reads the cohort, the enrolments and the members in one BatchGetItem.
CURSOR_MEMBER_IDS = 10


def plan_of(cohort: CohortState, pinned: dict) -> dict:
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
        "shards": list(range(cohort.shards)),
        "repeats": 0,
        "failed_shards": [],
        "done": False,
        "pass": 0,
        "steps": [[s["id"], int(s["wait_days"] * DAY)] for s in steps],
        "exit_seconds": int(config["exit_after_days"] * DAY),
        # one shard: each pass is one task (run_pass), not a Map, advance and finalize
        "one_task": cohort.shards == 1,
    } | (
        # ids only (never member data): the pass reads cohort, enrolments and members at once
        {"member_ids": list(cohort.member_ids)}
        if cohort.shards == 1
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


def step_decision(
    pinned: dict,
    step: dict,
    enrolment: EnrolmentState,
    member: MemberState | None,
    now: datetime,
) -> tuple:
    """What the step does for one member, on the enrolment and the member as read:
    ``("skip",)`` (a re-run: already past this step), ``("close", status, reason,
    fields)``, ``("control",)`` (the holdout: progress only), ``("defer", seconds)``
    (outside the member's send window) or ``("send",)``. The cap is the send's claim's
    to check (it is conditioned on the member's version)."""
    config = pinned["config"]
    step_id = step["id"]
    if _reached(enrolment, step_id):
        return ("skip",)
    if member is None or member.erased:
        return ("close", "exited", "erased", {})
    if goal_met(config["goal"], member, enrolment):
        converted_at = member.last_order_at or member.activated_at or now
        fields = {"converted_at": converted_at, "attributed_step": last_step_sent(enrolment)}
        return ("close", "converted", "goal_met", fields)
    suppression = refusal(member, config["purpose"])
    if suppression:  # churned or suppressed since entry: no more marketing
        return ("close", "exited", suppression, {})
    wanted = CONSENT_FOR_CHANNEL[step["channel"]]
    # Both arms face the same consent rule, so the holdout stays comparable.
    if config["purpose"] == "marketing" and wanted not in member.consent:
        return ("close", "exited", f"consent:{wanted}", {})
    if enrolment.arm == "control":
        return ("control",)
    wait = seconds_until_window(member, pinned, now)
    if wait:
        return ("defer", wait)
    return ("send",)
