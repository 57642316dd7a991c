"""The stage history is stored as one compact string; members written before that hold
it as a list of maps, which still reads, and the next stage move rewrites it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from memberflow.members.service import change_stage
from memberflow.runtime import app_context
from memberflow.store import Member
from memberflow.store.members import update_member
from tests.integration.test_loyalty_support import make_member

JOINED = datetime(2026, 1, 5, 9, 30, tzinfo=UTC)


def _raw(stack, member_id: str) -> dict:
    client = stack.client("dynamodb")
    table = stack.physical["MembersTable"]["Ref"]
    return client.get_item(TableName=table, Key={"member_id": {"S": member_id}})["Item"]


def test_a_new_history_is_one_string_and_reads_back_as_written(stack):
    make_member("m1", programme=app_context().programme, joined_at=JOINED)
    stored = _raw(stack, "m1")["stage_history"]
    assert set(stored) == {"S"}
    (change,) = Member.get("m1").stage_history
    assert (change.at, change.from_stage, change.to_stage, change.reason) == (
        JOINED,
        None,
        "new",
        "signup",
    )


def test_a_history_written_as_maps_reads_and_the_next_move_stores_the_string(stack):
    make_member("m2", programme=app_context().programme, joined_at=JOINED)
    legacy = {
        "L": [
            {
                "M": {
                    "at": {"S": "2026-01-05T09:30:00.000000+0000"},
                    "to_stage": {"S": "new"},
                    "reason": {"S": "signup"},
                }
            },
            {
                "M": {
                    "at": {"S": "2026-02-10T00:00:00.000000+0000"},
                    "from_stage": {"S": "new"},
                    "to_stage": {"S": "active"},
                    "reason": {"S": "first_order"},
                }
            },
        ]
    }
    stack.client("dynamodb").update_item(
        TableName=stack.physical["MembersTable"]["Ref"],
        Key={"member_id": {"S": "m2"}},
        UpdateExpression="SET stage_history = :h, stage = :s",
        ExpressionAttributeValues={":h": legacy, ":s": {"S": "active"}},
    )
    member = Member.get("m2", consistent_read=True)
    assert [(c.at, c.from_stage, c.to_stage, c.reason) for c in member.stage_history] == [
        (JOINED, None, "new", "signup"),
        (datetime(2026, 2, 10, tzinfo=UTC), "new", "active", "first_order"),
    ]
    later = datetime(2026, 4, 20, tzinfo=UTC)

    def move(current: Member) -> list:  # a stage move as the loyalty engine writes it
        change_stage(current, "at_risk", "no_order_60d", later)
        return [Member.stage_history.set(current.stage_history), Member.stage.set("at_risk")]

    assert update_member(member, move)
    assert set(_raw(stack, "m2")["stage_history"]) == {"S"}
    again = Member.get("m2", consistent_read=True).stage_history
    assert [c.to_stage for c in again] == ["new", "active", "at_risk"]
    assert again[-1].at == later and again[-1].at - again[-2].at == timedelta(days=69)
