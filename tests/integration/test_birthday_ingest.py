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
    body["data"].update({"timezone": None, **data})
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

    today = customer(4, now - timedelta(days=400), birthday="--01-05")  # 16:00 there
    assert post(stack, jsonl(good, past, today)).status == 200
    # a birthday still happening at go-live is not history: the next run greets it
    assert not any(h.startswith("birthday#") for h in get_member(member_of(4)).handoffs)
    imported = get_member(member_of(1))
    assert imported.birthday == "1990-01-06" and imported.review_at == TOMORROW_THERE
    # a birthday just before go-live is history: no late greeting from the next sweep
    earlier = get_member(member_of(2))
    assert earlier.birthday == "--01-03" and "birthday#2026-01-02" in earlier.handoffs
    stack.advance(days=1)
    stack.clock.wait_idle()
    from memberflow.store import Cohort

    assert Cohort.get("birthday-2026-01-06", consistent_read=True).member_ids == [member_of(1)]
    assert Cohort.get("birthday-2026-01-05-pm", consistent_read=True).member_ids == [member_of(4)]


def test_a_birthday_is_judged_by_the_servers_clock_cleared_by_null_and_not_greeted_late(stack):
    send = Platforms(stack)
    # the payload's own times do not decide what is in the future
    future = _upsert(stack, send, "f-1", birthday="2028-05-01")
    body = doc("memberflow", "member.upserted.json")
    body["timestamp"] = stack.clock.now().isoformat()
    body["data"].update(updated_at="2030-01-01T00:00:00Z", birthday="2028-05-01", timezone=None)
    refused = send.events(body, "f-2")
    assert (future.status, refused.status) == (400, 400)
    assert refused.json()["error"]["field"] == "body.data.birthday"
    body["data"].update(updated_at="2020-01-01T00:00:00Z", birthday="2025-06-01")
    older = send.events(body, "f-3")
    assert older.status == 200, older.body  # born before today, whatever updated_at says
    ahead = _upsert(stack, send, "f-4", birthday="2026-01-06")  # already the 6th east of here
    assert ahead.status == 200, ahead.body

    # London, 08:00 on 5 January: the 4th is over, the 5th is today
    over = _upsert(
        stack,
        send,
        "l-1",
        customer_id="late",
        email="late@example.com",
        birthday="--01-04",
        timezone="Europe/London",
    )
    today = _upsert(
        stack,
        send,
        "l-2",
        customer_id="today",
        email="today@example.com",
        birthday="--01-05",
        timezone="Europe/London",
    )
    (late_id,), (today_id,) = over.json()["member_ids"], today.json()["member_ids"]
    assert "birthday#2026-01-04" in get_member(late_id).handoffs
    assert not get_member(today_id).handoffs
    stack.advance(days=1)
    stack.clock.wait_idle()
    from memberflow.store import Cohort

    assert Cohort.get("birthday-2026-01-05-pm", consistent_read=True).member_ids == [today_id]
    assert all(late_id not in c.member_ids for c in Cohort.scan() if c.journey == "birthday")

    # an explicit null removes it; absent keeps it
    assert _upsert(stack, send, "c-1", customer_id="today").status == 200
    assert get_member(today_id).birthday == "--01-05"
    assert _upsert(stack, send, "c-2", customer_id="today", birthday=None).status == 200
    assert get_member(today_id).birthday is None


def _shopify_customer(stack, metafields: list[dict]) -> dict:
    body = doc("shopify", "customers_update.json")
    body["updated_at"] = stack.clock.now().isoformat()
    body["metafields"] = metafields
    return body


def test_shopify_facts_without_a_birth_date_clear_it_and_a_future_one_is_refused(stack):
    send = Platforms(stack)
    born = {"namespace": "facts", "key": "birth_date", "type": "date", "value": "1990-03-01"}
    other = {
        "namespace": "facts",
        "key": "favourite",
        "type": "single_line_text_field",
        "value": "x",
    }
    created = send.shopify("customers/update", _shopify_customer(stack, [born]), "s-1")
    assert created.status == 200, created.body
    (member_id,) = created.json()["member_ids"]
    assert get_member(member_id).birthday == "1990-03-01"
    stack.clock.advance(timedelta(minutes=1))
    assert send.shopify("customers/update", _shopify_customer(stack, []), "s-2").status == 200
    assert get_member(member_id).birthday == "1990-03-01"  # no facts: nothing said
    stack.clock.advance(timedelta(minutes=1))
    body = _shopify_customer(stack, [{**born, "value": "2028-01-01"}])
    body["updated_at"] = "2030-01-01T00:00:00Z"  # the payload's own time decides nothing
    assert send.shopify("customers/update", body, "s-3").status == 400
    assert get_member(member_id).birthday == "1990-03-01"
    stack.clock.advance(timedelta(minutes=1))
    cleared = send.shopify("customers/update", _shopify_customer(stack, [other]), "s-4")
    assert cleared.status == 200, cleared.body
    assert get_member(member_id).birthday is None
