"""Customers: sign-ups and profile updates.

A delivery reads what it needs once (:mod:`memberflow.store.reads`: the identity link,
its tombstone, the email link, the member the identity derives, its bonus ledger
entries, its welcome cohort) and writes the member once: one ``TransactWriteItems``
with the member (created, or updated under its version: the loyalty engine's write
path), its identity and email links, the bonus ledger entries (each only if new) and,
on a sign-up, the welcome cohort of one and its enrolment. A sign-up then starts the
welcome execution, and one last transaction records its ARN with the delivery's
receipt. A new customer costs 5 calls: claim, read, write, StartExecution, record.
"""

from __future__ import annotations

import json
import math
import time
from datetime import datetime

from memberflow.config import Programme, triggers
from memberflow.journeys import incentives
from memberflow.journeys.machine import journey_machine_arn
from memberflow.loyalty import accounts, lots, points
from memberflow.loyalty import service as loyalty
from memberflow.members import birthdays
from memberflow.members.identity import email_hash, identity_key, new_member_id, normalise_email
from memberflow.members.service import change_stage, email_link, email_link_key, new_member
from memberflow.store import Cohort, Enrolment, ExternalIdentity, LedgerEntry, Member, reads
from memberflow.store import identities as records
from memberflow.store.journeys import record_execution
from memberflow.store.receipts import DeliveryFinished, DeliveryRecord, is_live
from memberflow.webhooks.events import CustomerUpserted

# A birthday changed here moves the member's review date (refresh_review in the plan):
# the sweep finds the member on its new day.
PROFILE_FIELDS = ("phone", "first_name", "last_name", "locale", "timezone", "birthday")
BONUSES = ("join", "phone_bound", "profile_completed")
WELCOME = "welcome"  # the default programme's sign-up journey
MAX_ATTEMPTS = 20  # a new customer raced by a concurrent delivery reads again


def welcome_cohort_id(member_id: str, journey: str = WELCOME) -> str:
    """A sign-up journey's cohort of one, named after the member so a redelivery cannot
    repeat it (the name journeys.entry.JourneyEntry.start_welcome gives it too)."""
    return f"{journey}-{member_id}"


def signup_journeys(programme: Programme) -> list[str]:
    """The enabled journeys the configuration enters on sign-up (journeys.<id>.entry)."""
    return [j for j, _ in triggers.journeys_triggered(programme, triggers.SIGNUP)]


def _wanted(member_id: str, journeys: list[str]) -> list[tuple]:
    return [
        (Member, member_id),
        *((Cohort, welcome_cohort_id(member_id, j)) for j in journeys),
        *((LedgerEntry, member_id, f"bonus#{kind}") for kind in BONUSES),
    ]


def _profile(member: Member, event: CustomerUpserted, email: str | None) -> bool:
    """Newer profile wins (the stored source ``updated_at``). True when the email
    changed (its link is written with the member)."""
    if member.source_updated_at is not None and member.source_updated_at > event.updated_at:
        return False
    member.source_updated_at = event.updated_at
    changed = False
    if email and email != member.email:
        member.email, member.email_hash = email, email_hash(email)
        changed = True
    for name in PROFILE_FIELDS:
        value = getattr(event, name)
        if value and value != getattr(member, name):
            setattr(member, name, value)
    if event.birthday_cleared:  # the source said there is none (privacy: it goes)
        member.birthday = None
    return changed


def _bonus(member: Member, kind: str, programme: Programme, now: datetime) -> LedgerEntry | None:
    amount = points.bonus_points(kind, programme)
    if amount <= 0:
        return None
    expires = points.expires_at(now, programme)
    lots.credit(member, amount, expires)
    return accounts.ledger_entry(member, "bonus", kind, amount, now, expires)


def _welcome_items(programme: Programme, member_id: str, now: datetime, journey: str) -> list:
    """A sign-up journey's cohort of one and its enrolment, as the journey engine's entry
    (journeys.engine.enrol_cohort) writes them, to be put with the sign-up."""
    from memberflow.journeys.engine import enrolment_key, pinned_config
    from memberflow.journeys.experiments import assign_arm, assign_variant, shard_of

    pinned = pinned_config(programme, journey)
    config = pinned["config"]
    messaging = programme.messaging
    shards = max(1, min(messaging["cohort_shards"], math.ceil(1 / messaging["members_per_shard"])))
    cohort_id = welcome_cohort_id(member_id, journey)
    cohort = Cohort(
        cohort_id=cohort_id,
        journey=journey,
        config_version=programme.version,
        config=json.dumps(pinned),
        shards=shards,
        size=1,
        shard_sizes=[1 if s == shard_of(member_id, shards) else 0 for s in range(shards)],
        member_ids=[member_id],
        created_at=now,
    )
    experiment_key = config.get("experiment_key", pinned["version"])
    variants = max(len(s.get("variants", [])) for s in config["steps"])
    enrolment = Enrolment(
        member_id=member_id,
        enrolment_key=enrolment_key(journey, cohort_id),
        cohort_shard=f"COHORT#{cohort_id}#{shard_of(member_id, shards)}",
        journey=journey,
        cohort_id=cohort_id,
        config_version=programme.version,
        goal=config["goal"],
        arm=assign_arm(member_id, journey, experiment_key, config["holdout_percent"]),
        variant=str(assign_variant(member_id, journey, experiment_key, variants))
        if variants
        else None,
        entered_at=now,
        status="open",
    )
    return [
        (cohort, Cohort.cohort_id.does_not_exist()),
        (enrolment, Enrolment.enrolment_key.does_not_exist()),
    ]


def _reentry_refused(member_id: str, programme: Programme, now: datetime, journey: str) -> bool:
    """A sign-up journey's re-entry rule for a member who existed before this sign-up (an
    earlier API entry); a member created by this delivery has no enrolment to check."""
    from memberflow.journeys.engine import _recently_enrolled

    days = programme.journey(journey)["reentry_days"]
    return _recently_enrolled(member_id, journey, days, now)


def _resolve(event: CustomerUpserted, receipt, attempt: int, journeys: list[str]):
    """One BatchGetItem: (reads, member id, member or None (new), erased?)."""
    identity = identity_key(event.platform, event.shop, event.customer_id)
    email = normalise_email(event.email)
    hashed = email_hash(email)
    guess = new_member_id(identity, attempt)
    wanted = [
        (ExternalIdentity, identity),
        (ExternalIdentity, records.tombstone_key(identity)),
        *_wanted(guess, journeys),
    ]
    if hashed:
        wanted.append((ExternalIdentity, email_link_key(hashed)))
    if receipt is not None:
        wanted.append((DeliveryRecord, receipt.key))
    found = reads.read(wanted)
    if receipt is not None:
        record = found.get(DeliveryRecord, receipt.key)
        if record is not None and record.status == "COMPLETED" and is_live(record, time.time()):
            raise DeliveryFinished(record)
    link = found.get(ExternalIdentity, identity)
    if link is None and found.has(ExternalIdentity, records.tombstone_key(identity)):
        return found, None, None, True  # an erased identity is never recreated
    member_id = link.member_id if link is not None else None
    if member_id is None and hashed:
        by_email = found.get(ExternalIdentity, email_link_key(hashed))
        if by_email is not None:
            candidate = by_email.member_id
            if not found.has(Member, candidate):
                found = found.more(_wanted(candidate, journeys))
            member = found.get(Member, candidate)
            if member is not None and member.email_hash == hashed:
                member_id = candidate  # one person in two shops is one member
    if member_id is None:
        if found.has(Member, guess):
            return found, None, None, False  # the derived id is taken: next attempt
        return found, guess, None, False
    if not found.has(Member, member_id):
        found = found.more(_wanted(member_id, journeys))
    return found, member_id, found.get(Member, member_id), False


def apply_customer(
    event: CustomerUpserted, *, programme: Programme, now: datetime, journeys, receipt=None
) -> tuple[Member | None, bool]:
    """Create or update the member behind a platform customer.

    A newer profile never loses to an older delivery (``updated_at`` guard). A sign-up
    earns the join bonuses (ledger, exactly once) and enters the journeys the programme
    enters on sign-up (the welcome; idempotent on their cohort ids); the member, its
    links, the bonuses and the enrolments commit together, so a delivery that fails half-way is finished by its
    retry (which starts a welcome execution not started yet). ``journeys`` is a
    callable returning what starts the welcome (``start_welcome(member_id, cohort)``: a
    :class:`WelcomeStart`). Returns ``(None, False)`` for an erased identity.
    """
    identity = identity_key(event.platform, event.shop, event.customer_id)
    email = normalise_email(event.email)
    taken = 0
    journeys_on_signup = signup_journeys(programme)
    for _attempt in range(MAX_ATTEMPTS):
        found, member_id, member, erased = _resolve(event, receipt, taken, journeys_on_signup)
        if erased:
            return None, False
        if member_id is None:
            taken += 1  # the derived id belongs to someone else
            continue
        created = member is None
        if member is not None and member.erased:
            return None, False
        if created:
            member = new_member(
                programme=programme,
                now=now,
                stage="new",
                reason="signup",
                email=email,
                member_id=member_id,
            )
        cohorts = {
            j: found.get(Cohort, welcome_cohort_id(member_id, j)) for j in journeys_on_signup
        }
        signup = _SignUp(event, programme, now, found, identity, member_id, email, created)
        signup.may_welcome = [
            j
            for j in journeys_on_signup
            if cohorts[j] is None
            and (
                created
                or member.joined_at is not None
                or not _reentry_refused(member_id, programme, now, j)
            )
        ]
        try:
            loyalty.run(
                member_id,
                signup.plan,
                first=member,
                retry=False,
                # a sign-up's receipt waits for its welcome execution (below)
                receipt=None if _starts_welcome(found, member_id, journeys_on_signup) else receipt,
            )
        except loyalty.Contended:
            continue  # a concurrent delivery wrote first: read again
        _finish_welcome(journeys, member_id, {**cohorts, **signup.welcome_cohorts})
        return member, created
    raise loyalty.ConcurrencyExhausted(f"customer {identity}: gave up after {MAX_ATTEMPTS}")


class _SignUp:
    """The plan of one customer delivery on the member as read (loyalty.service.run)."""

    def __init__(self, event, programme, now, found, identity, member_id, email, created):
        self.event, self.programme, self.now, self.found = event, programme, now, found
        self.identity, self.member_id, self.email = identity, member_id, email
        self.created = created
        self.may_welcome: list[str] = []  # the sign-up journeys this delivery may enter
        self.welcome_cohorts: dict = {}  # written with the member: their plans start them

    def plan(self, current: Member, _order) -> loyalty.Change:
        event, programme, now, found = self.event, self.programme, self.now, self.found
        member_id = self.member_id
        puts: list = []
        entries: list = []
        if found.get(ExternalIdentity, self.identity) is None:
            link = _identity(event, member_id, now)
            puts.append((link, ExternalIdentity.identity_key.does_not_exist()))
        # the link's key on the member too: a coupon step finds the shop customer by it
        incentives.remember_identity(current, event.platform, event.shop, event.customer_id)
        birthday = current.birthday
        email_changed = _profile(current, event, self.email)
        if current.birthday is not None and current.birthday != birthday:
            # learnt after this year's day was over: no greeting days late (the sweep's
            # look-back is for missed sweeps); today's is still greeted
            accounts.record_dates_over(current, programme, now, birthdays.ATTRIBUTE)
        if current.email_hash and (self.created or email_changed):
            # find_by_email's consistent lookup (the by_email index lags)
            puts.append((email_link(member_id, current.email_hash, now), None))
        if current.joined_at is None:
            _join(current, event, now)
            if not found.has(LedgerEntry, member_id, "bonus#join"):
                entries.append(_bonus(current, "join", programme, now))
            self.welcome_cohorts = {}
            for journey in self.may_welcome:
                items = _welcome_items(programme, member_id, now, journey)
                puts += items
                self.welcome_cohorts[journey] = items[0][0]
        for kind, due in (
            ("phone_bound", bool(current.phone)),
            ("profile_completed", event.profile_completed),
        ):
            if due and not found.has(LedgerEntry, member_id, f"bonus#{kind}"):
                entries.append(_bonus(current, kind, programme, now))
        accounts.refresh_review(current, programme, now)
        return loyalty.Change(
            member=current,
            entries=[e for e in entries if e is not None],
            puts=puts,
            create=self.created,
            result=current,
        )


def _starts_welcome(found: reads.Reads, member_id: str, journeys: list[str]) -> bool:
    """Whether this delivery may start a sign-up journey's execution (a member not joined
    yet, or a cohort recorded without its execution): then the receipt comes last."""
    if not journeys:
        return False
    member = found.get(Member, member_id)
    if member is None or member.joined_at is None:
        return True
    cohorts = [found.get(Cohort, welcome_cohort_id(member_id, j)) for j in journeys]
    return any(c is not None and not c.execution_arn for c in cohorts)


def _join(member: Member, event: CustomerUpserted, now: datetime) -> None:
    """Mark the sign-up: a stub becomes a member (prospect -> new, or active when it has
    bought already); the join bonus comes with it."""
    if member.stage == "prospect":
        change_stage(member, "active" if member.order_count else "new", "signup", now)
    member.joined_at = event.created_at or now
    member.is_stub = False


def _identity(event: CustomerUpserted, member_id: str, now: datetime) -> ExternalIdentity:
    return ExternalIdentity(
        identity_key=identity_key(event.platform, event.shop, event.customer_id),
        member_id=member_id,
        platform=event.platform,
        shop=event.shop,
        customer_id=event.customer_id,
        created_at=now,
    )


def _finish_welcome(journeys, member_id: str, cohorts: dict) -> None:
    """Start the execution of each sign-up cohort written now, or recorded by an earlier
    try but not started; the delivery's receipt goes with the last one."""
    todo = [c for _j, c in sorted(cohorts.items()) if c is not None and not c.execution_arn]
    if not todo:
        return
    starter = journeys()
    for cohort in todo[:-1]:
        starter.start_welcome(member_id, cohort, with_receipt=False)
    starter.start_welcome(member_id, todo[-1])


class WelcomeStart:
    """Starts a sign-up's welcome execution, its cohort and enrolment being written with
    the member (:func:`apply_customer`), then records the execution's ARN on the cohort
    with the delivery's receipt, in one transaction: two calls where entering a cohort
    from scratch (journeys.entry.JourneyEntry.start_welcome) takes nine."""

    def __init__(self, context, receipt=None):
        self.context = context
        self.receipt = receipt

    def start_welcome(
        self, member_id: str, cohort: Cohort | None = None, *, with_receipt: bool = True
    ) -> None:
        from memberflow.journeys.decisions import CohortState
        from memberflow.journeys.engine import plan_of

        journey = cohort.journey if cohort is not None else WELCOME
        cohort_id = welcome_cohort_id(member_id, journey)
        # The first execution brings its plan, made from the cohort written (as the
        # journeys' own entry does): it starts at its first Wait without a Lambda call.
        cursor = (
            plan_of(CohortState.of(cohort), json.loads(cohort.config))
            if cohort is not None
            else None
        )
        stepfunctions = self.context.stepfunctions
        try:
            arn = stepfunctions.start_execution(
                stateMachineArn=journey_machine_arn(self.context.settings),
                name=cohort_id,
                # ids only: never member data (history is kept 90 days; erasure is complete)
                input=json.dumps({"cohort_id": cohort_id, "journey": journey, "cursor": cursor}),
            )["executionArn"]
        except stepfunctions.exceptions.ExecutionAlreadyExists:
            arn = None  # started by a concurrent copy, which records it
        receipt = self.receipt if with_receipt else None
        if arn is None and receipt is None:
            return
        record_execution(
            cohort_id, arn, receipt, receipt.summary_for(member_id) if receipt else None
        )
        if receipt is not None:
            receipt.committed()
