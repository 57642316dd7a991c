"""Helpers for the loyalty engine's integration tests (no tests here)."""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal

from memberflow.loyalty import service
from memberflow.members.service import new_member
from memberflow.store import Member
from memberflow.webhooks.events import (
    Interaction,
    OrderCancelled,
    OrderPaid,
    OrderPending,
    OrderRefunded,
)

SHOP = "loyalty-test.myshopify.com"


def make_member(member_id: str, *, programme, joined_at: datetime, now: datetime | None = None):
    """A signed-up member (stage new), filed in the review index like a real sign-up."""
    member = new_member(
        programme=programme, now=joined_at, stage="new", reason="signup", member_id=member_id
    )
    member.joined_at = joined_at
    member.save()
    service.refresh_review(member_id, programme=programme, now=now or joined_at)
    return Member.get(member_id, consistent_read=True)


def paid(
    order_id: str, total, paid_at: datetime, *, updated_at: datetime | None = None
) -> OrderPaid:
    return OrderPaid(
        platform="shopify",
        shop=SHOP,
        order_id=order_id,
        customer_id=None,
        email=None,
        total=Decimal(str(total)),
        currency="CNY",
        paid_at=paid_at,
        updated_at=updated_at or paid_at,
        coupon_codes=(),
        customer=None,
    )


def pending(order_id: str, total, at: datetime) -> OrderPending:
    return OrderPending(
        platform="shopify",
        shop=SHOP,
        order_id=order_id,
        customer_id=None,
        email=None,
        total=Decimal(str(total)),
        currency="CNY",
        updated_at=at,
        coupon_codes=(),
        customer=None,
        created_at=at,
    )


def refunded(order_id: str, refund_id: str, amount, at: datetime) -> OrderRefunded:
    return OrderRefunded(
        platform="shopify",
        shop=SHOP,
        order_id=order_id,
        refund_id=refund_id,
        customer_id=None,
        email=None,
        amount=Decimal(str(amount)),
        refunded_at=at,
    )


def cancelled(order_id: str, at: datetime) -> OrderCancelled:
    return OrderCancelled(
        platform="shopify",
        shop=SHOP,
        order_id=order_id,
        customer_id=None,
        email=None,
        cancelled_at=at,
        updated_at=at,
    )


def interaction(member_id: str, interaction_id: str, at: datetime) -> Interaction:
    return Interaction(
        platform="memberflow",
        shop="",
        customer_id=None,
        member_id=member_id,
        kind="app_open",
        at=at,
        interaction_id=interaction_id,
    )


def apply(member_id: str, event, *, programme, now: datetime):
    """Apply one event through the service, as the webhook path does (the service reads
    the member itself; the object passed in is refreshed with the committed state)."""
    member = Member(member_id=member_id)
    handler = {
        OrderPaid: service.apply_order_paid,
        OrderPending: service.apply_order_pending,
        OrderRefunded: service.apply_refund,
        OrderCancelled: service.apply_order_cancelled,
        Interaction: service.apply_interaction,
    }[type(event)]
    return handler(member, event, programme=programme, now=now)


def plan_for(event, *, programme, now):
    """The service's plan for one event (to replay it in memory)."""
    return {
        OrderPaid: service.plan_order_paid,
        OrderPending: service.plan_order_pending,
        OrderRefunded: service.plan_refund,
        OrderCancelled: service.plan_order_cancelled,
        Interaction: service.plan_interaction,
    }[type(event)](event, programme, now)


def replay_in_memory(member: Member, events_with_now, *, programme) -> tuple[Member, list]:
    """Apply events one at a time to an in-memory member (no store): the sequential
    reference a concurrent run must equal. Returns the member and its ledger entries."""
    orders: dict = {}
    ledger = []
    for event, now in events_with_now:
        key = service.order_key(event.platform, event.shop, getattr(event, "order_id", ""))
        change = plan_for(event, programme=programme, now=now)(member, orders.get(key))
        if change.order is not None:
            orders[key] = change.order
        ledger += change.entries
    return member, ledger


STATE_FIELDS = (
    "stage",
    "stage_reason",
    "activated_at",
    "active_since",
    "won_back",
    "order_count",
    "last_order_at",
    "lifetime_spend",
    "tier",
    "points_balance",
    "points_debt",
    "review_key",
    "review_at",
    "tier_reviewed_at",
    "pending_handoff",
    "handoffs",
    "interactions_in_first_window",
)


def state(member_id: str | Member) -> dict:
    """The member state that must not depend on delivery order or retries."""
    if isinstance(member_id, Member):
        member = member_id
    else:
        member = Member.get(member_id, consistent_read=True)
    out = {name: getattr(member, name) for name in STATE_FIELDS}
    out["order_times"] = sorted(member.order_times or [])
    out["lots"] = [(lot.lot_id, int(lot.remaining)) for lot in member.points_lots or []]
    out["history"] = [(h.from_stage, h.to_stage, h.reason) for h in member.stage_history or []]
    out["window"] = sorted((w.order_key, w.at, w.amount) for w in member.tier_window or [])
    out["points_balance"] = int(out["points_balance"])
    return out


def days(n: float) -> timedelta:
    return timedelta(days=n)
