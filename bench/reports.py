"""The KPI snapshot (``memberflow.reports.kpis.compute_kpis``, weekly and at the demo's
end) on a simulated programme: its Scans read through projections (each item a record
of the projected attributes, ``memberflow.store.projections``) against the same Scans
read through the models (each item a full model instance, as before), measured in the
same run on the same store, with whether the KPIs came out the same.

    python -m bench reports                          # 300 members x 60 days
    python -m bench.reports --members 600 --days 120
"""

from __future__ import annotations

import argparse
import json
import logging
import time
from unittest import mock

from memberflow.reports.kpis import compute_kpis
from memberflow.runtime import app_context
from memberflow.store.projections import Projection
from memberflow_local.simulation import Simulation, SimulationConfig
from memberflow_local.stack import LocalStack


def _through_models():
    """Each scanned item read as its model reads it: the KPIs only read attributes by
    name, so a model instance stands in for the record."""
    return mock.patch.object(Projection, "load", lambda self, item: self.model.from_raw_data(item))


def _cpu(fn) -> float:
    started = time.process_time()
    fn()
    return time.process_time() - started


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="bench.reports")
    parser.add_argument("--members", type=int, default=300)
    parser.add_argument("--days", type=int, default=60)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args(argv)
    logging.disable(logging.INFO)
    try:
        with LocalStack() as stack:
            started = time.perf_counter()
            Simulation(stack, SimulationConfig(members=args.members, days=args.days)).run()
            stack.clock.wait_idle()
            print(
                f"  simulated {args.members} members x {args.days} days"
                f" in {time.perf_counter() - started:.0f} s",
                flush=True,
            )
            programme, now = app_context().programme, stack.clock.now()

            def snapshot() -> dict:
                return compute_kpis(programme, now)

            ours, models = [], []
            for _ in range(args.rounds):  # alternating: the machine's load hits both
                ours.append(_cpu(snapshot))
                with _through_models():
                    models.append(_cpu(snapshot))
            with _through_models():
                baseline = json.dumps(snapshot())
            same = json.dumps(snapshot()) == baseline
    finally:
        logging.disable(logging.NOTSET)
    best, base = min(ours), min(models)
    print(
        f"  compute_kpis CPU (best of {args.rounds}): projections {best * 1e3:.0f} ms,"
        f" models {base * 1e3:.0f} ms ({best / base:.2f}x; Scans included, their"
        f" local-stack side the same in both); same KPIs: {same}"
    )
    return 0 if same else 1


if __name__ == "__main__":
    import sys

    sys.exit(main(sys.argv[1:]))
