"""Tier ladder with the default programme (spend over 12 months, domain.md §3)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from memberflow.loyalty import tiers

NOW = datetime(2026, 6, 15, 4, 0, tzinfo=UTC)  # 12:00 in Asia/Shanghai


@pytest.mark.parametrize(
    ("value", "tier"),
    [
        (0, "base"),
        (Decimal("4999.99"), "base"),
        (5000, "silver"),
        (Decimal("9999.99"), "silver"),
        (10000, "gold"),
        (Decimal("20000.00"), "platinum"),
        (49999, "platinum"),
        (50000, "diamond"),
        (10**7, "diamond"),
    ],
)
def test_tier_for(programme, value, tier):
    assert tiers.tier_for(value, programme) == tier


def test_upgrade_at_once_and_may_skip_tiers(programme):
    assert tiers.on_purchase("base", Decimal("12000"), programme) == "gold"
    assert tiers.on_purchase("silver", Decimal("5000.01"), programme) == "silver"


def test_no_downgrade_between_reviews(programme):
    tier = "gold"
    for value in (Decimal("9000"), Decimal("100"), Decimal(0)):
        tier = tiers.on_purchase(tier, value, programme)
    assert tier == "gold"


def test_unknown_current_tier_is_treated_as_base(programme):
    assert tiers.on_purchase("bronze", Decimal("10"), programme) == "base"
    assert tiers.on_purchase("bronze", Decimal("6000"), programme) == "silver"
    assert tiers.at_review("bronze", Decimal("10"), NOW, programme, NOW) == ("base", "unknown_tier")


def test_review_downgrades_to_supported_tier(programme):
    recent = NOW - timedelta(days=10)
    assert tiers.at_review("platinum", Decimal("6000"), recent, programme, NOW) == (
        "silver",
        "downgrade",
    )
    assert tiers.at_review("gold", Decimal("0"), recent, programme, NOW) == ("base", "downgrade")
    assert tiers.at_review("gold", Decimal("15000"), recent, programme, NOW) == (
        "gold",
        "unchanged",
    )
    assert tiers.at_review("silver", Decimal("25000"), recent, programme, NOW) == (
        "platinum",
        "upgrade",
    )


def test_reset_after_12_months_without_purchase(programme):
    last = datetime(2025, 6, 15, 4, 0, tzinfo=UTC)
    value = Decimal("60000")  # e.g. a window longer than the reset period
    assert tiers.at_review("diamond", value, last, programme, NOW) == ("base", "no_purchase_12m")
    just_before = NOW - timedelta(seconds=1)
    assert tiers.at_review("diamond", value, last, programme, just_before) == (
        "diamond",
        "unchanged",
    )
    assert tiers.at_review("base", value, last, programme, NOW) == ("base", "unchanged")


def test_reset_period_is_config(variant):
    prog = variant(tiers={"reset_after_months_without_purchase": 3})
    last = datetime(2026, 3, 15, 4, 0, tzinfo=UTC)
    assert tiers.at_review("gold", 20000, last, prog, NOW) == ("base", "no_purchase_3m")


def test_no_purchase_ever_uses_the_ladder(programme):
    assert tiers.at_review("base", 0, None, programme, NOW) == ("base", "unchanged")


def test_multipliers(programme):
    assert tiers.multiplier("base", programme) == Decimal("1.0")
    assert tiers.multiplier("silver", programme) == Decimal("1.2")
    assert tiers.multiplier("gold", programme) == Decimal("1.5")
    assert tiers.multiplier("diamond", programme) == Decimal("3")
    assert tiers.multiplier("nonexistent", programme) == Decimal("1.0")
    assert tiers.discount_percent("gold", programme) == Decimal("5")


def test_next_tier_review_monthly_with_clamping(programme):
    jan31 = datetime(2026, 1, 31, 4, 0, tzinfo=UTC)  # Jan 31 12:00 Shanghai
    assert tiers.next_tier_review(jan31, programme) == datetime(2026, 2, 28, 4, 0, tzinfo=UTC)
    # anchored on the join date: no drift after February
    now = datetime(2026, 3, 1, tzinfo=UTC)
    assert tiers.next_tier_review(jan31, programme, now) == datetime(2026, 3, 31, 4, tzinfo=UTC)
    # catching up on missed reviews
    later = datetime(2026, 7, 1, tzinfo=UTC)
    assert tiers.next_tier_review(jan31, programme, later) == datetime(2026, 7, 31, 4, tzinfo=UTC)
    # a moment exactly on a review date moves on to the next one
    on_review = datetime(2026, 2, 28, 4, 0, tzinfo=UTC)
    assert tiers.next_tier_review(jan31, programme, on_review) == datetime(
        2026, 3, 31, 4, tzinfo=UTC
    )


def test_next_tier_review_every_n_months(variant):
    prog = variant(tiers={"review_every_months": 3})
    start = datetime(2026, 1, 10, 4, 0, tzinfo=UTC)
    assert tiers.next_tier_review(start, prog) == datetime(2026, 4, 10, 4, 0, tzinfo=UTC)


def test_rolling_value_window(programme):
    purchases = [
        (datetime(2025, 6, 15, 4, 0, tzinfo=UTC), Decimal("1000")),  # exactly 12 months: out
        (datetime(2025, 6, 15, 4, 1, tzinfo=UTC), Decimal("0.1")),
        (datetime(2026, 1, 1, tzinfo=UTC), Decimal("0.2")),
        (NOW, Decimal("5000")),
        (NOW + timedelta(seconds=1), Decimal("777")),  # future: out
    ]
    assert tiers.rolling_value(purchases, programme, NOW) == Decimal("5000.3")
    assert tiers.rolling_value([], programme, NOW) == Decimal(0)


def test_window_start_is_in_programme_timezone(programme):
    # 2026-03-31T20:00Z is 2026-04-01 04:00 in Shanghai: minus 12 months = 2025-04-01 04:00
    now = datetime(2026, 3, 31, 20, 0, tzinfo=UTC)
    assert tiers.window_start(programme, now) == datetime(2025, 3, 31, 20, 0, tzinfo=UTC)


def test_refund_reduces_rolling_spend_but_not_tier_until_review(programme):
    purchases = [(NOW - timedelta(days=1), Decimal("6000"))]
    tier = tiers.on_purchase("base", tiers.rolling_value(purchases, programme, NOW), programme)
    assert tier == "silver"
    purchases.append((NOW, Decimal("-6000")))  # refund recorded as a negative amount
    value = tiers.rolling_value(purchases, programme, NOW)
    assert tiers.on_purchase(tier, value, programme) == "silver"
    assert tiers.at_review(tier, value, NOW, programme, NOW) == ("base", "downgrade")


def test_naive_now_is_rejected(programme):
    with pytest.raises(ValueError):
        tiers.at_review("base", 0, None, programme, datetime(2026, 1, 1))


def test_the_periodic_review_on_plain_tier_state(programme):
    """The sweep's tier review as a rule on plain state (no member item): a gold member
    a year without a purchase is reset at the first review after, once."""
    from dataclasses import replace

    from memberflow.loyalty.tier_reviews import TierState, next_tier_review, review_tier

    joined = datetime(2025, 1, 10, 4, tzinfo=UTC)
    bought = datetime(2025, 1, 15, 4, tzinfo=UTC)
    gold = TierState(
        tier="gold",
        anchor=joined,
        window=((bought, Decimal(12000)),),
        order_times=(bought,),
        last_order_at=bought,
    )
    # the purchase leaves the window and a year passes without one on 15 January 2026:
    # the monthly review after that (10 February) lowers the tier
    assert next_tier_review(gold, programme, datetime(2025, 6, 1, tzinfo=UTC)) == datetime(
        2026, 2, 10, 4, tzinfo=UTC
    )
    assert review_tier(gold, programme, datetime(2026, 1, 20, tzinfo=UTC)).reason is None
    review = review_tier(gold, programme, datetime(2026, 2, 20, tzinfo=UTC))
    assert (review.tier, review.reason) == ("base", "no_purchase_12m")
    assert review.reviewed_at == datetime(2026, 2, 10, 4, tzinfo=UTC)
    reviewed = replace(gold, reviewed_at=review.reviewed_at)
    assert review_tier(reviewed, programme, datetime(2026, 2, 20, tzinfo=UTC)) is None


def test_a_review_that_resets_and_lifts_the_tier_again_files_the_next_one_after_it(programme):
    """Reset falls on 28 February 2025 (a year after a 29 February order), yet the window
    (28 Feb 2024, 28 Feb 2025] still holds that order: the review resets the tier and the
    window lifts it back at once. The next review is the one after (28 March), never that
    same review again (the sweep would keep filing the member at it; the import's replay
    would not converge)."""
    from dataclasses import replace

    from memberflow.loyalty.tier_reviews import TierState, next_tier_review, review_tier

    joined = datetime(2024, 1, 28, 12, tzinfo=UTC)  # reviews on the 28th, 20:00 Shanghai
    bought = datetime(2024, 2, 29, 2, tzinfo=UTC)
    silver = TierState(
        tier="silver",
        anchor=joined,
        window=((bought, Decimal(6000)),),
        order_times=(bought,),
        last_order_at=bought,
    )
    at = datetime(2025, 2, 28, 12, tzinfo=UTC)
    review = review_tier(silver, programme, at)
    assert (review.reviewed_at, review.tier) == (at, "silver")
    reviewed = replace(silver, reviewed_at=review.reviewed_at)
    following = next_tier_review(reviewed, programme, at)
    assert following == datetime(2025, 3, 28, 12, tzinfo=UTC)
    # that one resets the tier for good: the order has left the window by then
    last = review_tier(reviewed, programme, following)
    assert (last.tier, last.reason) == ("base", "no_purchase_12m")
