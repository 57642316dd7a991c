"""PynamoDB models of the journeys' items: cohorts, their members' enrolments, the
messages sent, and the coupons issued (by journey steps and by points redemptions).
Bound to their tables with the rest by :func:`memberflow.store.models.bind_tables`."""

from __future__ import annotations

from pynamodb.attributes import (
    ListAttribute,
    NumberAttribute,
    UnicodeAttribute,
    UTCDateTimeAttribute,
)
from pynamodb.indexes import AllProjection, GlobalSecondaryIndex
from pynamodb.models import Model

from memberflow.store.attributes import UNBOUND, DecimalAttribute


class CohortShardIndex(GlobalSecondaryIndex):
    class Meta:
        index_name = "by_cohort_shard"
        projection = AllProjection()

    cohort_shard = UnicodeAttribute(hash_key=True)
    member_id = UnicodeAttribute(range_key=True)


class Enrolment(Model):
    """One member in one journey cohort: arm, progress, outcome."""

    class Meta:
        table_name = UNBOUND

    member_id = UnicodeAttribute(hash_key=True)
    enrolment_key = UnicodeAttribute(range_key=True)  # <journey>#<cohort_id>
    cohort_shard = UnicodeAttribute()  # COHORT#<cohort_id>#<shard>
    cohort_index = CohortShardIndex()
    journey = UnicodeAttribute()
    cohort_id = UnicodeAttribute()
    config_version = UnicodeAttribute()
    arm = UnicodeAttribute()  # treatment | control
    variant = UnicodeAttribute(null=True)
    entered_at = UTCDateTimeAttribute()
    status = UnicodeAttribute()  # open | converted | completed | exited | failed
    outcome_reason = UnicodeAttribute(null=True)
    steps_reached = ListAttribute(of=UnicodeAttribute, default=list)
    messages_sent = NumberAttribute(default=0)
    closed_at = UTCDateTimeAttribute(null=True)
    converted_at = UTCDateTimeAttribute(null=True)
    conversion_order_id = UnicodeAttribute(null=True)
    conversion_revenue = DecimalAttribute(null=True)
    attributed_step = UnicodeAttribute(null=True)
    goal = UnicodeAttribute(null=True)  # the pinned journey goal: purchase | activation | none
    coupon_code = UnicodeAttribute(null=True)  # the coupon that attributed the conversion
    failures = NumberAttribute(default=0)  # failed attempts at ``failure_step``
    failure_step = UnicodeAttribute(null=True)


class Cohort(Model):
    """A set of members entering a journey together; one Step Functions execution."""

    class Meta:
        table_name = UNBOUND

    cohort_id = UnicodeAttribute(hash_key=True)
    journey = UnicodeAttribute()
    config_version = UnicodeAttribute()
    config = UnicodeAttribute()  # the journey's configuration (JSON) pinned at start
    shards = NumberAttribute()
    size = NumberAttribute(default=0)
    # Written with the enrolments, read consistently by each step: the by_cohort_shard
    # index is eventually consistent, so a step needs them to tell an index that is
    # behind from a shard with no one left (memberflow.journeys.engine.shard_enrolments).
    shard_sizes = ListAttribute(of=NumberAttribute, null=True)
    member_ids = ListAttribute(of=UnicodeAttribute, null=True)  # small cohorts only
    created_at = UTCDateTimeAttribute()
    execution_arn = UnicodeAttribute(null=True)
    status = UnicodeAttribute(default="running")
    finished_at = UTCDateTimeAttribute(null=True)
    totals = UnicodeAttribute(null=True)  # JSON of outcome counts by arm
    # API entry (POST /journeys/{journey}/enrollments): the request, kept until the
    # asynchronous enrolment has run, and its outcome. Ids only.
    request_digest = UnicodeAttribute(null=True)  # sha256 of the request's content
    requested_ids = UnicodeAttribute(null=True)  # JSON list of member ids
    entry_status = UnicodeAttribute(null=True)  # accepted | enrolling | enrolled
    handed_off_at = UTCDateTimeAttribute(null=True)
    refused = UnicodeAttribute(null=True)  # JSON {member_id: reason}
    entry_finished_at = UTCDateTimeAttribute(null=True)


class Message(Model):
    """A message a channel adapter sent: the send log, the cap's window, the outbox."""

    class Meta:
        table_name = UNBOUND

    member_id = UnicodeAttribute(hash_key=True)
    message_key = UnicodeAttribute(
        range_key=True
    )  # <journey>#<cohort_id>#<step>: one send per step
    journey = UnicodeAttribute()
    cohort_id = UnicodeAttribute()
    step = UnicodeAttribute()
    channel = UnicodeAttribute()
    template = UnicodeAttribute()
    locale = UnicodeAttribute()
    purpose = UnicodeAttribute(default="marketing")  # only marketing counts toward the cap
    sent_at = UTCDateTimeAttribute()
    provider_message_id = UnicodeAttribute(null=True)
    coupon_code = UnicodeAttribute(null=True)


class Coupon(Model):
    """A unique coupon issued to one member by one journey step, or paid out by a points
    redemption (``journey`` = ``redemption``)."""

    class Meta:
        table_name = UNBOUND

    code = UnicodeAttribute(hash_key=True)
    member_id = UnicodeAttribute()
    journey = UnicodeAttribute()
    cohort_id = UnicodeAttribute()
    step = UnicodeAttribute()
    percent_off = DecimalAttribute()
    issued_at = UTCDateTimeAttribute()
    expires_at = UTCDateTimeAttribute()
    redeemed_order_id = UnicodeAttribute(null=True)
    # issued | redeemed | expired; absent on coupons written before it was recorded
    # (memberflow.journeys.incentives.coupon_status derives it from the dates then).
    status = UnicodeAttribute(null=True)
    amount_off = DecimalAttribute(null=True)  # a fixed-amount code (a redemption's value)
    # The code in the member's shop (absent: rendered in messages only, as before).
    shop = UnicodeAttribute(null=True)  # the source's name: shop domain or site URL
    shop_discount_id = UnicodeAttribute(null=True)
