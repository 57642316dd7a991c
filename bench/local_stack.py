"""The local stack's fast paths (issue 13, docs/local-stack.md) against moto's own code
paths, measured in the same run.

Per seam, the same requests or executions with the seam and without
(``memberflow_local.fast_paths.motos_own_paths``):

* a conditional UpdateItem (a member's stage change) and a conditional PutItem;
* an index query (one cohort shard) on an enrolments table of 300 and 4,000 items;
* a journey-sized Map state (40 items, a DynamoDB Task each);
* a whole-table Scan of 3,000 member-sized items, projected to five attributes (as
  the KPI snapshot and the RFM job read) and unprojected;

then the demo's workload (``memberflow demo``'s simulation) with every seam on, and
with every seam off, with the ratio and whether the KPIs came out the same.

    python -m bench local_stack                       # 300 members x 30 days
    python -m bench.local_stack --members 600 --days 60
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import time

from memberflow_local.fast_paths import motos_own_paths


def _per_call(fn, repeat: int) -> tuple[float, float]:
    """(wall, CPU) seconds per call. CPU time (every thread of the process) is the
    figure to compare on a machine other processes share."""
    fn()  # warm: the first call fills the caches in both modes
    wall, cpu = time.perf_counter(), time.process_time()
    for _ in range(repeat):
        fn()
    return (time.perf_counter() - wall) / repeat, (time.process_time() - cpu) / repeat


def _compare(fn, repeat: int):
    """(ours, moto's own), each the best of two rounds, the modes alternating (the
    first round of a process runs slower)."""
    rounds = {"ours": [], "moto": []}
    for _ in range(2):
        rounds["ours"].append(_per_call(fn, repeat))
        with motos_own_paths():
            rounds["moto"].append(_per_call(fn, repeat))
    return tuple(
        (min(r[0] for r in rounds[m]), min(r[1] for r in rounds[m])) for m in ("ours", "moto")
    )


def _row(name: str, ours: tuple[float, float], theirs: tuple[float, float]) -> None:
    print(
        f"  {name:<42} wall {ours[0] * 1e3:8.2f} ms vs {theirs[0] * 1e3:8.2f} ms"
        f" ({theirs[0] / ours[0]:4.1f}x)   CPU {ours[1] * 1e3:8.2f} ms vs"
        f" {theirs[1] * 1e3:8.2f} ms ({theirs[1] / ours[1]:4.1f}x)"
    )


def _expressions(stack) -> None:
    client = stack.client("dynamodb")
    table = stack.physical["CouponsTable"]["Ref"]
    client.put_item(TableName=table, Item={"code": {"S": "B1"}, "n": {"N": "0"}})
    counter = iter(range(10**9))

    def update():
        client.update_item(
            TableName=table,
            Key={"code": {"S": "B1"}},
            UpdateExpression="SET n = n + :one, stage = :s, stage_since = :t, "
            "history = list_append(if_not_exists(history, :e), :h) REMOVE lapsed_at",
            ConditionExpression="attribute_exists(code) AND (stage <> :s OR attribute_not_exists(stage))",
            ExpressionAttributeValues={
                ":one": {"N": "1"},
                ":s": {"S": f"stage{next(counter) % 2}"},
                ":t": {"S": "2026-01-05T08:00:00Z"},
                ":e": {"L": []},
                ":h": {"L": [{"S": "x"}]},
            },
        )

    def put():
        client.put_item(
            TableName=table,
            Item={"code": {"S": f"P{next(counter)}"}, "n": {"N": "1"}},
            ConditionExpression="attribute_not_exists(code)",
        )

    for name, fn in (("conditional UpdateItem", update), ("conditional PutItem", put)):
        ours, theirs = _compare(fn, 300)
        _row(name, ours, theirs)


def _index_queries(stack, sizes=(300, 4000)) -> None:
    client = stack.client("dynamodb")
    table = stack.physical["EnrolmentsTable"]["Ref"]
    written = 0
    for size in sizes:
        for n in range(written, size):
            client.put_item(
                TableName=table,
                Item={
                    "member_id": {"S": f"m{n:05d}"},
                    "enrolment_key": {"S": "welcome#c1"},
                    "cohort_shard": {"S": f"COHORT#c1#{n % 16}"},
                    "status": {"S": "open"},
                },
            )
        written = size
        stack.advance(seconds=stack.index_lag)

        def query():
            client.query(
                TableName=table,
                IndexName="by_cohort_shard",
                KeyConditionExpression="cohort_shard = :s",
                ExpressionAttributeValues={":s": {"S": "COHORT#c1#3"}},
                Limit=25,
            )

        ours, theirs = _compare(query, 50)
        _row(f"index query, {size:,}-item table", ours, theirs)


def _scans(stack, size: int = 3000) -> None:
    client = stack.client("dynamodb")
    table = stack.physical["MembersTable"]["Ref"]
    lots = {"L": [{"M": {"at": {"S": f"2026-01-{d:02d}"}, "n": {"N": "40"}}} for d in range(1, 29)]}
    for n in range(size):
        client.put_item(
            TableName=table,
            Item={
                "member_id": {"S": f"m{n:05d}"},
                "stage": {"S": "active"},
                "tier": {"S": "base"},
                "created_at": {"S": "2026-01-01T00:00:00.000000+0000"},
                "points_balance": {"N": str(n)},
                "points_lots": lots,
                "order_times": {"L": [{"S": f"2026-02-{d:02d}"} for d in range(1, 29)]},
            },
        )

    def scan(**projection):
        start = None
        while True:
            page = client.scan(
                TableName=table, **projection, **({"ExclusiveStartKey": start} if start else {})
            )
            start = page.get("LastEvaluatedKey")
            if not start:
                return

    projected = {"ProjectionExpression": "member_id, stage, tier, created_at, points_balance"}
    ours, theirs = _compare(lambda: scan(**projected), 3)
    _row(f"projected Scan, {size:,} members", ours, theirs)
    ours, theirs = _compare(scan, 3)
    _row(f"whole-item Scan, {size:,} members", ours, theirs)


def _map_state(stack) -> None:
    client = stack.client("dynamodb")
    table = stack.physical["CouponsTable"]["Ref"]
    for n in range(40):
        client.put_item(TableName=table, Item={"code": {"S": f"M{n}"}})
    definition = json.dumps(
        {
            "StartAt": "Each",
            "States": {
                "Each": {
                    "Type": "Map",
                    "ItemsPath": "$.items",
                    "MaxConcurrency": 40,
                    "ItemProcessor": {
                        "ProcessorConfig": {"Mode": "INLINE"},
                        "StartAt": "Read",
                        "States": {
                            "Read": {
                                "Type": "Task",
                                "Resource": "arn:aws:states:::dynamodb:getItem",
                                "Parameters": {
                                    "TableName": table,
                                    "Key": {"code": {"S.$": "$.code"}},
                                },
                                "End": True,
                            }
                        },
                    },
                    "End": True,
                }
            },
        }
    )
    sfn = stack.client("stepfunctions")
    arn = sfn.create_state_machine(
        name="bench-map", definition=definition, roleArn="arn:aws:iam::123456789012:role/bench"
    )["stateMachineArn"]
    payload = json.dumps({"items": [{"code": f"M{n}"} for n in range(40)]})

    runs = iter(range(10**9))

    def run():
        sfn.start_execution(stateMachineArn=arn, name=f"run-{next(runs)}", input=payload)
        stack.clock.wait_idle()

    ours, theirs = _compare(run, 10)
    _row("Map state, 40 items, a DynamoDB Task each", ours, theirs)


def _workload(members: int, days: int) -> None:
    from memberflow_local.demo import simulate
    from memberflow_local.simulation import SimulationConfig

    results = {}
    for mode in ("ours", "moto"):
        config = SimulationConfig(members=members, days=days)
        wall, cpu = time.perf_counter(), time.process_time()
        if mode == "ours":
            kpis, _, _ = simulate(config, progress=False)
        else:
            with motos_own_paths():
                kpis, _, _ = simulate(config, progress=False)
        results[mode] = (time.perf_counter() - wall, time.process_time() - cpu, kpis)
    (ours, ours_cpu, ours_kpis), (theirs, their_cpu, their_kpis) = results["ours"], results["moto"]
    print(f"demo workload, {members:,} members x {days} days, with the fast paths vs without:")
    print(
        f"  wall {ours:.1f} s ({members * days / ours:,.0f} member·days/s) vs {theirs:.1f} s"
        f" ({members * days / theirs:,.0f} member·days/s): {theirs / ours:.2f}x"
    )
    print(f"  CPU  {ours_cpu:.1f} s vs {their_cpu:.1f} s: {their_cpu / ours_cpu:.2f}x")
    same = _comparable(ours_kpis) == _comparable(their_kpis)
    print(f"  KPIs identical with and without the fast paths: {'yes' if same else 'NO'}")


def _comparable(kpis: dict) -> str:
    kpis = dict(kpis)
    for key in ("generated_at", "snapshot_id", "requested_at"):
        kpis.pop(key, None)
    return json.dumps(kpis, sort_keys=True, default=str)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.local_stack")
    parser.add_argument("--members", type=int, default=300)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--no-workload", action="store_true", help="the per-seam figures only")
    args = parser.parse_args(argv)
    # As `memberflow demo`: the functions' INFO logs would drown the figures.
    os.environ.setdefault("POWERTOOLS_LOG_LEVEL", "WARNING")
    logging.getLogger("moto").setLevel(logging.CRITICAL)
    from memberflow_local.stack import LocalStack

    print("per call, with the fast path vs moto's own path (same process, same data):")
    print(f"  (machine load: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores)")
    with LocalStack() as stack:
        _expressions(stack)
        _index_queries(stack)
        _map_state(stack)
        _scans(stack)
    if not args.no_workload:
        _workload(args.members, args.days)
    return 0


if __name__ == "__main__":
    import sys

    sys.exit(main(sys.argv[1:]))
