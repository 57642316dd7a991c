"""The journeys' two member writes (the recall journey's double points, win-back's churn)
go through the member's one write path: version-checked and replayed on a conflict.

Each test commits the journey's write between an order's read of the member and the
order's commit, the interleaving a concurrent order meets: the order must see the
journey's write (and not overwrite it)."""

from __future__ import annotations

from datetime import timedelta
from types import SimpleNamespace

from memberflow.journeys import engine
from memberflow.runtime import app_context
from memberflow.store import Member, unit_of_work
from tests.integration.test_loyalty_support import apply, make_member, paid


def _between_the_orders_read_and_its_commit(monkeypatch, journey_write) -> list:
    """Run ``journey_write`` once, right after the order path has read the member."""
    real_read = unit_of_work._read
    ran = []

    def read(member_id, order):
        current = real_read(member_id, order)
        if order is not None and not ran:
            ran.append(member_id)
            journey_write()
        return current

    monkeypatch.setattr(unit_of_work, "_read", read)
    return ran


def test_double_points_opened_while_an_order_is_applied_still_doubles_that_order(
    stack, monkeypatch
):
    programme = app_context().programme
    now = stack.clock.now()
    for member_id in ("doubled", "plain"):
        make_member(member_id, programme=programme, joined_at=now - timedelta(days=200))
    join_bonus = int(Member.get("plain", consistent_read=True).points_balance)
    apply("plain", paid("o-plain", "120.00", now), programme=programme, now=now)
    single = int(Member.get("plain", consistent_read=True).points_balance) - join_bonus
    assert single > 0

    def open_double_points():
        runner = engine.StepRunner(channels=None, now=now - timedelta(minutes=1))
        runner._incentive(
            SimpleNamespace(journey="dormancy_recall", cohort_id="recall-1"),
            {"id": "double_points"},
            Member.get("doubled", consistent_read=True),
            None,
            {"type": "double_points", "days": 14, "multiplier": 2.0},
        )

    ran = _between_the_orders_read_and_its_commit(monkeypatch, open_double_points)
    apply("doubled", paid("o-doubled", "120.00", now), programme=programme, now=now)
    assert ran == ["doubled"]
    member = Member.get("doubled", consistent_read=True)
    assert member.double_points_until == now - timedelta(minutes=1) + timedelta(days=14)
    # The order was replayed on the member with the window open: double points.
    assert int(member.points_balance) - join_bonus == 2 * single


def test_a_churn_committed_while_an_order_is_applied_stays_in_the_stage_history(stack, monkeypatch):
    programme = app_context().programme
    now = stack.clock.now()
    make_member("lapsing", programme=programme, joined_at=now - timedelta(days=400))
    member = Member.get("lapsing", consistent_read=True)
    member.update(actions=[Member.stage.set("lapsed"), Member.version.add(1)])
    entered = SimpleNamespace(entered_at=now - timedelta(days=44))

    def churn():
        assert engine._churn("lapsing", "churned", "winback_ended", entered, now)

    ran = _between_the_orders_read_and_its_commit(monkeypatch, churn)
    later = now + timedelta(hours=1)
    apply("lapsing", paid("o-back", "80.00", later), programme=programme, now=later)
    assert ran == ["lapsing"]
    member = Member.get("lapsing", consistent_read=True)
    history = [(h.from_stage, h.to_stage, h.reason) for h in member.stage_history]
    # Both changes are there, in commit order: the churn, then the order's comeback.
    assert ("lapsed", "churned", "winback_ended") in history
    assert history[-1][0] == "churned" and member.stage == history[-1][1] != "churned"
    assert member.last_order_at == later


def test_a_churn_after_a_purchase_since_entry_changes_nothing(stack):
    programme = app_context().programme
    now = stack.clock.now()
    make_member("bought", programme=programme, joined_at=now - timedelta(days=400))
    member = Member.get("bought", consistent_read=True)
    member.update(
        actions=[Member.stage.set("lapsed"), Member.last_order_at.set(now - timedelta(days=1))]
    )
    before = Member.get("bought", consistent_read=True)
    entered = SimpleNamespace(entered_at=now - timedelta(days=44))
    assert not engine._churn("bought", "churned", "winback_ended", entered, now)
    after = Member.get("bought", consistent_read=True)
    assert (after.stage, after.version) == ("lapsed", before.version)
