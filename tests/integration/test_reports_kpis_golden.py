"""The KPIs of a fixed, seeded store are exactly those recorded in
``data/kpis_seeded.json``: written by the implementation before the Scans read through
projections (memberflow.store.projections), so a faster read or a rewrite of the
counting has to give the same report, byte for byte.

The store is written item by item (no simulation, no journey engine), so only the
member store's models and ``compute_kpis`` decide the result; it holds the cases the
report distinguishes: erased members, members who never joined, same-moment stage
changes, refunds and unpaid orders, re-entered journeys, A/B variants, windows still
open, an enrolment of an unknown cohort, a journey no longer configured, messages with
no purpose recorded (marketing by default), and every ledger kind.
"""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from botocore.client import BaseClient

from memberflow.config import load_programme
from memberflow.reports.kpis import (
    COHORTS,
    ENROLMENTS,
    LEDGER,
    MEMBERS,
    MESSAGES,
    ORDERS,
    STAGES,
    compute_kpis,
)
from memberflow.store import Cohort, Enrolment, LedgerEntry, Member, Message, Order
from memberflow.store.models import StageChange
from memberflow_local.stack import LocalStack

EXPECTED = Path(__file__).parent / "data" / "kpis_seeded.json"
NOW = datetime(2026, 6, 30, 12, 0, tzinfo=UTC)
LEDGER_KINDS = ("earn", "bonus", "gift", "reversal", "redemption", "expiry")


def _at(rng: random.Random, days_back: float) -> datetime:
    """A moment up to ``days_back`` days before NOW, to the microsecond."""
    return NOW - timedelta(microseconds=rng.randrange(int(days_back * 86_400_000_000)))


def _members(rng: random.Random, ladder: list[str]) -> list[Member]:
    members = []
    for i in range(90):
        created = _at(rng, 420)
        history, at, stage = [], created, None
        for _ in range(rng.randrange(0, 7)):
            # a quarter of the moves share the previous one's moment (kept in order)
            at = at if history and rng.random() < 0.25 else at + timedelta(days=rng.random() * 60)
            new = rng.choice(STAGES)
            history.append(StageChange(at=at, from_stage=stage, to_stage=new, reason="seeded"))
            stage = new
        rng.shuffle(history)  # written in any order: the report sorts by time
        joined = None if rng.random() < 0.2 else created + timedelta(hours=rng.random() * 48)
        activated = None
        if joined is not None and rng.random() < 0.5:
            activated = joined + timedelta(days=rng.random() * 50)
        member = Member(
            f"m-{i:03d}",
            stage=stage or "prospect",
            stage_changed_at=at,
            stage_reason="seeded",
            tier=rng.choice([*ladder, "retired_tier"]),
            created_at=created,
            stage_history=history,
            joined_at=joined,
            activated_at=activated,
            points_balance=rng.randrange(0, 5000),
            erased=rng.random() < 0.06,
        )
        if rng.random() < 0.1:
            member.points_balance = None  # never credited
        members.append(member)
    return members


def _orders(rng: random.Random, member_ids: list[str]) -> list[Order]:
    orders = []
    for i in range(260):
        status = rng.choice(["paid", "paid", "paid", "refunded", "cancelled", "pending"])
        paid_at = _at(rng, 240) if status == "paid" and rng.random() < 0.95 else None
        total = Decimal(rng.randrange(100, 90_000)) / 100
        refunded = Decimal(rng.randrange(0, int(total * 50))) / 100 if rng.random() < 0.1 else 0
        orders.append(
            Order(
                f"shopify#shop#{i}",
                member_id=rng.choice(member_ids),
                placed_at=(paid_at or NOW).isoformat(),
                platform="shopify",
                order_id=str(i),
                status=status,
                total=total,
                refunded=refunded,
                paid_at=paid_at,
            )
        )
    return orders


def _journeys(rng: random.Random, journeys: list[str], member_ids: list[str]) -> tuple:
    cohorts, windows = [], {}
    for journey in [*journeys, "retired_journey"]:
        for k in range(2):
            steps = [{"wait_days": rng.randrange(0, 8)} for _ in range(rng.randrange(1, 4))]
            config = {"steps": steps, "exit_after_days": rng.randrange(3, 30)}
            cohort_id = f"{journey}-{k}"
            windows[cohort_id] = journey
            cohorts.append(
                Cohort(
                    cohort_id,
                    journey=journey,
                    config_version="seeded",
                    config=json.dumps({"journey": journey, "config": config}),
                    shards=1,
                    created_at=NOW,
                )
            )
    enrolments = []
    cohort_ids = [*windows, "unknown-cohort"]
    for i in range(300):
        member_id = rng.choice(member_ids[:40])  # members re-enter journeys
        cohort_id = rng.choice(cohort_ids)
        arm = rng.choice(["treatment", "treatment", "control"])
        status = rng.choice(["open", "converted", "completed", "exited", "failed"])
        enrolments.append(
            Enrolment(
                member_id,
                f"{cohort_id}#{i}",
                cohort_shard=f"COHORT#{cohort_id}#0",
                journey=windows.get(cohort_id, "welcome"),
                cohort_id=cohort_id,
                config_version="seeded",
                arm=arm,
                variant=rng.choice([None, "0", "1"]) if arm == "treatment" else None,
                entered_at=_at(rng, 200),
                status=status,
                outcome_reason=rng.choice([None, "consent", "cap"]) if status != "open" else None,
                messages_sent=rng.randrange(0, 3),
            )
        )
    return cohorts, enrolments


def _messages(rng: random.Random, member_ids: list[str]) -> list[Message]:
    messages = []
    for i in range(400):
        message = Message(
            rng.choice(member_ids[:30]),
            f"journey#cohort#{i}",
            journey="journey",
            cohort_id="cohort",
            step="step",
            channel=rng.choice(["email", "sms"]),
            template="t",
            locale="en",
            sent_at=_at(rng, 120),
        )
        purpose = rng.choice(["marketing", "transactional", None])
        if purpose is None:
            del message.attribute_values["purpose"]  # an item written without one
        else:
            message.purpose = purpose
        messages.append(message)
    return messages


def _ledger(rng: random.Random, member_ids: list[str]) -> list[LedgerEntry]:
    return [
        LedgerEntry(
            rng.choice(member_ids),
            f"entry#{i}",
            kind=(kind := rng.choice(LEDGER_KINDS)),
            points=rng.randrange(1, 900)
            * (-1 if kind in ("reversal", "redemption", "expiry") else 1),
            created_at=NOW,
            source="seeded",
        )
        for i in range(200)
    ]


def seed_store(stack, programme) -> None:
    rng = random.Random(20260630)
    members = _members(rng, [t["name"] for t in programme.tiers["ladder"]])
    member_ids = [m.member_id for m in members]
    cohorts, enrolments = _journeys(rng, list(programme.journeys), member_ids)
    items = [
        *members,
        *_orders(rng, member_ids),
        *cohorts,
        *enrolments,
        *_messages(rng, member_ids),
        *_ledger(rng, member_ids),
    ]
    client = stack.client("dynamodb")
    for start in range(0, len(items), 25):  # as stored, absent attributes included
        batch: dict[str, list] = {}
        for item in items[start : start + 25]:
            put = {"PutRequest": {"Item": item.serialize(null_check=False)}}
            batch.setdefault(type(item).Meta.table_name, []).append(put)
        assert not client.batch_write_item(RequestItems=batch)["UnprocessedItems"]


@pytest.fixture(scope="module")
def seeded():
    with LocalStack() as stack:
        programme = load_programme()
        seed_store(stack, programme)
        yield programme


def test_the_kpis_of_a_seeded_store_are_the_recorded_ones(seeded):
    kpis = json.dumps(compute_kpis(seeded, NOW), indent=1)
    assert kpis + "\n" == EXPECTED.read_text()


@pytest.mark.parametrize("view", [MEMBERS, ORDERS, COHORTS, ENROLMENTS, MESSAGES, LEDGER])
def test_each_scan_reads_its_fields_of_every_item_as_the_model_does(seeded, monkeypatch, view):
    asked = []
    original = BaseClient._make_api_call

    def recorded(client, operation, params):
        if operation == "Scan":
            asked.append(params)
        return original(client, operation, params)

    monkeypatch.setattr(BaseClient, "_make_api_call", recorded)
    records = list(view.scan(page_size=7))  # several pages
    monkeypatch.setattr(BaseClient, "_make_api_call", original)
    fields = view.record._fields
    read = [tuple(getattr(item, name) for name in fields) for item in view.model.scan()]
    assert len(asked) > 2 and records and [tuple(r) for r in records] == read
    names = {asked[0]["ExpressionAttributeNames"][p.strip()] for p in
             asked[0]["ProjectionExpression"].split(",")}  # fmt: skip
    assert names == {view.model.get_attributes()[name].attr_name for name in fields}
