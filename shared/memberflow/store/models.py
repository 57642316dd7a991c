"""PynamoDB models of the member store: members, identities, orders, the ledger, KPI
snapshots; the journeys' items (cohorts, enrolments, messages, coupons) are in
:mod:`memberflow.store.journey_models` and named here too.

Table names are not known at import: :func:`bind_tables` sets them from the validated
settings at start-up (``memberflow.runtime``), the local stack binds its own.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal

from pynamodb.attributes import (
    BinaryAttribute,
    BooleanAttribute,
    ListAttribute,
    MapAttribute,
    NumberAttribute,
    TTLAttribute,
    UnicodeAttribute,
    UTCDateTimeAttribute,
)
from pynamodb.indexes import AllProjection, GlobalSecondaryIndex, KeysOnlyProjection
from pynamodb.models import Model

from memberflow.store.attributes import (
    UNBOUND,
    DateTimeListAttribute,
    DecimalAttribute,
    RecordListAttribute,
)
from memberflow.store.journey_models import Cohort, Coupon, Enrolment, Message


@dataclass
class StageChange:
    """One move of the member's stage (the history the KPIs' stage series is drawn from)."""

    at: datetime
    from_stage: str | None
    to_stage: str
    reason: str

    def dump(self) -> list:
        return [self.at.astimezone(UTC).isoformat(), self.from_stage, self.to_stage, self.reason]

    @classmethod
    def load(cls, raw: list) -> StageChange:
        return cls(datetime.fromisoformat(raw[0]), raw[1], raw[2], raw[3])

    @classmethod
    def from_map(cls, raw: dict) -> StageChange:
        """An entry as items written before the compact list held it (a map)."""

        def text(name: str) -> str | None:
            return (raw.get(name) or {}).get("S")

        return cls(
            _UTC_TEXT.deserialize(text("at")), text("from_stage"), text("to_stage"), text("reason")
        )


_UTC_TEXT = UTCDateTimeAttribute()


@dataclass
class PointsLot:
    """Points that expire together (credits whose expiry falls on one UTC day)."""

    lot_id: str  # the UTC day of expiry, YYYY-MM-DD
    expires_at: datetime
    remaining: int

    def dump(self) -> list:
        return [self.lot_id, self.expires_at.astimezone(UTC).isoformat(), int(self.remaining)]

    @classmethod
    def load(cls, raw: list) -> PointsLot:
        return cls(raw[0], datetime.fromisoformat(raw[1]), int(raw[2]))


@dataclass
class WindowPurchase:
    """A paid order inside the tier's rolling window (net of refunds)."""

    order_key: str
    at: datetime
    amount: Decimal

    def dump(self) -> list:
        return [self.order_key, self.at.astimezone(UTC).isoformat(), format(self.amount, "f")]

    @classmethod
    def load(cls, raw: list) -> WindowPurchase:
        return cls(raw[0], datetime.fromisoformat(raw[1]), Decimal(raw[2]))


class Consent(MapAttribute):
    email = BooleanAttribute(default=False)
    sms = BooleanAttribute(default=False)
    email_updated_at = UTCDateTimeAttribute(null=True)
    sms_updated_at = UTCDateTimeAttribute(null=True)


class EmailIndex(GlobalSecondaryIndex):
    class Meta:
        index_name = "by_email"
        projection = KeysOnlyProjection()

    email_hash = UnicodeAttribute(hash_key=True)


class ReviewDateIndex(GlobalSecondaryIndex):
    class Meta:
        index_name = "by_review_date"
        projection = KeysOnlyProjection()

    review_key = UnicodeAttribute(hash_key=True)
    member_id = UnicodeAttribute(range_key=True)


class ReviewShardIndex(GlobalSecondaryIndex):
    """The same review dates by shard alone (``REVIEW#<shard>``), sorted by ``review_at``:
    one query per shard reads every member due by a day, however many days were missed
    (memberflow.loyalty.sweep). Sparse: a member is in it only while ``review_at`` is set."""

    class Meta:
        index_name = "by_review_shard"
        projection = KeysOnlyProjection()

    review_shard = UnicodeAttribute(hash_key=True)
    review_at = UTCDateTimeAttribute(range_key=True)


class Member(Model):
    """A member of the programme: profile (personal data), stage, tier, points."""

    class Meta:
        table_name = UNBOUND

    member_id = UnicodeAttribute(hash_key=True)
    # Personal data: the only attributes erasure has to clear.
    email = UnicodeAttribute(null=True)
    phone = UnicodeAttribute(null=True)
    first_name = UnicodeAttribute(null=True)
    last_name = UnicodeAttribute(null=True)
    email_hash = UnicodeAttribute(null=True)
    email_index = EmailIndex()
    # YYYY-MM-DD, or --MM-DD without a year (memberflow.members.birthdays): the date
    # trigger's ``birthday`` (its yearly return, in the member's time zone)
    birthday = UnicodeAttribute(null=True)
    # Preferences
    locale = UnicodeAttribute(null=True)
    timezone = UnicodeAttribute(null=True)
    consent = Consent(default=Consent)
    # Lifecycle
    stage = UnicodeAttribute()
    stage_changed_at = UTCDateTimeAttribute()
    stage_reason = UnicodeAttribute()
    # compact (one string): read by every member read and written on every stage move
    stage_history = RecordListAttribute(StageChange, legacy_maps=True, default=list)
    joined_at = UTCDateTimeAttribute(null=True)
    activated_at = UTCDateTimeAttribute(null=True)
    active_since = UTCDateTimeAttribute(null=True)
    won_back = BooleanAttribute(default=False)
    interactions_in_first_window = NumberAttribute(default=0)
    # Purchases (paid, not reversed)
    order_count = NumberAttribute(default=0)
    order_times = DateTimeListAttribute(default=list)  # compact: read on every order
    last_order_at = UTCDateTimeAttribute(null=True)
    lifetime_spend = DecimalAttribute(default=0)
    # Loyalty
    tier = UnicodeAttribute()
    tier_reviewed_at = UTCDateTimeAttribute(null=True)
    points_balance = NumberAttribute(default=0)
    double_points_until = UTCDateTimeAttribute(null=True)
    double_points_multiplier = DecimalAttribute(null=True)
    rfm = UnicodeAttribute(null=True)
    # Sparse, sharded review-date index: present only while a change is pending.
    review_key = UnicodeAttribute(null=True)
    review_at = UTCDateTimeAttribute(null=True)
    review_index = ReviewDateIndex()
    review_shard = UnicodeAttribute(null=True)  # REVIEW#<shard>: fixed for the member
    review_shard_index = ReviewShardIndex()
    # Loyalty engine bookkeeping (memberflow.loyalty.service). The live points lots:
    # points_balance == sum(lots.remaining) - points_debt, always.
    points_lots = RecordListAttribute(PointsLot, default=list)
    points_debt = NumberAttribute(default=0)  # reversals that found no points left
    tier_window = RecordListAttribute(WindowPurchase, default=list)
    interaction_ids = ListAttribute(of=UnicodeAttribute, default=list)
    # the journey ids (space-separated) the sweep still has to enrol the member in
    pending_handoff = UnicodeAttribute(null=True)
    handoff_due_at = UTCDateTimeAttribute(null=True)
    handoffs = ListAttribute(of=UnicodeAttribute, default=list)  # <journey>#<day>, last 20
    version = NumberAttribute(null=True)  # optimistic lock of the loyalty engine's writes
    # Bookkeeping
    created_at = UTCDateTimeAttribute()
    source_updated_at = UTCDateTimeAttribute(null=True)
    is_stub = BooleanAttribute(default=False)
    erased = BooleanAttribute(default=False)
    # The operator's decision: no marketing journey (PUT /members/{id}/suppression).
    suppressed = BooleanAttribute(default=False)
    suppressed_at = UTCDateTimeAttribute(null=True)
    # Marketing sends of the last weeks (memberflow.store.claims): the frequency cap,
    # read with the member and written with each send's claim, version-checked.
    marketing_sends = DateTimeListAttribute(default=list)
    # The member's identity keys (<platform>#<shop>#<customer id>) as last seen, so a
    # journey's coupon step finds the shop customer to create the code for without a
    # query of the identities index (memberflow.journeys.incentives). A hit is used; a
    # miss falls back to the index. Erasure removes it with the identity links.
    shop_identities = ListAttribute(of=UnicodeAttribute, null=True)


class MemberIdentityIndex(GlobalSecondaryIndex):
    class Meta:
        index_name = "by_member"
        projection = AllProjection()

    member_id = UnicodeAttribute(hash_key=True)
    identity_key = UnicodeAttribute(range_key=True)


class ExternalIdentity(Model):
    """(platform, shop, customer id) -> member. Also holds erasure suppression records."""

    class Meta:
        table_name = UNBOUND

    identity_key = UnicodeAttribute(hash_key=True)
    member_id = UnicodeAttribute()
    platform = UnicodeAttribute()
    shop = UnicodeAttribute(null=True)
    customer_id = UnicodeAttribute(null=True)
    created_at = UTCDateTimeAttribute()
    member_index = MemberIdentityIndex()
    # Non-identity records kept here (memberflow.store.identities): "identity" when
    # absent, else "suppression" | "privacy_request" | "parked_refund". No personal data.
    kind = UnicodeAttribute(null=True)
    payload = UnicodeAttribute(null=True)  # JSON (ids, amounts, times only)


class LedgerEntry(Model):
    """One points movement, keyed by its source so it can be applied only once."""

    class Meta:
        table_name = UNBOUND

    member_id = UnicodeAttribute(hash_key=True)
    entry_key = UnicodeAttribute(range_key=True)  # <kind>#<source>, e.g. bonus#join
    kind = UnicodeAttribute()  # earn | bonus | reversal | redemption | expiry
    points = NumberAttribute()  # signed
    created_at = UTCDateTimeAttribute()
    source = UnicodeAttribute()
    expires_at = UTCDateTimeAttribute(null=True)  # credits: when the lot expires
    # credits: the size of the credit; what is left lives in Member.points_lots
    remaining = NumberAttribute(null=True)
    # A redemption paid out as a discount code in the member's shop (loyalty.payout):
    # pending (points taken, the code being created) | paid | reversed (the shop refused:
    # the points went back, ``points`` is 0). Absent: no code (today's redemption).
    payout_status = UnicodeAttribute(null=True)
    payout = UnicodeAttribute(null=True)  # JSON: shop, code, value, expires_at, lots taken


class EarlyRefund(MapAttribute):
    """A refund that arrived before its order was paid; netted when payment arrives."""

    refund_id = UnicodeAttribute()
    amount = DecimalAttribute()
    at = UTCDateTimeAttribute()


class MemberOrdersIndex(GlobalSecondaryIndex):
    class Meta:
        index_name = "by_member"
        projection = AllProjection()

    member_id = UnicodeAttribute(hash_key=True)
    placed_at = UnicodeAttribute(range_key=True)  # ISO-8601 UTC


class Order(Model):
    """A platform order as memberflow counts it (paid, refunded, cancelled)."""

    class Meta:
        table_name = UNBOUND

    order_key = UnicodeAttribute(hash_key=True)  # <platform>#<shop>#<order id>
    member_id = UnicodeAttribute()
    placed_at = UnicodeAttribute()
    member_index = MemberOrdersIndex()
    platform = UnicodeAttribute()
    shop = UnicodeAttribute(null=True)
    order_id = UnicodeAttribute()
    status = UnicodeAttribute()  # pending | paid | cancelled | refunded
    total = DecimalAttribute(default=0)
    refunded = DecimalAttribute(default=0)
    currency = UnicodeAttribute(null=True)
    points_earned = NumberAttribute(default=0)
    points_reversed = NumberAttribute(default=0)
    coupon_codes = ListAttribute(of=UnicodeAttribute, default=list)
    refund_ids = ListAttribute(of=UnicodeAttribute, default=list)
    paid_at = UTCDateTimeAttribute(null=True)
    source_updated_at = UTCDateTimeAttribute(null=True)
    # Loyalty engine bookkeeping (memberflow.loyalty.service)
    early_refunds = ListAttribute(of=EarlyRefund, default=list)
    earn_tier = UnicodeAttribute(null=True)  # tier held when the order was paid
    cancelled_at = UTCDateTimeAttribute(null=True)
    version = NumberAttribute(null=True)  # optimistic lock


class ReportSnapshot(Model):
    """A precomputed report (the KPIs): what ``GET /reports/kpis`` reads, one item."""

    class Meta:
        table_name = UNBOUND

    report = UnicodeAttribute(hash_key=True)  # "kpis"
    generated_at = UnicodeAttribute(range_key=True)  # ISO-8601 UTC: the newest sorts last
    body = BinaryAttribute(legacy_encoding=False)  # zlib-compressed JSON (counts, no PII)
    expires_at = TTLAttribute(null=True)


# Each model and the environment variable (declared in template.yaml Globals) that
# names its table.
MODELS_BY_TABLE_VARIABLE: dict[str, type[Model]] = {
    "MEMBERS_TABLE": Member,
    "IDENTITIES_TABLE": ExternalIdentity,
    "ENROLMENTS_TABLE": Enrolment,
    "COHORTS_TABLE": Cohort,
    "MESSAGES_TABLE": Message,
    "LEDGER_TABLE": LedgerEntry,
    "COUPONS_TABLE": Coupon,
    "ORDERS_TABLE": Order,
    "REPORTS_TABLE": ReportSnapshot,
}


def bind_tables(table_names: dict[str, str], region: str | None = None) -> None:
    """Point every model at its table: ``table_names`` maps MEMBERS_TABLE etc. to names."""
    for variable, model in MODELS_BY_TABLE_VARIABLE.items():
        if variable in table_names:
            model.Meta.table_name = table_names[variable]
            if region:
                model.Meta.region = region
            # PynamoDB caches a connection bound to the old name/region.
            model._connection = None
