"""The loyalty service's plans are the rules on plain member state: a plan runs in
memory, with no store and no AWS call (the unit of work in memberflow.store reads and
commits around it)."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest
from pynamodb.connection.base import Connection

from memberflow.loyalty import service
from memberflow.members.service import new_member
from memberflow.webhooks.events import OrderPaid, OrderRefunded

T0 = datetime(2026, 3, 15, 2, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def no_aws(monkeypatch):
    def refuse(self, operation, *args, **kwargs):
        raise AssertionError(f"a plan called DynamoDB ({operation})")

    monkeypatch.setattr(Connection, "_make_api_call", refuse)


def _member(programme):
    member = new_member(programme=programme, now=T0, stage="new", reason="signup", member_id="m1")
    member.joined_at = T0
    return member


def _paid(total: str) -> OrderPaid:
    return OrderPaid(
        platform="shopify",
        shop="shop.example",
        order_id="o1",
        customer_id=None,
        email=None,
        total=Decimal(total),
        currency="CNY",
        paid_at=T0,
        updated_at=T0,
        coupon_codes=(),
        customer=None,
    )


def test_a_paid_order_earns_in_memory_and_its_redelivery_changes_nothing(programme):
    member = _member(programme)
    plan = service.plan_order_paid(_paid("100.99"), programme, T0)
    change = plan(member, None)
    assert change.member is member
    assert change.order.status == "paid"
    assert [(e.kind, int(e.points)) for e in change.entries] == [("earn", 100)]
    assert int(member.points_balance) == 100
    again = plan(member, change.order)
    assert again.member is None and not again.entries


def test_a_refund_before_payment_is_parked_on_the_order_in_memory(programme):
    member = _member(programme)
    refund = OrderRefunded(
        platform="shopify",
        shop="shop.example",
        order_id="o1",
        refund_id="r1",
        customer_id=None,
        email=None,
        amount=Decimal("10"),
        refunded_at=T0,
    )
    change = service.plan_refund(refund, programme, T0)(member, None)
    assert change.member is None and not change.entries
    assert [r.refund_id for r in change.order.early_refunds] == ["r1"]
