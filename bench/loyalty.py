"""Loyalty engine benchmark: does the daily sweep read only who is due, and how fast
does the points ledger write?

On an in-process moto table (built from template.yaml by the local stack) of
``--members`` members with a realistic mix of histories, it prints, from one run:

- items read by the sweep / members whose stage changed that day (goal <= 1.05), and
  the same figure for a naive full Scan (the baseline);
- items read / members with any change (stage, tier or points expiry);
- sweep wall time per due member;
- ledger writes per second for one hot member and for many members.

Members are built in memory with the real rules (orders paid through the same code the
service commits, then the daily reviews they would have had before the measured day),
and written raw with BatchWriteItem, so loading is not the bottleneck. Timings on moto
are relative, not a forecast of DynamoDB latency.
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

DAY = timedelta(days=1)
MEASURED_DAY = date(2026, 6, 1)
BATCH = 25


class _Journeys:
    """Counts hand-offs (the journey engine is not what is measured here)."""

    def __init__(self):
        self.members = 0

    def enrol(self, journey, member_ids, cohort_id):
        self.members += len(member_ids)


def _history(rng: random.Random, now: datetime) -> tuple[datetime, list[tuple[datetime, Decimal]]]:
    """A member's join date and paid orders: a mix of regular, fading, gone and never."""
    kind = rng.random()
    joined = now - timedelta(days=rng.uniform(10, 1000))
    if kind < 0.12:  # signed up, never bought
        return joined, []
    orders = []
    count = 1 + int(rng.expovariate(1 / 4))
    # How long ago the last order was: most members recent, a long tail of lapsed ones.
    last_ago = rng.choice([rng.uniform(0, 60), rng.uniform(0, 200), rng.uniform(0, 700)])
    last = now - timedelta(days=last_ago, hours=rng.uniform(0, 24))
    last = max(last, joined + timedelta(hours=1))
    gap = timedelta(days=rng.uniform(5, 60))
    for k in range(count):
        at = last - gap * k
        if at <= joined:
            break
        orders.append((at, Decimal(rng.randint(30, 3000))))
    return joined, sorted(orders)


def _build_member(member_id: str, rng: random.Random, programme, now: datetime):
    """The member as the store would hold it the evening before ``now``'s sweep."""
    from memberflow.loyalty import accounts, review, sweep
    from memberflow.members.service import new_member
    from memberflow.store.models import Order

    joined, orders = _history(rng, now)
    member = new_member(
        programme=programme, now=joined, stage="new", reason="signup", member_id=member_id
    )
    member.joined_at = joined
    member.version = 1
    events = [(at, "order", amount) for at, amount in orders]
    accounts.refresh_review(member, programme, joined)
    day_before = now.date()
    i = 0
    while True:
        due = member.review_at
        next_order = events[i][0] if i < len(events) else None
        sweep_at = None
        if due is not None and review.review_day(due) < day_before:
            sweep_at = datetime.combine(review.review_day(due), datetime.min.time(), UTC)
            sweep_at += timedelta(hours=2)
        if next_order is not None and (sweep_at is None or next_order < sweep_at):
            at, _, amount = events[i]
            i += 1
            order = Order(
                order_key=f"bench#{member_id}#{i}",
                member_id=member_id,
                placed_at=at.isoformat(),
                platform="bench",
                order_id=str(i),
                status="pending",
                total=amount,
                paid_at=at,
            )
            accounts.pay(member, order, programme, at)
            accounts.refresh_review(member, programme, at)
        elif sweep_at is not None:
            sweep.apply_review(member, programme, sweep_at, sweep_at.date())
            if member.pending_handoff:  # as if the journey engine took it that day
                member.handoffs = [*member.handoffs, f"{member.pending_handoff}#x"][-20:]
                member.pending_handoff = member.handoff_due_at = None
                accounts.refresh_review(member, programme, sweep_at)
        else:
            return member


def _load(stack, programme, members: int, seed: int, now: datetime) -> float:
    from memberflow.store import Member

    client = stack.client("dynamodb")
    table = Member.Meta.table_name
    rng = random.Random(seed)
    started = time.perf_counter()
    batch = []
    for n in range(members):
        member = _build_member(f"m{n:07d}", rng, programme, now)
        batch.append({"PutRequest": {"Item": member.serialize()}})
        if len(batch) == BATCH:
            client.batch_write_item(RequestItems={table: batch})
            batch = []
        if n and n % 20000 == 0:
            print(f"  loaded {n:,} members ({time.perf_counter() - started:.0f}s)", flush=True)
    if batch:
        client.batch_write_item(RequestItems={table: batch})
    return time.perf_counter() - started


def _full_scan_items(stack) -> tuple[int, float]:
    from memberflow.store import Member

    client = stack.client("dynamodb")
    started, items, key = time.perf_counter(), 0, None
    while True:
        kwargs = {"TableName": Member.Meta.table_name, "Select": "COUNT"}
        if key:
            kwargs["ExclusiveStartKey"] = key
        page = client.scan(**kwargs)
        items += page["ScannedCount"]
        key = page.get("LastEvaluatedKey")
        if not key:
            return items, time.perf_counter() - started


def _ledger_rates(programme, now: datetime, writes: int) -> tuple[float, float]:
    from memberflow.loyalty import service
    from memberflow.store import Member
    from memberflow.webhooks.events import OrderPaid

    def order(n: int, prefix: str) -> OrderPaid:
        return OrderPaid(
            platform="bench",
            shop="",
            order_id=f"{prefix}{n}",
            customer_id=None,
            email=None,
            total=Decimal(100),
            currency="CNY",
            paid_at=now,
            updated_at=now,
            coupon_codes=(),
            customer=None,
        )

    hot = Member(member_id="m0000000")
    started = time.perf_counter()
    for n in range(writes):
        service.apply_order_paid(hot, order(n, "hot"), programme=programme, now=now)
    hot_rate = writes / (time.perf_counter() - started)
    started = time.perf_counter()
    for n in range(writes):
        member = Member(member_id=f"m{n + 1:07d}")
        service.apply_order_paid(member, order(n, "many"), programme=programme, now=now)
    many_rate = writes / (time.perf_counter() - started)
    return hot_rate, many_rate


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="bench/loyalty.py")
    # 100,000 took ~11 min to build and load on moto (about 6 ms per member on a busy
    # 2-CPU machine); the default keeps `make bench` to about a minute.
    parser.add_argument("--members", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--ledger-writes", type=int, default=300)
    args = parser.parse_args(argv)

    import logging

    logging.disable(logging.INFO)  # the sweep logs counts per run; keep the output readable

    from memberflow.loyalty import sweep
    from memberflow.runtime import app_context
    from memberflow.store import Member
    from memberflow_local.stack import LocalStack

    now = datetime.combine(MEASURED_DAY, datetime.min.time(), UTC) + timedelta(hours=2)
    with LocalStack(start=now) as stack:
        programme = app_context().programme
        print(f"members: {args.members:,} (moto, in-process; day measured {MEASURED_DAY})")
        load_s = _load(stack, programme, args.members, args.seed, now)
        print(f"loaded in {load_s:.0f}s")

        reads = {"batch_get": 0}
        real_batch_get = Member.batch_get

        def counting(keys, *a, **k):
            for item in real_batch_get(keys, *a, **k):
                reads["batch_get"] += 1
                yield item

        Member.batch_get = counting
        try:
            started = time.perf_counter()
            report = sweep.run_sweep(programme=programme, now=now, journeys=_Journeys())
            sweep_s = time.perf_counter() - started
        finally:
            Member.batch_get = real_batch_get
        scanned, scan_s = _full_scan_items(stack)

        stage_changed = sum(report["stage_changes"].values())
        read = reads["batch_get"]
        print(f"due today: {report['index_entries']:,} index entries, {read:,} member items read")
        print(
            f"stage changes: {stage_changed:,} {report['stage_changes']}; "
            f"any change: {report['members_changed']:,} (tier {report['tier_changes']}, "
            f"points expired {report['points_expired']:,}); hand-offs {report['handoffs']}"
        )
        if stage_changed:
            print(f"sweep: items read / stage changes = {read / stage_changed:.3f}  (goal <= 1.05)")
            print(
                f"naive full scan: items read / stage changes = {scanned / stage_changed:.1f}"
                f"  (baseline, {scanned:,} items, scan {scan_s:.1f}s)"
            )
        if report["members_changed"]:
            print(
                f"sweep: items read / members with any change = "
                f"{read / report['members_changed']:.3f}"
            )
        if read:
            print(f"sweep wall time: {sweep_s:.1f}s, {sweep_s / read * 1000:.1f} ms per due member")
        hot, many = _ledger_rates(programme, now, args.ledger_writes)
        print(
            f"ledger writes/s: one hot member {hot:.0f}/s, many members {many:.0f}/s "
            f"({args.ledger_writes} paid orders each, one transaction per order)"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
