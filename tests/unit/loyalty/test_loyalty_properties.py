"""Property tests (hypothesis) for the rules where random inputs find the edge cases."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from memberflow.config.programme import default_document, validate_document
from memberflow.loyalty import points, review, rfm, stages, tiers
from memberflow.loyalty._time import add_months
from memberflow.loyalty.points import InsufficientPoints, Lot

PROGRAMME = validate_document(default_document())
T0 = datetime(2026, 1, 1, tzinfo=UTC)
SETTINGS = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])

moments = st.datetimes(
    min_value=datetime(2020, 1, 1), max_value=datetime(2035, 12, 31), timezones=st.just(UTC)
)


@st.composite
def lot_lists(draw):
    n = draw(st.integers(0, 12))
    lots = []
    for i in range(n):
        earned = T0 + timedelta(days=draw(st.integers(0, 800)), seconds=draw(st.integers(0, 86399)))
        lots.append(
            Lot(f"lot-{i}", earned, points.expires_at(earned, PROGRAMME), draw(st.integers(0, 500)))
        )
    return lots


@SETTINGS
@given(lots=lot_lists(), data=st.data())
def test_fifo_never_over_consumes_and_conserves(lots, data):
    total = sum(lot.remaining for lot in lots)
    amount = data.draw(st.integers(0, total + 20))
    if amount > total:
        with pytest.raises(InsufficientPoints):
            points.consume_fifo(lots, amount)
        return
    takes, remaining = points.consume_fifo(lots, amount)
    original = {lot.lot_id: lot for lot in lots}
    assert sum(take for _, take in takes) == amount
    assert all(0 < take <= original[lot_id].remaining for lot_id, take in takes)
    assert len({lot_id for lot_id, _ in takes}) == len(takes)
    assert sum(lot.remaining for lot in remaining) + amount == total
    left = {lot.lot_id: lot.remaining for lot in remaining}
    for lot_id, take in takes:
        assert left.get(lot_id, 0) == original[lot_id].remaining - take
    # FIFO: every lot expiring strictly before a lot that was touched is fully spent
    touched = [original[lot_id] for lot_id, _ in takes]
    if touched:
        latest = max(lot.expires_at for lot in touched)
        for lot in lots:
            if lot.expires_at < latest:
                assert left.get(lot.lot_id, 0) == 0
    assert all(lot.remaining > 0 for lot in remaining)


@SETTINGS
@given(lots=lot_lists(), now=moments)
def test_expire_due_and_balance_partition_the_points(lots, now):
    expired = sum(amount for _, amount in points.expire_due(lots, now))
    assert expired + points.balance(lots, now) == points.balance(lots)


@SETTINGS
@given(
    total=st.decimals(min_value=0, max_value=100000, places=2),
    earned=st.integers(0, 10**6),
    cuts=st.lists(st.integers(1, 100), min_size=1, max_size=6),
)
def test_refund_reversals_are_capped_and_add_up(total, earned, cuts):
    weights = sum(cuts)
    parts = [(total * c / weights).quantize(Decimal("0.01")) for c in cuts[:-1]]
    parts.append(total - sum(parts, Decimal(0)))
    assume(all(p >= 0 for p in parts))
    refunded, reversed_ = Decimal(0), 0
    for part in parts:
        r = points.points_reversed_for_refund(
            part, total, earned, previously_refunded=refunded, previously_reversed=reversed_
        )
        assert 0 <= r <= earned - reversed_
        refunded += part
        reversed_ += r
    assert reversed_ == earned


@SETTINGS
@given(
    a=st.decimals(min_value=0, max_value=10**6, places=2),
    b=st.decimals(min_value=0, max_value=10**6, places=2),
    tier=st.sampled_from(["base", "silver", "gold", "platinum", "diamond"]),
)
def test_points_monotone_in_spend(a, b, tier):
    lo, hi = sorted((a, b))
    assert (
        0
        <= points.points_for_order(lo, tier, PROGRAMME)
        <= points.points_for_order(hi, tier, PROGRAMME)
    )
    assert points.points_for_order(hi, tier, PROGRAMME) <= hi * 3


@SETTINGS
@given(a=st.integers(0, 10**6), b=st.integers(0, 10**6))
def test_tier_for_monotone_and_on_purchase_never_downgrades(a, b):
    lo, hi = sorted((a, b))
    assert tiers.rank(tiers.tier_for(lo, PROGRAMME), PROGRAMME) <= tiers.rank(
        tiers.tier_for(hi, PROGRAMME), PROGRAMME
    )
    current = tiers.tier_for(hi, PROGRAMME)
    assert tiers.on_purchase(current, lo, PROGRAMME) == current


@SETTINGS
@given(
    values=st.dictionaries(
        st.text(min_size=1, max_size=4), st.integers(-50, 50) | st.floats(-1e6, 1e6), max_size=60
    ),
    bins=st.integers(2, 10),
    higher=st.booleans(),
)
def test_quantile_scores(values, bins, higher):
    scores = rfm.score_quintiles(values, bins, higher)
    assert set(scores) == set(values)
    assert all(1 <= s <= bins for s in scores.values())
    for a in values:
        for b in values:
            if values[a] == values[b]:
                assert scores[a] == scores[b]
            elif (values[a] < values[b]) == higher:
                assert scores[a] <= scores[b]
    reordered = dict(sorted(values.items(), key=lambda kv: kv[0], reverse=True))
    assert rfm.score_quintiles(reordered, bins, higher) == scores


@SETTINGS
@given(member_id=st.text(min_size=1, max_size=40), when=moments, shards=st.integers(1, 100))
def test_review_key_shard_stable(member_id, when, shards):
    key = review.review_key(when, member_id, shards)
    assert key == review.review_key(when, member_id, shards)
    prefix, day, shard = key.split("#")
    assert prefix == "REVIEW" and 0 <= int(shard) < shards
    assert key in review.due_keys(date.fromisoformat(day), shards)
    start = datetime.fromisoformat(day).replace(tzinfo=UTC)
    assert when <= start < when + timedelta(days=1)


@SETTINGS
@given(moment=moments, months=st.integers(-36, 36))
def test_add_months_clamps_and_keeps_time(moment, months):
    tz = PROGRAMME.timezone
    result = add_months(moment, months, tz).astimezone(tz)
    local = moment.astimezone(tz)
    assert (result.year * 12 + result.month) - (local.year * 12 + local.month) == months
    assert result.day == local.day or (
        result.day < local.day and (result + timedelta(days=1)).day == 1
    )
    assert result.time() == local.time()


@st.composite
def engaged_members(draw):
    stage = draw(st.sampled_from(["active", "loyal", "at_risk"]))
    offsets = sorted(draw(st.lists(st.integers(0, 400 * 24), min_size=1, max_size=20)))
    orders = tuple(T0 + timedelta(hours=h) for h in offsets)
    active_since = orders[0] - timedelta(days=draw(st.integers(0, 400)))
    return stages.MemberFacts(stage, active_since, active_since, active_since, orders, 0)


@SETTINGS
@given(facts=engaged_members())
def test_next_stage_review_is_exactly_when_the_stage_changes(facts):
    now = facts.order_times[-1]
    first = stages.evaluate_stage(facts, PROGRAMME, now)
    assume(not first.changed)
    moment = stages.next_stage_review(facts, PROGRAMME, now)
    assert moment is not None and moment > now
    assert not stages.evaluate_stage(facts, PROGRAMME, moment - timedelta(seconds=1)).changed
    assert stages.evaluate_stage(facts, PROGRAMME, moment).changed
