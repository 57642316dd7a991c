"""The loyalty engine on the store: earning, refunds, cancels, interactions, redemption."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from memberflow.loyalty import service
from memberflow.runtime import app_context
from memberflow.store import LedgerEntry, Member, Order, unit_of_work
from tests.integration.test_loyalty_support import (
    apply,
    cancelled,
    interaction,
    make_member,
    paid,
    pending,
    refunded,
    state,
)

T0 = datetime(2026, 1, 5, 8, 0, tzinfo=UTC)


@pytest.fixture
def programme(stack):
    return app_context().programme


def test_a_paid_order_earns_once_upgrades_the_tier_and_activates(programme):
    make_member("m1", programme=programme, joined_at=T0)
    order = apply("m1", paid("o1", "6000.50", T0), programme=programme, now=T0)
    assert (order.status, order.points_earned, order.earn_tier) == ("paid", 6000, "base")
    again = apply("m1", paid("o1", "6000.50", T0), programme=programme, now=T0)  # redelivery
    member = Member.get("m1")
    assert again.points_earned == 6000 and member.points_balance == 6000
    assert (member.stage, member.stage_reason, member.tier) == (
        "active",
        "first_purchase",
        "silver",
    )
    assert member.lifetime_spend == Decimal("6000.50") and member.order_count == 1
    # The next order earns with the silver multiplier (1.2), the tier held at payment.
    apply("m1", paid("o2", "100", T0 + timedelta(days=1)), programme=programme, now=T0)
    assert (
        Order.get(service.order_key("shopify", "loyalty-test.myshopify.com", "o2")).points_earned
        == 120
    )
    assert [e["kind"] for e in service.member_ledger("m1")] == ["earn", "earn"]
    # base -> silver entered the default programme's tier_up_welcome: the member is filed
    # under the next day's sweep, which hands it over (then under its stage review, March)
    assert member.review_key and member.review_key.startswith("REVIEW#2026-01-06")


def test_refund_before_paid_ends_where_paid_before_refund_ends(programme):
    for member_id in ("early", "late"):
        make_member(member_id, programme=programme, joined_at=T0)
    events_early = [
        pending("e1", "300", T0),
        refunded("e1", "r1", "100", T0 + timedelta(hours=2)),
        refunded("e1", "r2", "50", T0 + timedelta(hours=3)),
        paid("e1", "300", T0 + timedelta(hours=1)),
    ]
    events_late = [
        paid("l1", "300", T0 + timedelta(hours=1)),
        refunded("l1", "r1", "100", T0 + timedelta(hours=2)),
        refunded("l1", "r2", "50", T0 + timedelta(hours=3)),
    ]
    for event in events_early:
        apply("early", event, programme=programme, now=T0 + timedelta(hours=4))
    for event in events_late:
        apply("late", event, programme=programme, now=T0 + timedelta(hours=4))
    early, late = state("early"), state("late")
    for name in ("review_key", "window"):
        early.pop(name), late.pop(name)
    assert early == late
    assert early["points_balance"] == 150 and early["lifetime_spend"] == Decimal(150)


def test_full_refund_and_cancel_reverse_everything_and_uncount_the_order(programme):
    make_member("m2", programme=programme, joined_at=T0)
    apply("m2", paid("a", "200", T0), programme=programme, now=T0)
    apply("m2", paid("b", "300", T0 + timedelta(days=1)), programme=programme, now=T0)
    apply("m2", refunded("a", "r", "200", T0 + timedelta(days=2)), programme=programme, now=T0)
    apply("m2", cancelled("b", T0 + timedelta(days=3)), programme=programme, now=T0)
    apply("m2", cancelled("b", T0 + timedelta(days=3)), programme=programme, now=T0)
    member = Member.get("m2")
    assert member.points_balance == 0 and member.lifetime_spend == 0
    assert member.order_count == 0 and member.order_times == []
    assert sum(e["points"] for e in service.member_ledger("m2")) == 0
    # A paid event after the cancel earns nothing (cancel is final).
    apply("m2", paid("b", "300", T0 + timedelta(days=1)), programme=programme, now=T0)
    assert Member.get("m2").points_balance == 0


def test_an_older_pending_update_never_overwrites_a_newer_one_nor_a_payment(programme):
    make_member("m3", programme=programme, joined_at=T0)
    apply("m3", pending("p", "100", T0 + timedelta(hours=2)), programme=programme, now=T0)
    apply("m3", pending("p", "999", T0 + timedelta(hours=1)), programme=programme, now=T0)
    key = service.order_key("shopify", "loyalty-test.myshopify.com", "p")
    assert Order.get(key).total == 100
    apply("m3", paid("p", "100", T0 + timedelta(hours=3)), programme=programme, now=T0)
    apply("m3", pending("p", "50", T0 + timedelta(hours=4)), programme=programme, now=T0)
    assert Order.get(key).status == "paid" and Order.get(key).total == 100


def test_double_points_window_multiplies_earning(programme):
    make_member("m4", programme=programme, joined_at=T0)
    member = Member.get("m4")
    member.update(
        actions=[
            Member.double_points_until.set(T0 + timedelta(days=14)),
            Member.double_points_multiplier.set(Decimal(2)),
        ]
    )
    apply("m4", paid("in", "100", T0 + timedelta(days=1)), programme=programme, now=T0)
    apply("m4", paid("out", "100", T0 + timedelta(days=15)), programme=programme, now=T0)
    assert Member.get("m4").points_balance == 300


def test_three_interactions_in_the_first_window_activate_once(programme):
    make_member("m5", programme=programme, joined_at=T0)
    now = T0 + timedelta(days=3)
    assert apply(
        "m5", interaction("m5", "i1", T0 + timedelta(days=1)), programme=programme, now=now
    )
    assert not apply(
        "m5", interaction("m5", "i1", T0 + timedelta(days=1)), programme=programme, now=now
    )
    assert not apply(
        "m5", interaction("m5", "old", T0 + timedelta(days=40)), programme=programme, now=now
    )
    apply("m5", interaction("m5", "i2", T0 + timedelta(days=2)), programme=programme, now=now)
    assert Member.get("m5").stage == "new"
    apply("m5", interaction("m5", "i3", T0 + timedelta(days=3)), programme=programme, now=now)
    member = Member.get("m5")
    assert (member.stage, member.stage_reason) == ("active", "interactions_met")
    assert member.interactions_in_first_window == 3


def test_redemption_spends_oldest_lots_refuses_when_short_and_is_idempotent(programme):
    make_member("m6", programme=programme, joined_at=T0)
    apply("m6", paid("x", "100", T0), programme=programme, now=T0)
    apply("m6", paid("y", "100", T0 + timedelta(days=40)), programme=programme, now=T0)
    result = service.redeem("m6", 150, "ref-1", programme=programme, now=T0 + timedelta(days=41))
    assert result["balance"] == 50 and result["value"] == "1.50" and not result["replayed"]
    again = service.redeem("m6", 150, "ref-1", programme=programme, now=T0 + timedelta(days=41))
    assert again["replayed"] and Member.get("m6").points_balance == 50
    lots = Member.get("m6").points_lots
    assert [(lot.lot_id, lot.remaining) for lot in lots] == [("2027-02-14", 50)]
    with pytest.raises(service.InsufficientPoints) as short:
        service.redeem("m6", 51, "ref-2", programme=programme, now=T0 + timedelta(days=41))
    assert short.value.available == 50
    with pytest.raises(service.RedemptionConflict):
        service.redeem("m6", 10, "ref-1", programme=programme, now=T0 + timedelta(days=41))
    assert not list(LedgerEntry.query("m6", LedgerEntry.entry_key == "redemption#ref-2"))


def test_a_crash_after_the_ledger_transaction_is_finished_by_the_retry_without_a_second_credit(
    programme, monkeypatch
):
    make_member("m7", programme=programme, joined_at=T0)
    calls = []

    def crash(member_id, version):
        calls.append(version)
        if len(calls) == 1:
            raise ConnectionError("lambda died after the commit")

    monkeypatch.setattr(unit_of_work, "_committed", crash)
    with pytest.raises(ConnectionError):
        apply("m7", paid("c", "500", T0), programme=programme, now=T0)
    apply("m7", paid("c", "500", T0), programme=programme, now=T0)  # the platform retries
    apply("m7", refunded("c", "r", "100", T0), programme=programme, now=T0)
    with pytest.raises(ConnectionError):
        calls.clear()
        apply("m7", refunded("c", "r2", "100", T0), programme=programme, now=T0)
    apply("m7", refunded("c", "r2", "100", T0), programme=programme, now=T0)
    member = Member.get("m7")
    assert member.points_balance == 300 and member.lifetime_spend == 300
    assert member.stage == "active" and member.order_count == 1
    assert sorted(e["points"] for e in service.member_ledger("m7")) == [-100, -100, 500]


def test_a_reversal_of_redeemed_points_leaves_a_debt_the_next_credit_pays(programme):
    make_member("m8", programme=programme, joined_at=T0)
    apply("m8", paid("d", "100", T0), programme=programme, now=T0)
    service.redeem("m8", 100, "all", programme=programme, now=T0)
    apply("m8", refunded("d", "r", "100", T0), programme=programme, now=T0)
    member = Member.get("m8")
    assert (member.points_balance, member.points_debt, member.points_lots) == (-100, 100, [])
    apply("m8", paid("e", "150", T0 + timedelta(days=1)), programme=programme, now=T0)
    member = Member.get("m8")
    assert (member.points_balance, member.points_debt) == (50, 0)
    assert sum(lot.remaining for lot in member.points_lots) == 50


def test_a_signup_through_the_webhook_files_the_activation_hand_off(stack):
    from pathlib import Path

    from tests.conftest import signed_shopify

    body = (
        Path(__file__).resolve().parents[2] / "events/payloads/shopify/customers_create.json"
    ).read_bytes()
    response = stack.http(
        "POST",
        "/webhooks/shopify",
        body=body,
        headers=signed_shopify(stack, "customers/create", body, "evt-loyalty-1"),
    )
    assert response.status == 200, response.body
    member = Member.get(response.json()["member_ids"][0])
    stack.clock.wait_idle()
    days_after_join = app_context().programme.journey("activation")["entry"]["days_after_join"]
    assert member.review_at == member.joined_at + timedelta(days=days_after_join)
    assert member.review_key.startswith("REVIEW#")
    assert sum(lot.remaining for lot in member.points_lots) == member.points_balance
