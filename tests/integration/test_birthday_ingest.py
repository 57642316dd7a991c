"""A birthday arrives through the platforms' ingest and the go-live import, is stored in
its one form and files the member for the sweep on its day."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from memberflow.store import Member
from memberflow.store.unit_of_work import get_member
from tests.integration.test_import import customer, jsonl, member_of, post
from tests.integration.test_webhooks_support import Platforms, doc

# The stack's clock: 08:00 UTC on 5 January 2026; the birthday journey's day starts at
# midnight in the member's zone (the programme's, Asia/Shanghai, without one of its own).
TOMORROW_THERE = datetime(2026, 1, 5, 16, 0, tzinfo=UTC)


def _upsert(stack, send, msg_id: str, **data):
    body = doc("memberflow", "member.upserted.json")
    now = stack.clock.now().isoformat()
    body["timestamp"] = body["data"]["updated_at"] = body["data"]["created_at"] = now
    body["data"].update(timezone=None, **data)
    return send.events(body, msg_id)


def test_a_birthday_from_the_shop_is_stored_and_moves_the_members_review_date(stack):
    send = Platforms(stack)
    created = _upsert(stack, send, "m-1", birthday="1990-01-06")
    assert created.status == 200, created.body
    (member_id,) = created.json()["member_ids"]
    member = get_member(member_id)
    assert member.birthday == "1990-01-06"
    assert member.review_at == TOMORROW_THERE  # before its activation review (7 days)
    stack.clock.advance(timedelta(minutes=1))
    moved = _upsert(stack, send, "m-2", birthday="--03-01")
    assert moved.status == 200, moved.body
    member = get_member(member_id)
    assert member.birthday == "--03-01" and member.review_at > TOMORROW_THERE
    stack.clock.advance(timedelta(minutes=1))
    assert _upsert(stack, send, "m-3").status == 200  # none sent: the stored one stays
    assert get_member(member_id).birthday == "--03-01"
    refused = _upsert(stack, send, "m-4", birthday="1990-02-30")
    assert refused.status == 400
    assert refused.json()["error"]["field"] == "body.data.birthday"
    assert get_member(member_id).birthday == "--03-01"  # nothing written


def test_an_imported_birthday_is_stored_and_a_bad_one_names_its_line_and_field(stack):
    now = stack.clock.now()
    good = customer(1, now - timedelta(days=400), birthday="1990-01-06")
    past = customer(2, now - timedelta(days=400), birthday="--01-03")  # two days before
    bad = customer(3, now - timedelta(days=400), birthday="1990-02-29")
    refused = post(stack, jsonl(good, past, bad))
    assert refused.status == 400
    assert refused.json()["errors"] == [
        {"line": 3, "field": "birthday", "reason": "is not a day of the calendar"}
    ]
    assert Member.count() == 0
    shape = post(stack, jsonl({**bad, "birthday": "06/01/1990"})).json()
    assert shape["errors"][0]["field"] == "birthday"
    assert "06/01/1990" not in json.dumps(shape)

    assert post(stack, jsonl(good, past)).status == 200
    imported = get_member(member_of(1))
    assert imported.birthday == "1990-01-06" and imported.review_at == TOMORROW_THERE
    # a birthday just before go-live is history: no late greeting from the next sweep
    earlier = get_member(member_of(2))
    assert earlier.birthday == "--01-03" and "birthday#2026-01-02" in earlier.handoffs
    stack.advance(days=1)
    stack.clock.wait_idle()
    from memberflow.store import Cohort

    assert Cohort.get("birthday-2026-01-06", consistent_read=True).member_ids == [member_of(1)]
