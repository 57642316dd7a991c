"""The go-live import's plain logic: line validation, batch planning, history replay."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from memberflow.config import load_programme
from memberflow.importing import derive, validate_file
from memberflow.importing.service import plan_batches

NOW = datetime(2026, 1, 5, 8, tzinfo=UTC)
PROGRAMME = load_programme(None)


def line(customer_id: str = "1", **extra) -> str:
    doc = {"platform": "shopify", "shop": "s.myshopify.com", "customer_id": customer_id}
    doc["signed_up_at"] = "2025-01-01T00:00:00Z"
    doc.update(extra)
    return json.dumps(doc)


def errors(text: bytes) -> list[tuple[int, str, str]]:
    return [(e.line, e.field, e.reason) for e in validate_file(text, PROGRAMME, NOW)[1]]


def test_errors_name_the_line_counting_blank_lines_and_the_field_never_the_value():
    order = {
        "order_id": "o",
        "paid_at": "2025-02-01T00:00:00Z",
        "total": "1.234",
        "currency": "CNY",
    }
    text = (
        "\n".join(
            [
                line("1"),
                "",
                line("2", nickname="secret-value"),
                line("3", orders=[order]),
                line("4", email="not-an-address"),
            ]
        ).encode()
        + b"\n\xff\xfe\n"
    )
    found = errors(text)
    assert found[0] == (3, "nickname", "is not a known field")
    assert found[1][:2] == (4, "orders[0].total")
    assert found[2] == (5, "email", "must be a valid email")
    assert found[3] == (6, "line", "is not UTF-8")
    assert "secret-value" not in json.dumps(found) and "not-an-address" not in json.dumps(found)


def test_a_good_file_has_no_errors_and_orders_come_out_in_date_order():
    orders = [
        {"order_id": "b", "paid_at": "2025-03-01T00:00:00+08:00", "total": 20, "currency": "CNY"},
        {"order_id": "a", "paid_at": "2025-02-01T00:00:00Z", "total": "10.5", "currency": "CNY"},
    ]
    customers, found = validate_file(line("1", orders=orders).encode(), PROGRAMME, NOW)
    assert found == []
    assert [o.order_id for o in customers[0].orders] == ["a", "b"]
    assert customers[0].orders[1].paid_at == datetime(2025, 2, 28, 16, tzinfo=UTC)


def test_batches_cover_the_file_exactly_and_keep_line_numbers():
    lines = [line(str(n)) if n % 7 else "" for n in range(1, 60)]
    data = "\n".join(lines).encode()
    batches = plan_batches(data, 10)
    assert batches[0]["start"] == 0 and batches[-1]["end"] == len(data)
    assert all(a["end"] == b["start"] for a, b in zip(batches, batches[1:], strict=False))
    seen = []
    for batch in batches:
        part = data[batch["start"] : batch["end"]]
        customers, found = validate_file(part, PROGRAMME, NOW, first_line=batch["first_line"])
        assert found == [] and len(customers) <= 10
        seen += [(c.line, c.customer_id) for c in customers]
    assert seen == [(n, str(n)) for n in range(1, 60) if n % 7]


def test_replay_applies_the_reviews_between_orders_at_their_own_moments():
    day = timedelta(days=1)
    orders = [
        {
            "order_id": "1",
            "paid_at": (NOW - 500 * day).isoformat(),
            "total": "12000",
            "currency": "CNY",
        },
        # 300 days without an order: lapsed on the way, won back by this one
        {
            "order_id": "2",
            "paid_at": (NOW - 200 * day).isoformat(),
            "total": "10",
            "currency": "CNY",
        },
    ]
    customers, _ = validate_file(
        line("9", signed_up_at=(NOW - 510 * day).isoformat(), orders=orders).encode(),
        PROGRAMME,
        NOW,
    )
    member = derive(customers[0], PROGRAMME, NOW).member
    path = [(c.from_stage, c.to_stage) for c in member.stage_history]
    assert path[:4] == [
        (None, "new"),
        ("new", "active"),
        ("active", "at_risk"),
        ("at_risk", "lapsed"),
    ]
    assert path[4] == ("lapsed", "active") and member.won_back
    # ...and 200 days since: lapsed again; the 12,000 left the rolling window, so a monthly
    # review took gold back to base.
    assert member.stage == "lapsed" and member.tier == "base"
    assert member.pending_handoff is None  # history starts no journey


def test_a_batch_is_also_cut_by_size_so_long_histories_stay_small():
    orders = [
        {"order_id": str(i), "paid_at": "2025-02-01T00:00:00Z", "total": 1, "currency": "CNY"}
        for i in range(200)
    ]
    data = "\n".join(line(str(n), orders=orders) for n in range(30)).encode()
    batches = plan_batches(data, batch_customers=250, batch_bytes=40_000)
    assert len(batches) > 1
    assert all(b["end"] - b["start"] < 40_000 + len(data) // 30 for b in batches)
    assert batches[-1]["end"] == len(data)


def test_a_member_who_never_bought_imports_under_any_not_activated_journey():
    """Journeys are configuration: the replay marks every not-activated journey whose
    window passed before go-live, whatever it is called (here two of them)."""
    from memberflow.config.programme import default_document

    doc = default_document()
    doc["journeys"]["first_buy"] = json.loads(json.dumps(doc["journeys"]["activation"]))
    programme = load_programme(json.dumps(doc))
    customers, _ = validate_file(
        line("11", signed_up_at=(NOW - timedelta(days=400)).isoformat()).encode(), programme, NOW
    )
    member = derive(customers[0], programme, NOW).member
    assert member.stage == "new" and member.pending_handoff is None
    marked = {mark.split("#")[0] for mark in member.handoffs}
    assert {"activation", "first_buy"} <= marked
