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
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pynamodb.exceptions import DeleteError, DoesNotExist, PutError, UpdateError

from memberflow.config import Programme
from memberflow.journeys.channels import ChannelAdapters, Outgoing, Undeliverable
from memberflow.journeys.experiments import assign_arm, assign_variant, shard_of
from memberflow.journeys.templates import pick_locale, render
from memberflow.members.service import change_stage, get_member
from memberflow.store import Cohort, Coupon, Enrolment, Member, Message

log = logging.getLogger("memberflow.journeys")

DAY = 86_400
MEMBERS_PER_SHARD = 250
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


def enrolment_key(journey: str, cohort_id: str) -> str:
    return f"{journey}#{cohort_id}"


def _recently_enrolled(
    member_id: str, journey: str, reentry_days: int | None, now: datetime
) -> bool:
    for previous in Enrolment.query(member_id, Enrolment.enrolment_key.startswith(f"{journey}#")):
        if reentry_days is None or previous.entered_at > now - timedelta(days=reentry_days):
            return True
    return False


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
    """Enrol members as one cohort and start its execution (idempotent on cohort id)."""
    config = programme.journey(journey)
    if not config["enabled"]:
        return EnrolResult(cohort_id, [], dict.fromkeys(member_ids, "journey_disabled"), False)
    shards = max(
        1, min(programme.messaging["cohort_shards"], math.ceil(len(member_ids) / MEMBERS_PER_SHARD))
    )
    try:
        cohort = Cohort.get(cohort_id, consistent_read=True)
    except DoesNotExist:
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
        except PutError:
            cohort = Cohort.get(cohort_id, consistent_read=True)
    pinned = json.loads(cohort.config)
    experiment_key = pinned["config"].get("experiment_key", pinned["version"])
    enrolled, skipped = [], {}
    key = enrolment_key(journey, cohort_id)
    for member_id in dict.fromkeys(member_ids):
        member = get_member(member_id)
        if member is None:
            skipped[member_id] = "unknown_member"
            continue
        if member.erased:
            skipped[member_id] = "erased"
            continue
        try:
            Enrolment.get(member_id, key)
            enrolled.append(member_id)  # already in this cohort (a re-run)
            continue
        except DoesNotExist:
            pass
        if _recently_enrolled(member_id, journey, config["reentry_days"], now):
            skipped[member_id] = "reentry_window"
            continue
        variants = pinned["config"]["steps"][0].get("variants")
        enrolment = Enrolment(
            member_id=member_id,
            enrolment_key=key,
            cohort_shard=f"COHORT#{cohort_id}#{shard_of(member_id, cohort.shards)}",
            journey=journey,
            cohort_id=cohort_id,
            config_version=cohort.config_version,
            arm=assign_arm(member_id, journey, experiment_key, pinned["config"]["holdout_percent"]),
            variant=str(assign_variant(member_id, journey, experiment_key, len(variants)))
            if variants
            else None,
            entered_at=now,
            status="open",
        )
        try:
            enrolment.save(condition=Enrolment.enrolment_key.does_not_exist())
        except PutError:
            pass
        enrolled.append(member_id)
    if enrolled:
        cohort.update(actions=[Cohort.size.set(len(enrolled))])
    started = False
    if enrolled:
        try:
            response = stepfunctions.start_execution(
                stateMachineArn=state_machine_arn,
                name=cohort_id,
                input=json.dumps({"cohort_id": cohort_id, "journey": journey}),
            )
            cohort.update(actions=[Cohort.execution_arn.set(response["executionArn"])])
            started = True
        except stepfunctions.exceptions.ExecutionAlreadyExists:
            started = False  # the sweep re-ran: the cohort is already under way
    return EnrolResult(cohort_id, enrolled, skipped, started)


# ------------------------------------------------------------------ plan / advance
class UnknownCohort(LookupError):
    pass


def _load(cohort_id: str) -> tuple[Cohort, dict]:
    try:
        cohort = Cohort.get(cohort_id, consistent_read=True)
    except DoesNotExist:
        raise UnknownCohort(f"cohort {cohort_id} does not exist") from None
    return cohort, json.loads(cohort.config)


def plan(cohort_id: str) -> dict:
    cohort, pinned = _load(cohort_id)
    steps = pinned["config"]["steps"]
    return {
        "journey": cohort.journey,
        "config_version": cohort.config_version,
        "step_index": 0,
        "step": steps[0]["id"],
        "wait_seconds": int(steps[0]["wait_days"] * DAY),
        "shards": list(range(int(cohort.shards))),
        "done": False,
    }


def advance(cohort_id: str, cursor: dict, shard_results: list[dict]) -> dict:
    _cohort, pinned = _load(cohort_id)
    steps = pinned["config"]["steps"]
    deferred = [r for r in shard_results if r.get("deferred")]
    if deferred:
        wait = min(int(r["retry_in_seconds"]) for r in deferred)
        return {**cursor, "wait_seconds": max(60, wait)}
    following = cursor["step_index"] + 1
    if following < len(steps):
        return {
            **cursor,
            "step_index": following,
            "step": steps[following]["id"],
            "wait_seconds": int(steps[following]["wait_days"] * DAY),
        }
    return {**cursor, "done": True, "wait_seconds": int(pinned["config"]["exit_after_days"] * DAY)}


# ------------------------------------------------------------------ per-member rules
def goal_met(goal: str, member: Member, enrolment: Enrolment) -> bool:
    if goal == "purchase":
        return member.last_order_at is not None and member.last_order_at >= enrolment.entered_at
    if goal == "activation":
        return member.activated_at is not None and member.activated_at >= enrolment.entered_at
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
    cap = pinned["messaging"]["frequency_cap"]
    since = now - timedelta(days=cap["per_days"])
    recent = Message.query(
        member_id, filter_condition=(Message.sent_at > since) & (Message.purpose == "marketing")
    )
    return sum(1 for _ in recent)


def coupon_code(cohort_id: str, member_id: str, step: str) -> str:
    digest = hashlib.sha256(f"{cohort_id}|{member_id}|{step}".encode()).digest()
    return "MF" + base64.b32encode(digest).decode()[:10]


def _close(enrolment: Enrolment, status: str, reason: str, now: datetime, **extra) -> bool:
    actions = [
        Enrolment.status.set(status),
        Enrolment.outcome_reason.set(reason),
        Enrolment.closed_at.set(now),
    ]
    for name, value in extra.items():
        actions.append(getattr(Enrolment, name).set(value))
    try:
        enrolment.update(actions=actions, condition=Enrolment.status == "open")
        return True
    except UpdateError:
        return False  # closed concurrently (e.g. converted by an order)


def _reach(enrolment: Enrolment, step_id: str, sent: bool) -> None:
    actions = []
    if step_id not in (enrolment.steps_reached or []):
        actions.append(Enrolment.steps_reached.set((enrolment.steps_reached or []) + [step_id]))
    if sent:
        actions.append(Enrolment.messages_sent.add(1))
    if actions:
        try:
            enrolment.update(actions=actions, condition=Enrolment.status == "open")
        except UpdateError:
            pass


class StepRunner:
    """Runs one step of one cohort over one shard."""

    def __init__(self, *, channels: ChannelAdapters, now: datetime):
        self.channels = channels
        self.now = now

    def run(self, cohort_id: str, step_index: int, shard: int) -> dict:
        cohort, pinned = _load(cohort_id)
        config = pinned["config"]
        step = config["steps"][step_index]
        counts = {
            "processed": 0,
            "sent": 0,
            "control": 0,
            "deferred": 0,
            "capped": 0,
            "converted": 0,
            "exited": 0,
            "already_sent": 0,
        }
        retry_in = None
        for enrolment in Enrolment.cohort_index.query(f"COHORT#{cohort_id}#{shard}"):
            if enrolment.status != "open":
                continue
            counts["processed"] += 1
            outcome, wait = self._member(cohort, pinned, step, enrolment)
            counts[outcome] += 1
            if wait:
                retry_in = wait if retry_in is None else min(retry_in, wait)
        log.info(
            "step done",
            extra={"cohort_id": cohort_id, "step": step["id"], "shard": shard, **counts},
        )
        return {
            "shard": shard,
            "deferred": counts["deferred"],
            "retry_in_seconds": retry_in or 0,
            "counts": counts,
        }

    def _member(self, cohort: Cohort, pinned: dict, step: dict, enrolment: Enrolment):
        now = self.now
        member = get_member(enrolment.member_id)
        if member is None or member.erased:
            _close(enrolment, "exited", "erased", now)
            return "exited", None
        if goal_met(pinned["config"]["goal"], member, enrolment):
            _close(
                enrolment,
                "converted",
                "goal_met",
                now,
                converted_at=member.last_order_at or now,
                attributed_step=(enrolment.steps_reached or [None])[-1],
            )
            return "converted", None
        if enrolment.arm == "control":
            _reach(enrolment, step["id"], sent=False)
            return "control", None
        channel = step["channel"]
        marketing = pinned["config"]["purpose"] == "marketing"
        consent = member.consent
        if marketing and not (consent and getattr(consent, CONSENT_FOR_CHANNEL[channel])):
            _close(enrolment, "exited", "consent", now)
            return "exited", None
        message_key = f"{cohort.journey}#{cohort.cohort_id}#{step['id']}"
        try:
            Message.get(member.member_id, message_key)
            _reach(enrolment, step["id"], sent=False)
            return "already_sent", None
        except DoesNotExist:
            pass
        wait = seconds_until_window(member, pinned, now)
        if wait:
            return "deferred", wait
        cap = pinned["messaging"]["frequency_cap"]
        if marketing and messages_in_window(member.member_id, pinned, now) >= cap["max_messages"]:
            _reach(enrolment, f"{step['id']}:capped", sent=False)
            return "capped", None
        self._send(cohort, pinned, step, enrolment, member, message_key)
        _reach(enrolment, step["id"], sent=True)
        return "sent", None

    def _send(self, cohort, pinned, step, enrolment, member, message_key) -> None:
        now = self.now
        template = step["template"]
        if step.get("variants") and enrolment.variant is not None:
            template = step["variants"][int(enrolment.variant) % len(step["variants"])]
        texts = pinned["templates"][template]
        locale = pick_locale(member.locale, texts, pinned["default_locale"])
        tier = pinned["tiers"].get(member.tier, {})
        fields = {
            "programme": pinned["programme_name"],
            "first_name": member.first_name or "",
            "points_balance": int(member.points_balance or 0),
            "points_expiring": 0,
            "tier": member.tier,
            "discount_percent": tier.get("discount_percent", ""),
        }
        code = None
        incentive = step.get("incentive")
        if incentive and incentive["type"] == "coupon":
            code = coupon_code(cohort.cohort_id, member.member_id, step["id"])
            expires = now + timedelta(days=incentive["valid_days"])
            try:
                Coupon(
                    code=code,
                    member_id=member.member_id,
                    journey=cohort.journey,
                    cohort_id=cohort.cohort_id,
                    step=step["id"],
                    percent_off=Decimal(str(incentive["percent_off"])),
                    issued_at=now,
                    expires_at=expires,
                ).save(condition=Coupon.code.does_not_exist())
            except PutError:
                pass  # issued by an earlier attempt of this step
            fields.update(
                coupon_code=code,
                coupon_expires=expires.date().isoformat(),
                percent_off=incentive["percent_off"],
            )
        elif incentive and incentive["type"] == "double_points":
            until = now + timedelta(days=incentive["days"])
            member.update(
                actions=[
                    Member.double_points_until.set(until),
                    Member.double_points_multiplier.set(Decimal(str(incentive["multiplier"]))),
                ]
            )
            fields["double_points_until"] = until.date().isoformat()
        rendered = render(texts[locale], fields)
        # Claim the (enrolment, step) send first: a retried Map iteration finds the claim.
        record = Message(
            member_id=member.member_id,
            message_key=message_key,
            journey=cohort.journey,
            cohort_id=cohort.cohort_id,
            step=step["id"],
            channel=step["channel"],
            template=template,
            locale=locale,
            sent_at=now,
            coupon_code=code,
            purpose=pinned["config"]["purpose"],
        )
        record.save(condition=Message.message_key.does_not_exist())
        outgoing = Outgoing(
            member_id=member.member_id,
            journey=cohort.journey,
            cohort_id=cohort.cohort_id,
            step=step["id"],
            template=template,
            locale=locale,
            message_key=message_key,
            subject=rendered["subject"],
            body=rendered["body"],
            coupon_code=code,
        )
        try:
            provider_id = self.channels.send(
                step["channel"], outgoing, email=member.email, phone=member.phone
            )
        except Undeliverable:
            provider_id = "undeliverable"
        except Exception:
            # Transient failure: release the claim so the retry sends it (exactly once).
            try:
                record.delete()
            except DeleteError:
                pass
            raise
        record.update(actions=[Message.provider_message_id.set(provider_id)])


# ------------------------------------------------------------------ finalize
def finalize(cohort_id: str, now: datetime) -> dict:
    cohort, pinned = _load(cohort_id)
    config = pinned["config"]
    churn_stage = (config.get("on_no_conversion") or {}).get("stage")
    totals: dict[str, dict[str, int]] = {}
    for shard in range(int(cohort.shards)):
        for enrolment in Enrolment.cohort_index.query(f"COHORT#{cohort_id}#{shard}"):
            if enrolment.status == "open":
                member = get_member(enrolment.member_id)
                if member is not None and goal_met(config["goal"], member, enrolment):
                    _close(
                        enrolment, "converted", "goal_met", now, converted_at=member.last_order_at
                    )
                    enrolment.status = "converted"
                elif _close(enrolment, "completed", "no_conversion", now):
                    enrolment.status = "completed"
                    if churn_stage and member is not None and member.stage == "lapsed":
                        if change_stage(member, churn_stage, f"{cohort.journey}_ended", now):
                            member.save()
            arm = totals.setdefault(enrolment.arm, {})
            arm[enrolment.status] = arm.get(enrolment.status, 0) + 1
            arm["entered"] = arm.get("entered", 0) + 1
    cohort.update(
        actions=[
            Cohort.status.set("finished"),
            Cohort.finished_at.set(now),
            Cohort.totals.set(json.dumps(totals, sort_keys=True)),
        ]
    )
    return {"cohort_id": cohort_id, "journey": cohort.journey, "totals": totals}
