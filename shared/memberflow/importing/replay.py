"""A customer's history replayed through the loyalty rules, in memory.

The member is built as the engine would have built it had memberflow been live since
the customer signed up: each past order is paid at its true date
(:func:`memberflow.loyalty.accounts.pay`: points into expiry lots, spend, tier
upgrade, stage), and between orders the reviews the daily sweep would have made happen
at their own moments (stage rules: at_risk, lapsed, loyal; periodic tier review;
points expiry). Nothing here decides a rule: it only orders the events.

What is not replayed: journeys. Hand-offs that history would have caused (activation,
dormancy recall, win-back) are recorded as done, so go-live enrols nobody for the past
and sends no welcome; a change due after go-live (a member who goes at_risk next week)
is left on the review index for the daily sweep, which hands it to its journey as usual.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from memberflow.config import Programme
from memberflow.loyalty import accounts, handoffs, lots, points, stages
from memberflow.loyalty.handoffs import not_activated_due
from memberflow.loyalty.service import order_key
from memberflow.loyalty.tier_reviews import TierState, review_tier
from memberflow.members.identity import email_hash, new_member_id, normalise_email
from memberflow.members.service import email_link, new_member
from memberflow.store.models import Consent, ExternalIdentity, LedgerEntry, Member, Order

from .lines import Customer

IMPORT_REASON = "import"
OPENING_SOURCE = "opening_balance"
MAX_REVIEWS = 10_000  # a guard: a member has a few review moments per order


@dataclass
class Derived:
    """What one customer becomes: the items to write."""

    customer: Customer
    member: Member
    identity: ExternalIdentity
    email_link: ExternalIdentity | None
    orders: list[Order] = field(default_factory=list)
    entries: list[LedgerEntry] = field(default_factory=list)


def member_id_of(customer: Customer) -> str:
    # The id a first webhook for this customer would derive (members.service.link_or_create).
    return new_member_id(customer.identity_key, 0)


def _review_at(member: Member, moment: datetime, programme: Programme) -> list[LedgerEntry]:
    """What the sweep does for a member due at ``moment``, without journey hand-offs."""
    entries = []
    accounts.apply_stage(
        member, stages.evaluate_stage(accounts.facts_of(member), programme, moment), moment
    )
    # Before go-live: each not-activated journey whose window passed is marked as handed
    # off (no journey for history), whatever the journey is called in the configuration.
    for journey, due in sorted(accounts.not_activated_due(member, programme).items()):
        if due <= moment:
            member.handoffs = [*(member.handoffs or []), f"{journey}#{IMPORT_REASON}"]
    accounts.review_tier(member, programme, moment)
    for lot_id, amount in lots.expire(member, moment):
        entries.append(accounts.ledger_entry(member, "expiry", lot_id, -amount, moment))
    return entries


@dataclass(frozen=True)
class _PlainState:
    """The member's state as the rules read it, built once per change of the member (not
    once per replayed moment): between two changes the replay only asks of it."""

    facts: stages.MemberFacts
    tier: TierState
    handed: handoffs.HandoffState

    @classmethod
    def of(cls, member: Member, programme: Programme) -> _PlainState:
        handed = handoffs.HandoffState.of(member, programme)
        return cls(accounts.facts_of(member), TierState.of(member), handed)

    def next_review(self, programme: Programme, now: datetime) -> datetime | None:
        # accounts.refresh_review's moment, without filing it (derive files it at go-live)
        return accounts.review_moment(self.facts, self.tier, self.handed, programme, now)

    def changes_at(self, programme: Programme, moment: datetime) -> bool:
        """Whether :func:`_review_at` at ``moment`` would change the member at all (each
        of its steps, as of this state): most replayed moments are the days a points-expiry
        reminder stays due, on which nothing else happens."""
        return (
            stages.evaluate_stage(self.facts, programme, moment).changed
            or any(due <= moment for due in not_activated_due(self.handed, programme).values())
            or review_tier(self.tier, programme, moment) is not None
            or bool(points.expire_due(self.handed.lots, moment))
        )


def _replay_until(
    member: Member, plain: _PlainState, due: datetime | None, until: datetime, programme: Programme
) -> list[LedgerEntry]:
    """Every review in ``[due, until]`` at its own moment, from ``plain`` (the member's
    state) and ``due`` (its first pending change, as it would be filed). The review index
    is not filed here: derive files it once, at go-live."""
    entries: list[LedgerEntry] = []
    cursor = due or until
    moment = plain.next_review(programme, cursor)  # always next_review(cursor) of plain
    for _ in range(MAX_REVIEWS):
        if moment is None or moment > until:
            return entries
        if plain.changes_at(programme, moment):
            entries += _review_at(member, moment, programme)
            plain = _PlainState.of(member, programme)
            after = plain.next_review(programme, moment)
        else:  # nothing changed: as of the cursor, the answer is the moment itself
            after = moment if moment == cursor else plain.next_review(programme, moment)
        # A moment that stays due after its review (nothing left to change then) must
        # not stall the replay: move on a day. Otherwise ``after`` is the next moment
        # (the review as of ``moment`` is the one just made).
        if after is not None and after <= moment:
            cursor = moment + timedelta(days=1)
            after = plain.next_review(programme, cursor)
        else:
            cursor = moment
        moment = after
    raise RuntimeError(f"member {member.member_id}: review replay did not converge")


def derive(customer: Customer, programme: Programme, now: datetime) -> Derived:
    """The member, orders and ledger entries of ``customer`` as of ``now`` (go-live)."""
    member_id = member_id_of(customer)
    first = min([customer.signed_up_at, *(o.paid_at for o in customer.orders)])
    member = new_member(
        programme=programme,
        now=first,
        stage=stages.NEW,
        reason=IMPORT_REASON,
        email=customer.email,
        member_id=member_id,
    )
    member.joined_at = customer.signed_up_at
    member.phone = customer.phone
    member.first_name = customer.first_name
    member.last_name = customer.last_name
    member.locale = customer.locale
    member.consent = Consent(
        email=customer.consent_email,
        sms=customer.consent_sms,
        email_updated_at=customer.signed_up_at if customer.consent_email else None,
        sms_updated_at=customer.signed_up_at if customer.consent_sms else None,
    )
    member.source_updated_at = customer.signed_up_at
    member.version = 1
    orders, entries = [], []
    plain, due = _PlainState.of(member, programme), first
    for past in customer.orders:
        entries += _replay_until(member, plain, due, past.paid_at, programme)
        key = order_key(customer.platform, customer.shop, past.order_id)
        order = Order(
            order_key=key,
            member_id=member_id,
            placed_at=past.paid_at.astimezone(UTC).isoformat(),
            platform=customer.platform,
            shop=customer.shop,
            order_id=past.order_id,
            status="pending",
            total=past.total,
            currency=past.currency,
            paid_at=past.paid_at,
            source_updated_at=past.paid_at,
            version=1,
        )
        entries += accounts.pay(member, order, programme, past.paid_at)
        member.pending_handoff = None  # history: no journey (module docstring)
        member.handoff_due_at = None
        plain = _PlainState.of(member, programme)
        due = plain.next_review(programme, past.paid_at)
        orders.append(order)
    entries += _replay_until(member, plain, due, now, programme)
    member.pending_handoff = None
    member.handoff_due_at = None
    # The birthday now, so that history's birthdays were no review moments; one whose
    # local day is over at go-live (the sweep's look-back would still take it) is
    # recorded as handed off on its day, like every hand-off of the past: no late
    # greeting. One that is today, or still ahead of its reminder, is still handed off.
    member.birthday = customer.birthday
    accounts.record_dates_over(member, programme, now)
    if customer.opening_points:
        expiry = points.expires_at(now, programme)
        lots.credit(member, customer.opening_points, expiry)
        entries.append(
            accounts.ledger_entry(
                member, "bonus", OPENING_SOURCE, customer.opening_points, now, expiry
            )
        )
    accounts.refresh_review(member, programme, now)
    identity = ExternalIdentity(
        identity_key=customer.identity_key,
        member_id=member_id,
        platform=customer.platform,
        shop=customer.shop,
        customer_id=customer.customer_id,
        created_at=now,
    )
    member.shop_identities = [customer.identity_key]  # a coupon step's lookup
    hashed = email_hash(normalise_email(customer.email))
    link = email_link(member_id, hashed, now) if hashed else None
    return Derived(customer, member, identity, link, orders, entries)
