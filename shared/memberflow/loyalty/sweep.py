"""The sweep: review the members due by the run's moment, and nobody else.

It runs twice a day, at 02:00 and 14:00 UTC (template.yaml): a date hand-off is due at
the start of the member's local day, and the first run after it falls early in that day
(from UTC+0 to UTC+9 the 02:00 run, at 02:00-11:00 local; from UTC+10 to UTC+14 the
previous UTC day's 14:00 run, at 00:00-04:00 local; west of UTC the 14:00 run, at
02:00-13:00 local), so a birthday is greeted inside its local day's send window (the
journey's step waits for the window to open), never the day before. It reads the ``by_review_shard`` index, one query per shard for every member
whose ``review_at`` falls between the start of the UTC day ``lookback_days`` ago (so a
missed run is caught up) and the run's moment: 16 queries a run, even when nobody is
due. It fetches those members, and for
each one, in one conditional commit: applies the stage rules (at_risk, lapsed, loyal),
the periodic tier review (downgrade / reset), points expiry (ledger ``expiry`` entries),
and files the member under its next review date. It never scans the members table.

Which journeys a member is handed to is configuration (``journeys.<id>.entry``,
memberflow.config.triggers): a stage entered, not activated N days after joining, a
tier entered by an order since the last sweep, points expiring in N days, the yearly
return of a date (the membership anniversary) in the member's time zone. Journey
hand-offs are two-phase so that a crash cannot lose one: the member's commit records
the journeys in ``pending_handoff`` and keeps the member filed under today; once the journey
engine has enrolled the cohort (idempotent on its id: ``<journey>-<day>`` for the 02:00
run, ``<journey>-<day>-pm`` for the 14:00 one, a cohort whose execution started taking
nobody new) the pending mark is cleared and the member is filed under its next review.
A re-run of the same run thus finds only the members whose work is unfinished, and
changes nothing else; members who became due since its first run are refused by the
started cohort and stay pending for the next run's cohort (``handoffs_later``).
"""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

from memberflow.config import triggers
from memberflow.config.programme import Programme
from memberflow.loyalty import accounts, handoffs, lots, review, stages
from memberflow.loyalty.service import Change, run
from memberflow.store.models import Member

COHORT_STARTED = "cohort_started"  # the journey engine's refusal of a started cohort
log = logging.getLogger("memberflow.loyalty.sweep")

DEFAULT_LOOKBACK_DAYS = 7
BATCH = 100  # BatchGetItem's limit


@dataclass
class SweepReport:
    day: str
    index_entries: int = 0  # keys read from the index
    members_read: int = 0  # member items fetched
    members_changed: int = 0  # stage, tier or points changed
    stage_changes: Counter = field(default_factory=Counter)  # by new stage
    tier_changes: int = 0
    points_expired: int = 0
    handoffs: Counter = field(default_factory=Counter)  # journey -> members handed over
    handoff_errors: Counter = field(default_factory=Counter)  # journey -> members left pending
    # journey -> members a started cohort refused (a re-run reads members due since its
    # first run): left pending for the next run's cohort
    handoffs_later: Counter = field(default_factory=Counter)

    def as_dict(self) -> dict:
        return {
            "day": self.day,
            "swept": self.members_read,
            "index_entries": self.index_entries,
            "members_read": self.members_read,
            "members_changed": self.members_changed,
            "stage_changes": dict(self.stage_changes),
            "tier_changes": self.tier_changes,
            "points_expired": self.points_expired,
            "handoffs": dict(self.handoffs),
            "handoff_errors": dict(self.handoff_errors),
            "handoffs_later": dict(self.handoffs_later),
        }


# The sweep's runs (UTC hours, template.yaml's SweepFunction schedules): a run from noon
# on is the afternoon one, with cohorts of its own (a started cohort takes nobody new).
AFTERNOON_FROM_HOUR = 12
AFTERNOON_SUFFIX = "-pm"


def cohort_id(journey: str, now: datetime) -> str:
    """The cohort the run at ``now`` hands ``journey``'s members to: one per run, the same
    for a re-run of it (``<journey>-<UTC day>``, ``-pm`` for the afternoon run)."""
    utc = now.astimezone(UTC)
    suffix = AFTERNOON_SUFFIX if utc.hour >= AFTERNOON_FROM_HOUR else ""
    return f"{journey}-{utc.date().isoformat()}{suffix}"


def due_member_ids(
    day: date, lookback_days: int = DEFAULT_LOOKBACK_DAYS, until: datetime | None = None
) -> list[str]:
    """Ids due by ``until`` (default: the start of ``day``) from the ``lookback_days``
    days before ``day`` on (index only).

    One query per shard of ``by_review_shard`` (16), whatever the lookback: ``day_start(day
    - lookback - 1) < review_at <= until`` is a range of the index's sort key, not a query
    per day. A member due later than ``until`` is read by a later run."""
    after = review.day_start(day - timedelta(days=lookback_days + 1)) + timedelta(microseconds=1)
    until = review.day_start(day) if until is None else until
    ids: list[str] = []
    for key in review.shard_keys():
        ids.extend(
            hit.member_id
            for hit in Member.review_shard_index.query(key, Member.review_at.between(after, until))
        )
    return sorted(set(ids))


def _fetch(ids: list[str]):
    for start in range(0, len(ids), BATCH):
        yield from Member.batch_get(ids[start : start + BATCH], consistent_read=True)


def apply_review(
    current: Member, programme: Programme, now: datetime, day: date
) -> tuple[list, dict]:
    """Everything due for one member by ``now``, in memory: stage, activation hand-off,
    tier review, points expiry, next review date. Returns (ledger entries, outcome)."""
    outcome: dict = {}
    entries = []
    decision = stages.evaluate_stage(accounts.facts_of(current), programme, now)
    today = accounts.day_start(day)
    entered = []
    if accounts.apply_stage(current, decision, now):
        outcome["stage"] = decision.stage
        entered = triggers.on_stage_entered(programme, decision.stage)
    # The hand-off rules skip what is pending already, and adding a journey twice is one
    # hand-off: the stage's journeys and the date-driven ones all come due today.
    handed = handoffs.HandoffState.of(current, programme)
    due = {
        **handoffs.not_activated_due(handed, programme),
        **handoffs.points_expiry_due(handed, programme, now),
        **handoffs.date_due(handed, programme, now),
    }
    pending = handed.pending
    for journey in [*entered, *(journey for journey, at in due.items() if at <= now)]:
        pending = handoffs.add_pending(pending, journey, today)
    if pending != handed.pending:
        accounts.write_pending(current, pending)
    if accounts.review_tier(current, programme, now):
        outcome["tier"] = current.tier
    for lot_id, amount in lots.expire(current, now):
        # The member version makes the key unique even if a late, long-past order
        # re-creates a lot for a day already expired; the version condition on the
        # member is what makes the expiry happen once.
        source = f"{lot_id}#v{current.version or 0}"
        entries.append(accounts.ledger_entry(current, "expiry", source, -amount, now))
        outcome["expired"] = outcome.get("expired", 0) + amount
    accounts.refresh_review(current, programme, now)
    return entries, outcome


def review_member(
    member: Member,
    programme: Programme,
    now: datetime,
    day: date,
    report: SweepReport,
    latest: dict[str, Member],
) -> list[str]:
    """Apply everything due for one member, in one conditional commit (replayed on a
    conflict with a concurrent order). Returns the journeys the member waits for;
    ``latest`` gets the member as committed (or as read, when nothing was due), for
    the hand-off's write to plan on without reading the member again."""
    outcome: dict = {}
    waiting: dict = {}

    def plan(current: Member, _order) -> Change | None:
        latest[current.member_id] = current  # the last planned is what commits
        outcome.clear()
        waiting["journeys"] = accounts.pending_journeys(current)
        if current.review_at is None or current.review_at > now:
            return Change()  # an event moved it since the index was read: not due
        entries, found = apply_review(current, programme, now, day)
        outcome.update(found)
        waiting["journeys"] = accounts.pending_journeys(current)
        return Change(member=current, entries=entries)

    run(member.member_id, plan, first=member)
    if outcome:
        report.members_changed += 1
    if "stage" in outcome:
        report.stage_changes[outcome["stage"]] += 1
    if "tier" in outcome:
        report.tier_changes += 1
    report.points_expired += outcome.get("expired", 0)
    return waiting.get("journeys", [])


def _finish_handoff(
    member_id: str, journey: str, day: date, programme, now, latest: dict[str, Member]
) -> None:
    def plan(current: Member, _order) -> Change:
        latest[member_id] = current
        if not accounts.drop_pending(current, journey):
            return Change()
        if not current.erased:  # an erased member keeps no record of its dates
            current.handoffs = [*(current.handoffs or []), f"{journey}#{day.isoformat()}"][
                -accounts.HANDOFFS_KEPT :
            ]
        accounts.refresh_review(current, programme, now)
        return Change(member=current)

    # On the member as the review committed it: a write since then fails the version
    # condition and the unit of work replays on the member as it is now.
    run(member_id, plan, first=latest.pop(member_id, None))


def _retry_tomorrow(
    member_id: str, journey: str, day: date, programme, now, latest: dict[str, Member]
) -> None:
    def plan(current: Member, _order) -> Change:
        latest[member_id] = current
        if journey not in accounts.pending_journeys(current):
            return Change()
        current.handoff_due_at = accounts.day_start(day + timedelta(days=1))
        accounts.refresh_review(current, programme, now)
        return Change(member=current)

    run(member_id, plan, first=latest.pop(member_id, None))


def hand_off(
    pending: dict[str, list[str]],
    journeys: handoffs.Journeys,
    day: date,
    programme,
    now,
    report: SweepReport,
    latest: dict[str, Member],
) -> None:
    """Enrol each journey's members as one cohort; clear their pending marks after.
    ``latest``: members as last committed (review_member), written on without a read."""
    for journey, member_ids in sorted(pending.items()):
        if journey not in programme.journeys:
            # removed from the configuration since the member was marked: nothing to enter
            log.warning("hand-off to an unconfigured journey dropped", extra={"journey": journey})
            for member_id in member_ids:
                _finish_handoff(member_id, journey, day, programme, now, latest)
            continue
        cohort = cohort_id(journey, now)
        try:
            result = journeys.enrol(journey, sorted(member_ids), cohort_id=cohort)
        except Exception:  # noqa: BLE001 - recorded; the members stay pending, retried tomorrow
            log.exception("hand-off failed", extra={"journey": journey, "cohort_id": cohort})
            report.handoff_errors[journey] += len(member_ids)
            for member_id in member_ids:
                _retry_tomorrow(member_id, journey, day, programme, now, latest)
            continue
        # Every other refusal is final (re-entry window, consent, erased): handed off.
        skipped = getattr(result, "skipped", None) or {}
        later = {m for m, reason in skipped.items() if reason == COHORT_STARTED}
        report.handoffs[journey] += len(member_ids) - len(later)
        report.handoffs_later[journey] += len(later)
        for member_id in member_ids:
            if member_id not in later:  # the later ones stay filed under today
                _finish_handoff(member_id, journey, day, programme, now, latest)


def run_sweep(
    *,
    programme: Programme,
    now: datetime,
    journeys: handoffs.Journeys,
    lookback_days: int = DEFAULT_LOOKBACK_DAYS,
) -> dict:
    """Review every member due by ``now``; hand members to the journeys the programme
    declares for what changed (a stage entered, not activated, a tier entered, points
    about to expire, a date's return). Idempotent for a run (:func:`cohort_id`). ``journeys``: where the members are handed
    (the sweep's handler passes the journey engine's entry)."""
    day = now.astimezone(UTC).date()
    report = SweepReport(day=day.isoformat())
    ids = due_member_ids(day, lookback_days, until=now)
    report.index_entries = len(ids)
    pending: dict[str, list[str]] = {}
    latest: dict[str, Member] = {}  # members waiting for a hand-off, as last committed
    for member in _fetch(ids):
        report.members_read += 1
        # from this run, or left pending by an interrupted one
        waiting = review_member(member, programme, now, day, report, latest)
        for journey in waiting:
            pending.setdefault(journey, []).append(member.member_id)
        if not waiting:
            latest.pop(member.member_id, None)
    if pending:
        hand_off(pending, journeys, day, programme, now, report, latest)
    result = report.as_dict()
    log.info("sweep done", extra={k: v for k, v in result.items() if k != "day"})
    return result
