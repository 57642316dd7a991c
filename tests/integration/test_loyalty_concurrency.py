"""Points stay exact under concurrent, out-of-order, retried deliveries."""

from __future__ import annotations

import random
import threading
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from memberflow.runtime import app_context
from memberflow.store import LedgerEntry, Member, unit_of_work
from tests.integration.test_loyalty_support import (
    apply,
    make_member,
    paid,
    refunded,
    replay_in_memory,
    state,
)

T0 = datetime(2026, 1, 5, 8, 0, tzinfo=UTC)
THREADS = 8
ORDERS = 500
REFUNDS = 100


def _events(prefix: str, rng: random.Random) -> list:
    events = []
    totals = {}
    for i in range(ORDERS):
        total = Decimal(rng.randint(2000, 60000)) / 100
        totals[i] = total
        events.append(paid(f"{prefix}{i}", total, T0 + timedelta(hours=i)))
    for n, i in enumerate(rng.sample(range(ORDERS), REFUNDS)):
        amount = (totals[i] * Decimal(rng.choice([10, 25, 50, 100])) / 100).quantize(
            Decimal("0.01")
        )
        events.append(
            refunded(f"{prefix}{i}", f"rf{n}", amount, T0 + timedelta(hours=i, minutes=5))
        )
    rng.shuffle(events)
    return events


def test_eight_threads_of_orders_and_refunds_equal_a_sequential_replay(stack, monkeypatch):
    programme = app_context().programme
    make_member("hot", programme=programme, joined_at=T0 - timedelta(days=1))
    initial = Member.from_raw_data(Member.get("hot", consistent_read=True).serialize())
    events = _events("c-", random.Random(4))
    commits: list[tuple] = []
    current = threading.local()
    lock = threading.Lock()

    def committed(member_id, version):
        with lock:  # the member version orders the member's commits totally
            commits.append((version, current.event, current.now))

    monkeypatch.setattr(unit_of_work, "_committed", committed)
    queue = list(events)
    errors = []

    def worker(index: int) -> None:
        now = T0 + timedelta(days=25, minutes=index)  # each thread its own clock
        while True:
            with lock:
                if not queue:
                    return
                event = queue.pop()
            current.event, current.now = event, now
            try:
                apply("hot", event, programme=programme, now=now)
            except Exception as error:  # pragma: no cover - reported below
                errors.append(error)
                return

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors

    hot = state("hot")
    # Order-independent facts first.
    refunds = {e.order_id: e.amount for e in events if hasattr(e, "refund_id")}
    totals = {e.order_id: e.total for e in events if hasattr(e, "paid_at")}
    assert hot["lifetime_spend"] == sum(totals.values()) - sum(refunds.values())
    ledger = list(LedgerEntry.query("hot"))
    assert hot["points_balance"] == sum(int(e.points) for e in ledger)
    assert hot["points_balance"] == sum(n for _, n in hot["lots"])
    assert len([e for e in ledger if e.kind == "earn"]) == ORDERS
    assert hot["order_count"] == ORDERS - sum(1 for o, a in refunds.items() if a == totals[o])

    # Then the whole state against a one-at-a-time replay of the same rules in commit
    # order (the member version orders member commits totally; early refunds touch only
    # their order and are netted on payment, so they go first).
    commits.sort(key=lambda c: (c[0] is not None, c[0] or 0))
    replayed, replay_ledger = replay_in_memory(
        initial, [(event, now) for _, event, now in commits], programme=programme
    )
    replay = state(replayed)
    for name in ("points_balance", "lifetime_spend", "tier", "order_count", "order_times"):
        assert hot[name] == replay[name], name
    assert hot["lots"] == replay["lots"]
    assert hot["window"] == replay["window"]
    assert hot["history"] == replay["history"]
    assert sorted((e.entry_key, int(e.points)) for e in ledger) == sorted(
        (e.entry_key, int(e.points)) for e in replay_ledger
    )
    assert hot["tier"] != programme.base_tier  # the run crossed thresholds

    # A second delivery of everything changes nothing.
    before = state("hot")
    for event in events[:50]:
        apply("hot", event, programme=programme, now=T0 + timedelta(days=26))
    assert state("hot") == before
    assert Member.get("hot").version == max(c[0] for c in commits if c[0] is not None)
