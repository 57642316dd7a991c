"""Journey hand-offs: which journeys the sweep still has to enrol a member in, and when
the configured date-driven triggers (not activated N days after joining, points about to
expire, the yearly return of a date) fall due. Rules on plain values (:class:`HandoffState`,
:class:`Pending`), no I/O: the sweep and the order path build the state from the member
they read and write what the rules return onto the member they commit
(memberflow.loyalty.accounts, sweep)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Protocol
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from memberflow.config import triggers
from memberflow.config.programme import Programme
from memberflow.loyalty import points, stages
from memberflow.members import birthdays


class Journeys(Protocol):
    """Where the sweep and the RFM job hand members to journeys: the journey engine's
    entry (memberflow.journeys.entry.JourneyEntry), passed in by their handlers, so the
    loyalty jobs never import the journeys that import them. Enrolling is idempotent
    on ``cohort_id``."""

    def enrol(self, journey: str, member_ids: list[str], cohort_id: str) -> object: ...


class JourneysOnFirstUse:
    """:class:`Journeys` built when the first member is handed off: on most days the
    sweep hands off nobody, and its cold start need not load the journey engine."""

    def __init__(self, build: Callable[[], Journeys]):
        self._build, self._journeys = build, None

    def enrol(self, journey: str, member_ids: list[str], cohort_id: str) -> object:
        if self._journeys is None:
            self._journeys = self._build()
        return self._journeys.enrol(journey, member_ids, cohort_id)


@dataclass(frozen=True)
class Pending:
    """The journeys the sweep still has to enrol the member in, and when they are due
    (stored as ``pending_handoff``, the ids separated by spaces: journey ids have none,
    and ``handoff_due_at``)."""

    journeys: tuple[str, ...] = ()
    due_at: datetime | None = None

    @classmethod
    def of(cls, member) -> Pending:
        """From the member item's ``pending_handoff`` and ``handoff_due_at``."""
        return cls(tuple((member.pending_handoff or "").split()), member.handoff_due_at)

    @property
    def text(self) -> str | None:
        """The stored form of ``journeys`` (``None``: nothing pending)."""
        return " ".join(self.journeys) or None


@dataclass(frozen=True)
class HandoffState:
    """What the hand-off rules read of a member: plain values, built once per read of
    the member item (:meth:`of`)."""

    stage: str | None = None
    joined_at: datetime | None = None
    has_orders: bool = False
    timezone: str | None = None
    pending: Pending = Pending()
    handed: tuple[str, ...] = ()  # "<journey>#<day>" of the last HANDOFFS_KEPT hand-offs
    lots: tuple[points.Lot, ...] = ()  # the points lots, as they stand
    # the date triggers' attributes: moments (joined_at), or a birthday's YYYY-MM-DD text
    dates: tuple[tuple[str, datetime | str | None], ...] = ()

    @classmethod
    def of(cls, member, programme: Programme) -> HandoffState:
        """From a member item: its attributes the rules read, and the date attributes the
        programme's date triggers name."""
        return cls(
            stage=member.stage,
            joined_at=member.joined_at,
            has_orders=bool(member.order_times),
            timezone=member.timezone,
            pending=Pending.of(member),
            handed=tuple(member.handoffs or ()),
            lots=points.lots_of(member),
            dates=tuple(
                (name, getattr(member, name, None)) for name in _date_attributes(programme)
            ),
        )

    def date(self, attribute: str | None) -> datetime | str | None:
        return next((value for name, value in self.dates if name == attribute), None)


def _date_attributes(programme: Programme) -> tuple[str, ...]:
    return tuple(
        sorted(
            {
                trigger.attribute
                for _, trigger in triggers.journeys_triggered(programme, triggers.DATE)
                if trigger.attribute
            }
        )
    )


def pending_journeys(pending: Pending) -> list[str]:
    """The journeys the sweep still has to enrol the member in."""
    return list(pending.journeys)


def add_pending(pending: Pending, journey: str, due: datetime) -> Pending:
    """``pending`` with ``journey`` due at ``due`` (the earliest due of all is kept)."""
    journeys = pending.journeys if journey in pending.journeys else (*pending.journeys, journey)
    if pending.due_at is None or not pending.journeys or due < pending.due_at:
        return Pending(journeys, due)
    return Pending(journeys, pending.due_at)


def drop_pending(pending: Pending, journey: str) -> Pending | None:
    """``pending`` without ``journey``; ``None`` when it was not pending."""
    if journey not in pending.journeys:
        return None
    rest = tuple(j for j in pending.journeys if j != journey)
    return Pending(rest, pending.due_at if rest else None)


def _handed_off(member: HandoffState, journey: str) -> list[str]:
    """Days (ISO) the member was handed to ``journey`` (the last HANDOFFS_KEPT hand-offs)."""
    return [h.split("#", 1)[1] for h in member.handed if h.startswith(f"{journey}#")]


def _last_handed_day(member: HandoffState, journey: str) -> datetime | None:
    days = [d for d in _handed_off(member, journey) if len(d) == 10 and d[4] == "-"]
    return datetime.fromisoformat(max(days)).replace(tzinfo=UTC) if days else None


def not_activated_due(member: HandoffState, programme: Programme) -> dict[str, datetime]:
    """When a ``new`` member with no purchase is handed to each not-activated journey."""
    if member.stage != stages.NEW or member.has_orders or member.joined_at is None:
        return {}  # a stub without a sign-up is not a member to activate
    pending = member.pending.journeys
    return {
        journey: member.joined_at + timedelta(days=trigger.days_after_join)
        for journey, trigger in triggers.journeys_triggered(programme, triggers.NOT_ACTIVATED)
        if journey not in pending and not _handed_off(member, journey)
    }


def activation_due_at(member: HandoffState, programme: Programme) -> datetime | None:
    """The first not-activated hand-off due (``None``: none)."""
    due = not_activated_due(member, programme)
    return min(due.values()) if due else None


def points_expiry_due(
    member: HandoffState, programme: Programme, now: datetime
) -> dict[str, datetime]:
    """For each points-expiring journey, when the member is next due: ``days_before`` the
    next lot with points left expires. A lot within the journey's re-entry window of the
    last hand-off is covered by it (lots are per day of expiry: one reminder, not one a
    day); ``reentry_days`` null: reminded once."""
    lots = sorted((lot for lot in member.lots if lot.remaining > 0), key=lambda lot: lot.expires_at)
    pending = member.pending.journeys
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


def _zone(member: HandoffState, programme: Programme) -> ZoneInfo:
    try:
        return ZoneInfo(member.timezone or programme.doc["programme"]["timezone"])
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo(programme.doc["programme"]["timezone"])


def _in_year(day: date, year: int) -> date:
    try:
        return day.replace(year=year)
    except ValueError:  # 29 February in a year without one
        return date(year, 2, 28)


def date_due(member: HandoffState, programme: Programme, now: datetime) -> dict[str, datetime]:
    """For each date journey, when the member is next due: the start of the day, in the
    member's time zone, ``days_before`` the next yearly return of the date attribute
    (``joined_at``: the membership anniversary, the joining day itself not one;
    ``birthday``: the member's, none without one).
    One hand-off a year: a return at or before the last hand-off's day is done."""
    pending = member.pending.journeys
    out = {}
    for journey, trigger in triggers.journeys_triggered(programme, triggers.DATE):
        value = member.date(trigger.attribute)
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


def dates_over(
    member: HandoffState, programme: Programme, now: datetime, attribute: str | None = None
) -> dict[str, datetime]:
    """The date journeys (of ``attribute``'s, or all) whose hand-off fell due by ``now``
    for a date whose day, in the member's zone, is over: learnt too late (an import, a
    birthday given after the day), they are recorded as handed off rather than made days
    late through the sweep's look-back (meant for missed sweeps). A date whose day is
    today, or still ahead (``days_before`` > 0), is not over: it is still handed off.
    Returns each one's due moment (the hand-off record's UTC day)."""
    today = now.astimezone(_zone(member, programme)).date()
    due = date_due(member, programme, now)
    out = {}
    for journey, trigger in triggers.journeys_triggered(programme, triggers.DATE):
        at = due.get(journey)
        if at is None or at > now or (attribute is not None and trigger.attribute != attribute):
            continue
        # the hand-off is due at the start of the local day days_before the date itself
        day = at.astimezone(_zone(member, programme)).date() + timedelta(days=trigger.days_before)
        if day < today:
            out[journey] = at
    return out
