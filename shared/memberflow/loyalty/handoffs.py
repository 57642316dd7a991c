"""Journey hand-offs: which journeys the sweep still has to enrol a member in, and when
the configured date-driven triggers (not activated N days after joining, points about to
expire) fall due. In memory, no I/O: the sweep and the order path apply these to the
member they commit (memberflow.loyalty.accounts, sweep)."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from memberflow.config import triggers
from memberflow.config.programme import Programme
from memberflow.loyalty import points, stages
from memberflow.members import birthdays
from memberflow.store.models import Member


def _lots_of(member: Member) -> list[points.Lot]:
    return [
        points.Lot(lot.lot_id, lot.expires_at, lot.expires_at, int(lot.remaining))
        for lot in member.points_lots or []
    ]


def pending_journeys(member: Member) -> list[str]:
    """The journeys the sweep still has to enrol the member in (kept as one attribute of
    ids separated by spaces: journey ids have none)."""
    return (member.pending_handoff or "").split()


def add_pending(member: Member, journey: str, due: datetime) -> None:
    pending = pending_journeys(member)
    if journey not in pending:
        member.pending_handoff = " ".join([*pending, journey])
    if member.handoff_due_at is None or not pending or due < member.handoff_due_at:
        member.handoff_due_at = due


def drop_pending(member: Member, journey: str) -> bool:
    pending = pending_journeys(member)
    if journey not in pending:
        return False
    rest = [j for j in pending if j != journey]
    member.pending_handoff = " ".join(rest) or None
    if not rest:
        member.handoff_due_at = None
    return True


def _handed_off(member: Member, journey: str) -> list[str]:
    """Days (ISO) the member was handed to ``journey`` (the last HANDOFFS_KEPT hand-offs)."""
    return [h.split("#", 1)[1] for h in member.handoffs or [] if h.startswith(f"{journey}#")]


def _last_handed_day(member: Member, journey: str) -> datetime | None:
    days = [d for d in _handed_off(member, journey) if len(d) == 10 and d[4] == "-"]
    return datetime.fromisoformat(max(days)).replace(tzinfo=UTC) if days else None


def not_activated_due(member: Member, programme: Programme) -> dict[str, datetime]:
    """When a ``new`` member with no purchase is handed to each not-activated journey."""
    if member.stage != stages.NEW or member.order_times or member.joined_at is None:
        return {}  # a stub without a sign-up is not a member to activate
    pending = pending_journeys(member)
    return {
        journey: member.joined_at + timedelta(days=trigger.days_after_join)
        for journey, trigger in triggers.journeys_triggered(programme, triggers.NOT_ACTIVATED)
        if journey not in pending and not _handed_off(member, journey)
    }


def activation_due_at(member: Member, programme: Programme) -> datetime | None:
    """The first not-activated hand-off due (``None``: none)."""
    due = not_activated_due(member, programme)
    return min(due.values()) if due else None


def points_expiry_due(member: Member, programme: Programme, now: datetime) -> dict[str, datetime]:
    """For each points-expiring journey, when the member is next due: ``days_before`` the
    next lot with points left expires. A lot within the journey's re-entry window of the
    last hand-off is covered by it (lots are per day of expiry: one reminder, not one a
    day); ``reentry_days`` null: reminded once."""
    lots = sorted(
        (lot for lot in _lots_of(member) if lot.remaining > 0), key=lambda lot: lot.expires_at
    )
    pending = pending_journeys(member)
    out = {}
    for journey, trigger in triggers.journeys_triggered(programme, triggers.POINTS_EXPIRING):
        if journey in pending:
            continue
        handed = _handed_off(member, journey)
        reentry = programme.journey(journey)["reentry_days"]
        if handed and reentry is None:
            continue
        last = _last_handed_day(member, journey)
        covered_until = last + timedelta(days=reentry + 1) if last is not None else None
        for lot in lots:
            moment = lot.expires_at - timedelta(days=trigger.days_before)
            if lot.expires_at <= now or (covered_until is not None and moment < covered_until):
                continue
            out[journey] = moment
            break
    return out


# A date hand-off missed by more than the sweep's look-back is not made late.
DATE_LATE_DAYS = 7


def _zone(member: Member, programme: Programme) -> ZoneInfo:
    try:
        return ZoneInfo(member.timezone or programme.doc["programme"]["timezone"])
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo(programme.doc["programme"]["timezone"])


def _in_year(day: date, year: int) -> date:
    try:
        return day.replace(year=year)
    except ValueError:  # 29 February in a year without one
        return date(year, 2, 28)


def date_due(member: Member, programme: Programme, now: datetime) -> dict[str, datetime]:
    """For each date journey, when the member is next due: the start of the day, in the
    member's time zone, ``days_before`` the next yearly return of the date attribute
    (``joined_at``: the membership anniversary, the joining day itself not one;
    ``birthday``: the member's, none without one).
    One hand-off a year: a return at or before the last hand-off's day is done."""
    pending = pending_journeys(member)
    out = {}
    for journey, trigger in triggers.journeys_triggered(programme, triggers.DATE):
        value = getattr(member, trigger.attribute or "", None)
        if journey in pending or value is None:
            continue
        zone = _zone(member, programme)
        if trigger.attribute == birthdays.ATTRIBUTE:  # a day already, no moment
            first = birthdays.as_date(value)
        else:
            first = value.astimezone(zone).date()
        last = _last_handed_day(member, journey)
        this_year = now.astimezone(zone).year
        for year in range(max(first.year + 1, this_year - 1), this_year + 2):
            day = _in_year(first, year) - timedelta(days=trigger.days_before)
            moment = datetime.combine(day, time(0), tzinfo=zone).astimezone(UTC)
            # a hand-off is recorded under its sweep's UTC day and covers all that was due
            # by the end of it (local midnight west of UTC falls inside that UTC day)
            if moment < now - timedelta(days=DATE_LATE_DAYS) or (
                last is not None and moment < last + timedelta(days=1)
            ):
                continue
            out[journey] = moment
            break
    return out
