"""Go-live import benchmark: CPU of deriving the demo's existing customers.

The demo's go-live base (``--members`` simulated members, about 35 % of them customers
before go-live, with their past orders: memberflow_local.simulation's import lines) is
validated, then each customer derived (memberflow.importing.replay.derive: the history
replayed through the loyalty rules). Baseline, in the same run: the replay that reviews
every moment in full (tests/unit/test_import_replay.py keeps it as the reference the
derived items are compared with), on today's rules: the calendar they share
(``add_months`` remembered) speeds up both. CPU time (``time.process_time``), best of
``--repeat``.
"""

from __future__ import annotations

import argparse
import json
import time


def _best(derive, customers, programme, now, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        started = time.process_time()
        for customer in customers:
            derive(customer, programme, now)
        times.append(time.process_time() - started)
    return min(times)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="bench.importing")
    parser.add_argument("--members", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--repeat", type=int, default=2)
    args = parser.parse_args(argv)

    from memberflow.config import load_programme
    from memberflow.importing import derive, validate_file
    from tests.unit.test_import_replay import NOW, _reference_derive, simulator_lines

    programme = load_programme(None)
    lines = simulator_lines(args.seed, args.members)
    data = "\n".join(json.dumps(line) for line in lines).encode()
    customers, errors = validate_file(data, programme, NOW)
    if errors:
        print(f"bad lines: {errors[:3]}")
        return 1
    orders = sum(len(c.orders) for c in customers)
    print(f"{len(customers)} customers, {orders} past orders (members {args.members})")
    new = _best(derive, customers, programme, NOW, args.repeat)
    old = _best(_reference_derive, customers, programme, NOW, args.repeat)
    for name, cpu in (("derive", new), ("baseline: every moment reviewed", old)):
        per = 1000 * cpu / max(len(customers), 1)
        print(f"  {name:<34} {cpu:6.2f} s CPU  {per:5.2f} ms/customer")
    print(f"  ratio derive / baseline: {new / old:.2f}")
    return 0
