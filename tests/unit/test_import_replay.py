"""The go-live replay derives exactly what the review-by-review replay derived.

``memberflow.importing.replay`` skips the moments on which a review changes nothing and
asks the rules of a member's plain state once per change; the reference below is the
replay as it was before (one full review and index refresh per moment, and per order),
kept here only.
Every item of a varied base (the demo simulator's import lines, and lines drawn to reach
the rare paths: tier falls, long silences, opening points, birthdays) must come out
attribute for attribute the same, under the default programme and under one whose
reminders, date journeys and tier calendar differ.
"""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime, timedelta

import pytest

from memberflow.config import load_programme
from memberflow.config.programme import default_document
from memberflow.importing import derive, replay, validate_file
from memberflow.loyalty import accounts, lots, points, stages
from memberflow.loyalty.service import order_key
from memberflow.members.identity import email_hash, normalise_email
from memberflow.members.service import email_link, new_member
from memberflow.store.models import Consent, ExternalIdentity, Order
from memberflow_local.simulation import Simulation, SimulationConfig

NOW = datetime(2026, 1, 5, 8, tzinfo=UTC)


# ------------------------------------------------------------------ the reference
# memberflow.importing.replay before it skipped anything (derive, _replay_until, _review_at)
def _reference_review_at(member, moment, programme):
    entries = []
    accounts.apply_stage(
        member, stages.evaluate_stage(accounts.facts_of(member), programme, moment), moment
    )
    for journey, due in sorted(accounts.not_activated_due(member, programme).items()):
        if due <= moment:
            member.handoffs = [*(member.handoffs or []), f"{journey}#{replay.IMPORT_REASON}"]
    accounts.review_tier(member, programme, moment)
    for lot_id, amount in lots.expire(member, moment):
        entries.append(accounts.ledger_entry(member, "expiry", lot_id, -amount, moment))
    return entries


def _reference_replay_until(member, until, programme):
    entries = []
    cursor = member.review_at or until
    for _ in range(replay.MAX_REVIEWS):
        moment = accounts.refresh_review(member, programme, cursor)
        if moment is None or moment > until:
            return entries
        entries += _reference_review_at(member, moment, programme)
        after = accounts.refresh_review(member, programme, moment)
        cursor = moment + timedelta(days=1) if after is not None and after <= moment else moment
    raise RuntimeError("review replay did not converge")


def _reference_derive(customer, programme, now):
    member_id = replay.member_id_of(customer)
    first = min([customer.signed_up_at, *(o.paid_at for o in customer.orders)])
    member = new_member(
        programme=programme,
        now=first,
        stage=stages.NEW,
        reason=replay.IMPORT_REASON,
        email=customer.email,
        member_id=member_id,
    )
    member.joined_at = customer.signed_up_at
    member.phone = customer.phone
    member.first_name = customer.first_name
    member.last_name = customer.last_name
    member.locale = customer.locale
    member.consent = Consent(
        email=customer.consent_email,
        sms=customer.consent_sms,
        email_updated_at=customer.signed_up_at if customer.consent_email else None,
        sms_updated_at=customer.signed_up_at if customer.consent_sms else None,
    )
    member.source_updated_at = customer.signed_up_at
    member.version = 1
    orders, entries = [], []
    member.review_at = first
    for past in customer.orders:
        entries += _reference_replay_until(member, past.paid_at, programme)
        key = order_key(customer.platform, customer.shop, past.order_id)
        order = Order(
            order_key=key,
            member_id=member_id,
            placed_at=past.paid_at.astimezone(UTC).isoformat(),
            platform=customer.platform,
            shop=customer.shop,
            order_id=past.order_id,
            status="pending",
            total=past.total,
            currency=past.currency,
            paid_at=past.paid_at,
            source_updated_at=past.paid_at,
            version=1,
        )
        entries += accounts.pay(member, order, programme, past.paid_at)
        member.pending_handoff = None  # history: no journey (module docstring)
        member.handoff_due_at = None
        accounts.refresh_review(member, programme, past.paid_at)
        orders.append(order)
    entries += _reference_replay_until(member, now, programme)
    member.pending_handoff = None
    member.handoff_due_at = None
    # The birthday now, so that history's birthdays were no review moments; one whose
    # local day is over at go-live (the sweep's look-back would still take it) is
    # recorded as handed off on its day, like every hand-off of the past: no late
    # greeting. One that is today, or still ahead of its reminder, is still handed off.
    member.birthday = customer.birthday
    accounts.record_dates_over(member, programme, now)
    if customer.opening_points:
        expiry = points.expires_at(now, programme)
        lots.credit(member, customer.opening_points, expiry)
        entries.append(
            accounts.ledger_entry(
                member, "bonus", replay.OPENING_SOURCE, customer.opening_points, now, expiry
            )
        )
    accounts.refresh_review(member, programme, now)
    identity = ExternalIdentity(
        identity_key=customer.identity_key,
        member_id=member_id,
        platform=customer.platform,
        shop=customer.shop,
        customer_id=customer.customer_id,
        created_at=now,
    )
    member.shop_identities = [customer.identity_key]  # a coupon step's lookup
    hashed = email_hash(normalise_email(customer.email))
    link = email_link(member_id, hashed, now) if hashed else None
    return replay.Derived(customer, member, identity, link, orders, entries)


# ------------------------------------------------------------------ the base
def simulator_lines(seed: int, members: int, **config) -> list[dict]:
    """The demo's go-live lines (memberflow_local.simulation: ``import_line``), drawn
    without a stack: only the population and the order draws are needed."""
    sim = Simulation.__new__(Simulation)
    sim.config = SimulationConfig(members=members, seed=seed, **config)
    sim.rng, sim.start, sim.members = random.Random(seed), NOW, []
    sim.order_seq = 900_000_000
    sim._population()
    existing = sorted((m for m in sim.members if m.joins_on < 0), key=lambda m: m.index)
    return [sim.import_line(m, sim._base_orders_until(m, 0)) for m in existing]


def rare_lines(seed: int, count: int) -> list[dict]:
    """Histories the simulator seldom draws: bursts of large orders (tiers up, then down
    at a review or after a year without purchase), years of silence, orders before the
    sign-up, several orders at one moment, opening points, 29 February birthdays."""
    rng = random.Random(seed)
    lines = []
    for n in range(count):
        signed = NOW - timedelta(days=rng.uniform(20, 1500), seconds=rng.randrange(86400))
        moments, at = [], signed - timedelta(days=rng.choice([0, 0, 0, 3]))
        for _ in range(rng.choice([0, 1, 2, 5, 12, 30])):
            at += timedelta(days=rng.choice([0, 0.5, 3, 20, 45, 100, 250, 400]))
            if at < NOW:
                moments.append(at)
        line = {
            "platform": "shopify",
            "shop": "rare.myshopify.com",
            "customer_id": f"r{seed}-{n}",
            "email": f"rare{seed}-{n}@example.com",
            "signed_up_at": signed.isoformat(),
            "orders": [
                {
                    "order_id": f"r{seed}-{n}-{i}",
                    "paid_at": moment.isoformat(),
                    "total": str(rng.choice([0, 9.9, 260, 1500, 6000, 12000, 26000, 60000])),
                    "currency": "CNY",
                }
                for i, moment in enumerate(moments)
            ],
        }
        if rng.random() < 0.3:
            line["opening_points"] = rng.randrange(1, 5000)
        if rng.random() < 0.5:
            line["birthday"] = rng.choice(["2000-02-29", "--02-29", "1990-01-05", "--12-31"])
        if rng.random() < 0.3:
            line["phone"] = "+86 138 0000 0000"
        lines.append(line)
    # a year after a 29 February order, the reset falls on 28 February, a review day
    # whose window still holds the order: the tier is reset and lifted again at once
    lines.append(
        {
            "platform": "shopify",
            "shop": "rare.myshopify.com",
            "customer_id": f"r{seed}-leap",
            "email": f"rare{seed}-leap@example.com",
            "signed_up_at": "2024-01-28T12:00:00+00:00",
            "orders": [
                {
                    "order_id": f"r{seed}-leap-0",
                    "paid_at": "2024-02-29T02:00:00+00:00",
                    "total": "6000",
                    "currency": "CNY",
                }
            ],
        }
    )
    return lines


def varied_programme():
    """Tiers that move (low thresholds, a short window, quarterly reviews), a reminder
    30 days ahead reminding once, a second not-activated journey, and a membership
    anniversary: other stalls and other review calendars than the default's."""
    doc = default_document()
    tiers = doc["tiers"]
    tiers.update(window_months=6, review_every_months=3, reset_after_months_without_purchase=9)
    for entry, threshold in zip(tiers["ladder"], [0, 800, 2000, 5000, 15000], strict=True):
        entry["threshold"] = threshold
    doc["journeys"]["points_expiry_reminder"]["entry"]["days_before"] = 30
    doc["journeys"]["points_expiry_reminder"]["reentry_days"] = None
    doc["journeys"]["second_nudge"] = json.loads(json.dumps(doc["journeys"]["activation"]))
    doc["journeys"]["second_nudge"]["entry"]["days_after_join"] = 40
    anniversary = json.loads(json.dumps(doc["journeys"]["birthday"]))
    anniversary["entry"] = {"trigger": "date", "attribute": "joined_at", "days_before": 3}
    doc["journeys"]["anniversary"] = anniversary
    return load_programme(json.dumps(doc))


def _items(derived) -> list:
    items = [derived.member, derived.identity, derived.email_link]
    items += [*derived.orders, *derived.entries]
    return [None if item is None else (type(item).__name__, item.serialize()) for item in items]


def _differences(new: list, old: list) -> list[str]:
    if len(new) != len(old):
        return [f"{len(new)} items, reference {len(old)}"]
    out = []
    for (kind, a), (_, b) in (
        (x or (None, {}), y or (None, {})) for x, y in zip(new, old, strict=True)
    ):
        out += [f"{kind}.{k}" for k in sorted(set(a) | set(b)) if a.get(k) != b.get(k)]
    return out


@pytest.mark.parametrize("programme_kind", ["default", "varied"])
def test_the_replay_derives_every_item_as_the_review_by_review_replay(programme_kind):
    programme = load_programme(None) if programme_kind == "default" else varied_programme()
    customers = []
    for lines in (simulator_lines(7, 300), simulator_lines(31, 200, history_days=1400)):
        lines += rare_lines(len(customers), 40)  # (each file its own: the ids repeat)
        data = "\n".join(json.dumps(line) for line in lines).encode()
        found, errors = validate_file(data, programme, NOW)
        assert errors == []
        customers += found

    derived = [derive(c, programme, NOW) for c in customers]
    new = [_items(d) for d in derived]
    old = [_items(_reference_derive(c, programme, NOW)) for c in customers]

    wrong = {
        c.customer_id: d
        for c, n, o in zip(customers, new, old, strict=True)
        if (d := _differences(n, o))
    }
    assert wrong == {}
    # the base reaches what the replay decides: every stage on the way, tiers, expiries
    changes = {(c.to_stage, c.reason) for d in derived for c in d.member.stage_history}
    for stage in ("active", "loyal", "at_risk", "lapsed"):
        assert stage in {to for to, _ in changes}
    assert {"no_order_60d", "personal_gap"} <= {reason for _, reason in changes}
    assert {d.member.tier for d in derived} > {"base"}
    assert any(d.member.tier_reviewed_at for d in derived)
    assert {"earn", "expiry", "bonus"} <= {e.kind for d in derived for e in d.entries}
