"""A projection reads an item exactly as its PynamoDB model does, for the projected
attributes: the same decoding, the same defaults for an absent or NULL value."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from memberflow.store import Enrolment, Member, Message, Order
from memberflow.store.models import ReportSnapshot, StageChange
from memberflow.store.projections import Projection

AT = datetime(2026, 3, 1, 9, 30, 15, 123456, tzinfo=UTC)


def _items() -> list[tuple[type, dict]]:
    member = Member(
        "m-1",
        stage="at_risk",
        stage_changed_at=AT,
        stage_reason="r",
        tier="gold",
        created_at=AT,
        stage_history=[
            StageChange(AT, None, "new", "signup"),
            StageChange(AT, "new", "at_risk", "quiet"),
        ],
        joined_at=AT,
        points_balance=1234,
        erased=True,
        lifetime_spend=Decimal("10.10"),
    ).serialize()
    legacy = dict(member)  # a stage history written as a list of maps
    legacy["stage_history"] = {
        "L": [{"M": {"at": {"S": "2026-01-01T00:00:00.000000+0000"}, "to_stage": {"S": "new"}}}]
    }
    order = Order(
        "o-1", member_id="m-1", placed_at="x", platform="p", order_id="1", status="paid"
    ).serialize()
    order["total"] = {"N": "129.990"}
    order["paid_at"] = {"NULL": True}  # NULL reads as absent
    message = Message(
        "m-1",
        "k",
        journey="j",
        cohort_id="c",
        step="s",
        channel="email",
        template="t",
        locale="en",
        sent_at=AT,
    ).serialize()
    del message["purpose"]  # absent: the attribute's default
    enrolment = {"member_id": {"S": "m-1"}, "entered_at": {"S": "2026-03-01T09:30:15.123456+0000"}}
    return [(Member, member), (Member, legacy), (Member, {}), (Order, order),
            (Message, message), (Enrolment, enrolment), (Enrolment, {})]  # fmt: skip


FIELDS = {
    Member: ["member_id", "erased", "stage", "stage_history", "joined_at", "activated_at",
             "points_balance", "order_times", "lifetime_spend", "interaction_ids"],
    Order: ["member_id", "status", "paid_at", "total", "refunded", "coupon_codes"],
    Message: ["member_id", "channel", "purpose", "sent_at"],
    Enrolment: ["member_id", "arm", "variant", "entered_at", "messages_sent", "steps_reached"],
}  # fmt: skip


@pytest.mark.parametrize(("model", "item"), _items())
def test_a_record_holds_what_the_model_reads(model, item):
    fields = FIELDS[model]
    record = Projection(model, fields).load(item)
    read = model.from_raw_data(item)
    assert record._fields == tuple(fields)
    assert list(record) == [getattr(read, name) for name in fields]


def test_the_projected_attributes_are_the_models_own():
    with pytest.raises(ValueError, match="no attribute nickname"):
        Projection(Member, ["member_id", "nickname"])
    # map, TTL: their descriptors rewrite values, so they are read through the model
    with pytest.raises(TypeError, match="consent"):
        Projection(Member, ["member_id", "consent"])
    with pytest.raises(TypeError, match="expires_at"):
        Projection(ReportSnapshot, ["report", "expires_at"])
