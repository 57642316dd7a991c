"""The weekly RFM job writes each changed score in one UpdateItem, keeps the member
lock's order (version + 1) and never scores an erased member."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta

from botocore.client import BaseClient

from memberflow.journeys.entry import JourneyEntry
from memberflow.loyalty.rfm_job import recompute_rfm
from memberflow.runtime import app_context
from memberflow.store import Member
from tests.integration.test_loyalty_support import apply, make_member, paid


def test_a_changed_score_is_one_update_and_advances_the_version(stack, monkeypatch):
    programme = app_context().programme
    now = stack.clock.now()
    for i in range(4):
        make_member(f"r{i}", programme=programme, joined_at=now - timedelta(days=200))
        at = now - timedelta(days=i)
        apply(f"r{i}", paid(f"r{i}-1", 10 * (i + 1), at), programme=programme, now=at)
    make_member("gone", programme=programme, joined_at=now - timedelta(days=200))
    Member.get("gone").update(actions=[Member.erased.set(True)])
    versions = {m.member_id: m.version for m in Member.scan(consistent_read=True)}

    calls: Counter = Counter()
    original = BaseClient._make_api_call

    def counted(client, operation, params):
        calls[operation] += 1
        return original(client, operation, params)

    monkeypatch.setattr(BaseClient, "_make_api_call", counted)
    result = recompute_rfm(
        programme=programme, now=now, journeys=JourneyEntry(app_context()), segments=1
    )
    writes = {op: n for op, n in calls.items() if op != "Scan"}
    monkeypatch.undo()

    assert result == {"scored": 4, "written": 4}
    assert writes == {"UpdateItem": 4}  # no read before a write
    after = {m.member_id: m for m in Member.scan(consistent_read=True)}
    for i in range(4):
        assert len(after[f"r{i}"].rfm) == 3
        assert after[f"r{i}"].version == (versions[f"r{i}"] or 0) + 1
    assert after["gone"].rfm is None and after["gone"].version == versions["gone"]
    assert (
        recompute_rfm(
            programme=programme, now=now, journeys=JourneyEntry(app_context()), segments=1
        )["written"]
        == 0
    )


def test_an_erasure_between_the_read_and_the_write_is_not_scored(stack, monkeypatch):
    """The job reads the base, then the member is erased: the write's condition refuses."""
    from memberflow.loyalty import rfm_job

    programme = app_context().programme
    now = stack.clock.now()
    make_member("late", programme=programme, joined_at=now - timedelta(days=200))
    read_base = rfm_job.read_base

    def then_erase(*args, **kwargs):
        base = read_base(*args, **kwargs)
        Member.get("late").update(actions=[Member.erased.set(True)])
        return base

    monkeypatch.setattr(rfm_job, "read_base", then_erase)
    assert (
        recompute_rfm(
            programme=programme, now=now, journeys=JourneyEntry(app_context()), segments=1
        )["written"]
        == 0
    )
    assert Member.get("late", consistent_read=True).rfm is None
