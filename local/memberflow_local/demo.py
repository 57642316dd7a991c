"""``memberflow demo``: the main job on the embedded local stack.

Simulates a loyalty programme for months (``memberflow_local.simulation``), then reads
the report through the same API a deployed stack serves (``POST
/reports/kpis/snapshots``, then ``GET /reports/kpis``) and writes ``kpis.json`` and ``report.html``.
"""

from __future__ import annotations

import time
from pathlib import Path

from memberflow_local.report import summary_table, write_report
from memberflow_local.simulation import Simulation, SimulationConfig
from memberflow_local.stack import LocalStack
from memberflow_local.truth import true_uplift


def simulate(
    config: SimulationConfig, *, programme_file: str | None = None, progress: bool = True
) -> tuple[dict, dict, dict]:
    """Run a simulation; returns (kpis, truth, run facts)."""
    started = time.perf_counter()
    with LocalStack(programme_file=programme_file) as stack:
        simulation = Simulation(stack, config)
        go_live = stack.clock.now()
        bar = None
        if progress:
            from tqdm import tqdm

            bar = tqdm(total=config.days, unit="day", desc="simulating", leave=True)

            def tick(_day, now):
                bar.set_postfix_str(f"{now:%Y-%m-%d}", refresh=False)
                bar.update(1)

        simulation.run(progress=tick if bar else None)
        if bar is not None:
            bar.close()
        # The route serves the newest KPI snapshot: ask for one of the final state.
        requested = stack.http("POST", "/reports/kpis/snapshots")
        if requested.status != 202:
            raise RuntimeError(f"POST /reports/kpis/snapshots answered {requested.status}")
        stack.clock.wait_idle()
        response = stack.http("GET", "/reports/kpis")
        if response.status != 200:
            raise RuntimeError(
                f"GET /reports/kpis answered {response.status}: {response.body[:300]!r}"
            )
        kpis = response.json()
        truth = true_uplift(simulation)
        wall = time.perf_counter() - started
        run = {
            "config": config.as_dict(),
            "started_at": go_live.isoformat(),
            "wall_seconds": round(wall, 1),
            "member_days_per_second": round(config.members * config.days / wall, 1),
            "requests": simulation.requests,
            "go_live_import": simulation.import_result,
            "rejected_requests": len(simulation.errors),
            "coupons": {"used": simulation.coupons_used, "refused": simulation.coupons_refused},
            "first_rejections": simulation.errors[:5],
            "lambda_invocations": dict(stack.invocations),
        }
    return kpis, truth, run


def run_demo(args) -> int:
    config = SimulationConfig(members=args.members, days=args.days, seed=args.seed)
    if getattr(args, "effect", None) is not None:
        config.message_effect = args.effect
    print(
        f"memberflow demo: {config.members:,} members, {config.days} days, seed {config.seed}, "
        f"planted message effect {config.message_effect:.0%} within {config.effect_days} days"
    )
    kpis, truth, run = simulate(config, programme_file=args.programme)
    out = Path(args.out)
    path = write_report(kpis, out, truth=truth, run=run)
    print()
    print(summary_table(kpis, truth))
    print()
    print(f"wrote {out / 'kpis.json'} and {path}")
    imported = run.get("go_live_import") or {}
    if imported:
        print(
            f"go-live import: {imported.get('imported', 0):,} existing customers with "
            f"{imported.get('orders', 0):,} past orders, no welcome; on day one "
            + ", ".join(
                f"{k[6:]} {v:,}" for k, v in sorted(imported.items()) if k.startswith("stage_")
            )
        )
    print(
        f"wall time {run['wall_seconds']}s · {run['member_days_per_second']:,} member·days/s · "
        f"{run['requests']:,} webhook/API requests ({run['rejected_requests']} rejected)"
    )
    return 0 if not run["rejected_requests"] else 1
