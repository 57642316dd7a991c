"""Points with the default programme: earning, refunds, lots, expiry, redemption."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from memberflow.loyalty import points
from memberflow.loyalty.points import BonusWindow, InsufficientPoints, Lot

T0 = datetime(2026, 3, 15, 2, 0, tzinfo=UTC)


# --- earning ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("total", "tier", "bonus", "expected"),
    [
        (Decimal("100.99"), "base", 1, 100),
        (Decimal("100.99"), "silver", 1, 121),  # 121.188
        (Decimal("99.99"), "silver", 1, 119),  # 119.988: always down
        (Decimal("100"), "gold", 1, 150),
        (Decimal("100"), "gold", Decimal("2"), 300),  # double-points window
        (Decimal("100.99"), "diamond", 1, 302),  # 302.97
        (Decimal("0.99"), "base", 1, 0),
        (Decimal("0"), "platinum", 2, 0),
        (Decimal("3333.33"), "platinum", Decimal("1.5"), 9999),  # 9999.99
    ],
)
def test_points_for_order(programme, total, tier, bonus, expected):
    assert points.points_for_order(total, tier, programme, bonus) == expected


def test_earn_rate_is_config(variant):
    prog = variant(points={"earn_per_currency_unit": 0.5})
    assert points.points_for_order(Decimal("101"), "base", prog) == 50
    assert points.points_for_order(Decimal("101"), "gold", prog) == 75  # 75.75


def test_earn_per_visit_ignored_for_spend_programmes(variant):
    prog = variant(points={"earn_per_visit": 7})
    assert points.points_for_order(Decimal("20"), "base", prog) == 20


def test_invalid_earning_inputs(programme):
    with pytest.raises(ValueError):
        points.points_for_order(Decimal("-1"), "base", programme)
    with pytest.raises(ValueError):
        points.points_for_order(Decimal("1"), "base", programme, Decimal("0"))


def test_bonus_points(programme):
    assert points.bonus_points("join", programme) == 100
    assert points.bonus_points("phone_bound", programme) == 200
    assert points.bonus_points("profile_completed", programme) == 200
    with pytest.raises(KeyError):
        points.bonus_points("birthday", programme)


def test_bonus_window_from_recall_incentive(programme):
    step = programme.journey("dormancy_recall")["steps"][1]
    window = BonusWindow.from_incentive(step["incentive"], T0)
    assert window.ends_at == T0 + timedelta(days=14) and window.multiplier == Decimal("2.0")
    assert points.bonus_multiplier([window], T0) == Decimal("2.0")
    assert points.bonus_multiplier([window], T0 + timedelta(days=14)) == 1
    assert points.bonus_multiplier([window], T0 - timedelta(seconds=1)) == 1
    assert points.bonus_multiplier([], T0) == 1
    earned = points.points_for_order(
        Decimal("80"), "silver", programme, points.bonus_multiplier([window], T0)
    )
    assert earned == 192
    with pytest.raises(ValueError):
        BonusWindow.from_incentive({"type": "coupon", "percent_off": 10}, T0)


def test_overlapping_bonus_windows_do_not_stack(programme):
    a = BonusWindow(T0, T0 + timedelta(days=14), Decimal(2))
    b = BonusWindow(T0 + timedelta(days=1), T0 + timedelta(days=3), Decimal(3))
    assert points.bonus_multiplier([a, b], T0 + timedelta(days=2)) == 3
    assert points.bonus_multiplier([a, b], T0 + timedelta(days=5)) == 2


# --- refunds ----------------------------------------------------------------------


def test_refund_is_proportional_and_rounded_down():
    assert points.points_reversed_for_refund(Decimal("50"), Decimal("100"), 120) == 60
    assert points.points_reversed_for_refund(Decimal("33.33"), Decimal("100"), 120) == 39
    assert points.points_reversed_for_refund(Decimal("100"), Decimal("100"), 120) == 120


def test_refund_never_reverses_more_than_earned():
    assert points.points_reversed_for_refund(Decimal("150"), Decimal("100"), 120) == 120
    assert (
        points.points_reversed_for_refund(
            Decimal("80"),
            Decimal("100"),
            120,
            previously_refunded=Decimal("50"),
            previously_reversed=60,
        )
        == 60
    )


def test_partial_refunds_add_up_to_points_earned():
    reversed_so_far, refunded = 0, Decimal(0)
    parts = []
    for _ in range(3):
        part = points.points_reversed_for_refund(
            Decimal(1),
            Decimal(3),
            10,
            previously_refunded=refunded,
            previously_reversed=reversed_so_far,
        )
        parts.append(part)
        reversed_so_far += part
        refunded += 1
    assert parts == [3, 3, 4] and sum(parts) == 10


def test_refund_of_free_order_reverses_everything():
    assert points.points_reversed_for_refund(Decimal(0), Decimal(0), 10) == 10
    assert points.points_reversed_for_refund(0, 0, 10, previously_reversed=4) == 6


def test_refund_validation():
    with pytest.raises(ValueError):
        points.points_reversed_for_refund(Decimal("-1"), Decimal("10"), 5)
    with pytest.raises(ValueError):
        points.points_reversed_for_refund(Decimal("1"), Decimal("10"), -5)


# --- expiry -----------------------------------------------------------------------


def test_points_expire_12_months_after_earning(programme):
    assert points.expires_at(T0, programme) == datetime(2027, 3, 15, 2, 0, tzinfo=UTC)


def test_expiry_clamps_day_of_month(programme, variant):
    monthly = variant(points={"expiry_months": 1})
    # 12:00 Shanghai on Jan 31
    assert points.expires_at(datetime(2026, 1, 31, 4, tzinfo=UTC), monthly) == datetime(
        2026, 2, 28, 4, tzinfo=UTC
    )
    assert points.expires_at(datetime(2028, 1, 31, 4, tzinfo=UTC), monthly) == datetime(
        2028, 2, 29, 4, tzinfo=UTC
    )
    assert points.expires_at(datetime(2026, 3, 31, 4, tzinfo=UTC), monthly) == datetime(
        2026, 4, 30, 4, tzinfo=UTC
    )
    # leap day + 12 months
    assert points.expires_at(datetime(2028, 2, 29, 4, tzinfo=UTC), programme) == datetime(
        2029, 2, 28, 4, tzinfo=UTC
    )


def test_expiry_uses_the_programme_calendar(variant):
    monthly = variant(points={"expiry_months": 1})
    # 2026-01-30T17:00Z is Jan 31 01:00 in Shanghai: + 1 month = Feb 28 01:00 Shanghai
    earned = datetime(2026, 1, 30, 17, 0, tzinfo=UTC)
    assert points.expires_at(earned, monthly) == datetime(2026, 2, 27, 17, 0, tzinfo=UTC)


def test_expire_due_boundary(programme):
    lot = points.new_lot("order-1", T0, 120, programme)
    later = points.new_lot("order-2", T0 + timedelta(days=40), 30, programme)
    empty = Lot("order-0", T0 - timedelta(days=1), lot.expires_at - timedelta(days=1), 0)
    lots = [later, lot, empty]
    assert points.expire_due(lots, lot.expires_at - timedelta(seconds=1)) == []
    assert points.expire_due(lots, lot.expires_at) == [("order-1", 120)]
    assert points.expire_due(lots, later.expires_at) == [("order-1", 120), ("order-2", 30)]
    assert points.next_expiry(lots) == lot.expires_at
    assert points.next_expiry([empty]) is None


def test_points_expiring_soon_and_balance(programme):
    a = points.new_lot("a", T0, 100, programme)
    b = points.new_lot("b", T0 + timedelta(days=60), 50, programme)
    now = a.expires_at - timedelta(days=10)
    assert points.expiring_between([a, b], now, now + timedelta(days=30)) == 100
    assert points.balance([a, b]) == 150
    assert points.balance([a, b], a.expires_at) == 50


# --- FIFO consumption -------------------------------------------------------------


def lots_for_fifo(programme):
    old = points.new_lot("old", T0, 100, programme)
    mid = points.new_lot("mid", T0 + timedelta(days=10), 50, programme)
    new = points.new_lot("new", T0 + timedelta(days=20), 200, programme)
    return [new, old, mid]  # input order does not matter


def test_consume_oldest_expiring_first(programme):
    takes, remaining = points.consume_fifo(lots_for_fifo(programme), 120)
    assert takes == [("old", 100), ("mid", 20)]
    assert [(lot.lot_id, lot.remaining) for lot in remaining] == [("mid", 30), ("new", 200)]


def test_consume_exactly_everything(programme):
    takes, remaining = points.consume_fifo(lots_for_fifo(programme), 350)
    assert takes == [("old", 100), ("mid", 50), ("new", 200)]
    assert remaining == []


def test_consume_zero(programme):
    lots = lots_for_fifo(programme)
    takes, remaining = points.consume_fifo(lots, 0)
    assert takes == [] and sum(lot.remaining for lot in remaining) == 350


def test_insufficient_points(programme):
    lots = lots_for_fifo(programme)
    with pytest.raises(InsufficientPoints) as info:
        points.consume_fifo(lots, 351)
    assert info.value.needed == 351 and info.value.available == 350
    assert [lot.remaining for lot in lots] == [200, 100, 50]  # untouched
    with pytest.raises(ValueError):
        points.consume_fifo(lots, -1)


def test_consume_skips_expired_lots_when_given_now(programme):
    lots = lots_for_fifo(programme)
    now = lots[1].expires_at  # "old" has just expired
    takes, remaining = points.consume_fifo(lots, 60, now)
    assert takes == [("mid", 50), ("new", 10)]
    assert ("old", 100) in [(lot.lot_id, lot.remaining) for lot in remaining]
    with pytest.raises(InsufficientPoints):
        points.consume_fifo(lots, 300, now)


def test_lot_remaining_cannot_be_negative():
    with pytest.raises(ValueError):
        Lot("x", T0, T0, -1)


# --- redemption -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("pts", "value"),
    [(100, "1.00"), (150, "1.50"), (1, "0.01"), (0, "0.00"), (123456, "1234.56")],
)
def test_redemption_value(programme, pts, value):
    assert points.redemption_value(pts, programme) == Decimal(value)


def test_redemption_rounds_down(variant):
    prog = variant(points={"redemption": {"points_per_currency_unit": 1000}})
    assert points.redemption_value(1999, prog) == Decimal("1.99")
    assert points.points_for_value(Decimal("0.015"), prog) == 15
    assert points.points_for_value(Decimal("0.0151"), prog) == 16  # rounded up


def test_points_for_value(programme):
    assert points.points_for_value(Decimal("1.5"), programme) == 150
    assert points.points_for_value(Decimal("0.015"), programme) == 2
    with pytest.raises(ValueError):
        points.redemption_value(-1, programme)
