"""The programme report: a terminal summary, kpis.json and one self-contained report.html.

Charts are drawn by matplotlib and embedded as inline SVG, so the page opens in any
browser with no network.
"""

from __future__ import annotations

import html
import io
import json
from datetime import date, timedelta
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

STAGE_COLOURS = {
    "prospect": "#c7c7c7",
    "new": "#9ecae1",
    "active": "#31a354",
    "loyal": "#006d2c",
    "at_risk": "#fdae6b",
    "lapsed": "#e6550d",
    "churned": "#756bb1",
}
JOURNEY_LABELS = {
    "welcome": "Welcome",
    "activation": "Activation",
    "dormancy_recall": "Dormancy recall",
    "winback": "Win-back",
}


def _label(journey: str) -> str:
    """A journey's name in the report: configured journeys have no label here, their id
    reads as one (``tier_up_welcome`` -> "Tier up welcome")."""
    return JOURNEY_LABELS.get(journey) or journey.replace("_", " ").capitalize()


def _svg(fig) -> str:
    buffer = io.StringIO()
    fig.savefig(buffer, format="svg", bbox_inches="tight")
    plt.close(fig)
    text = buffer.getvalue()
    return text[text.index("<svg") :]


def _pct(value) -> str:
    return "n/a" if value is None else f"{value * 100:.1f}%"


def _draw_stages(ax, kpis: dict, go_live: str | None = None) -> None:
    """``go_live``: an ISO date; the chart then starts eight weeks before it (imported
    history reaches years back) and marks it."""
    series = kpis["stage_series"]
    if go_live:
        first = (date.fromisoformat(go_live[:10]) - timedelta(weeks=8)).isoformat()
        series = [row for row in series if row["date"] >= first]
    if series:
        dates = [row["date"] for row in series]
        stages = list(STAGE_COLOURS)
        ax.stackplot(
            range(len(dates)),
            *[[row[s] for row in series] for s in stages],
            labels=stages,
            colors=[STAGE_COLOURS[s] for s in stages],
        )
        ticks = list(range(0, len(dates), max(1, len(dates) // 8)))
        ax.set_xticks(ticks, [dates[i] for i in ticks], rotation=30, ha="right")
        marks = [i for i, d in enumerate(dates) if go_live and d >= go_live[:10]]
        if marks:
            ax.axvline(marks[0], color="#444", lw=0.8, ls="--")
            ax.annotate(
                "go-live import",
                (marks[0], 0),
                xytext=(3, 3),
                textcoords="offset points",
                fontsize=7,
            )
        ax.legend(loc="upper left", fontsize=8, ncol=4)
    ax.set_ylabel("members")
    ax.set_title("Lifecycle stages over time")


def chart_stages(kpis: dict, go_live: str | None = None) -> str:
    fig, ax = plt.subplots(figsize=(9, 3.6))
    _draw_stages(ax, kpis, go_live)
    return _svg(fig)


def chart_funnels(kpis: dict) -> str:
    journeys = list(kpis["journeys"])
    width = max(11, 2.2 * len(journeys))  # every configured journey with enrolments
    fig, axes = plt.subplots(1, len(journeys), figsize=(width, 3.2), sharey=False)
    for ax, journey in zip(axes if len(journeys) > 1 else [axes], journeys, strict=False):
        arms = kpis["journeys"][journey]["arms"]
        steps = ["entered", "messaged", "converted"]
        for offset, arm in ((-0.2, "treatment"), (0.2, "control")):
            values = [arms[arm][s] for s in steps]
            ax.bar(
                [i + offset for i in range(3)],
                values,
                width=0.4,
                label=arm,
                color="#3182bd" if arm == "treatment" else "#bdbdbd",
            )
        ax.set_xticks(range(3), steps, fontsize=8)
        ax.set_title(_label(journey), fontsize=10)
    (axes[0] if len(journeys) > 1 else axes).legend(fontsize=8)
    fig.suptitle("Journey funnels by arm")
    return _svg(fig)


def _draw_uplift(ax, kpis: dict, truth: dict | None) -> None:
    names = []
    for i, (journey, data) in enumerate(kpis["journeys"].items()):
        u = data["uplift"]
        names.append(_label(journey))
        if u["uplift"] is not None:
            ax.errorbar(
                [u["uplift"] * 100],
                [i],
                xerr=[[(u["uplift"] - u["ci_low"]) * 100], [(u["ci_high"] - u["uplift"]) * 100]],
                fmt="o",
                color="#3182bd",
                capsize=4,
                label="measured (95% CI)" if i == 0 else None,
            )
        if truth and truth.get(journey, {}).get("true_uplift") is not None:
            ax.plot(
                [truth[journey]["true_uplift"] * 100],
                [i],
                "x",
                color="#e6550d",
                label="planted (true)" if i == 0 else None,
            )
    ax.axvline(0, color="#888", lw=0.8)
    ax.set_yticks(range(len(names)), names)
    ax.set_xlabel("conversion uplift vs holdout (percentage points)")
    ax.set_title("Uplift against the holdout")
    handles, labels = ax.get_legend_handles_labels()
    if handles:
        ax.legend(fontsize=8)


def chart_uplift(kpis: dict, truth: dict | None) -> str:
    fig, ax = plt.subplots(figsize=(7, 3.2))
    _draw_uplift(ax, kpis, truth)
    return _svg(fig)


def chart_bars(values: dict, title: str, ylabel: str, colour: str = "#3182bd") -> str:
    fig, ax = plt.subplots(figsize=(5.5, 3))
    ax.bar(list(values), [v or 0 for v in values.values()], color=colour)
    ax.set_title(title)
    ax.set_ylabel(ylabel)
    ax.tick_params(axis="x", labelsize=8, rotation=20)
    return _svg(fig)


def chart_messages(kpis: dict) -> str:
    weekly = kpis["messages"]["weekly"]
    fig, ax = plt.subplots(figsize=(9, 3))
    if weekly:
        ax.plot(
            range(len(weekly)),
            [w["per_member_mean"] for w in weekly],
            label="mean per messaged member",
        )
        ax.plot(range(len(weekly)), [w["per_member_max"] for w in weekly], label="max per member")
        ticks = list(range(0, len(weekly), max(1, len(weekly) // 8)))
        ax.set_xticks(ticks, [weekly[i]["week"] for i in ticks], rotation=30, ha="right")
    cap = kpis["messages"]["cap"]
    ax.axhline(
        cap["max_messages"],
        color="#e6550d",
        ls="--",
        label=f"cap: {cap['max_messages']} per {cap['per_days']} days",
    )
    ax.set_ylabel("marketing messages")
    ax.set_title("Messages per member per week against the cap")
    ax.legend(fontsize=8)
    return _svg(fig)


def write_preview(
    kpis: dict, path: Path, truth: dict | None = None, go_live: str | None = None
) -> Path:
    """A PNG of the report's two main charts (for the README and quick looks)."""
    fig, (left, right) = plt.subplots(1, 2, figsize=(13, 4))
    _draw_stages(left, kpis, go_live)
    _draw_uplift(right, kpis, truth)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path


def summary_table(kpis: dict, truth: dict | None = None) -> str:
    lines = []
    m, r, p = kpis["members"], kpis["rates"], kpis["points"]
    lines.append(
        f"members {m['live']:,} live ({m['erased']} erased) · revenue {kpis['revenue']} · "
        f"messages {kpis['messages']['total']:,}"
    )
    lines.append("stages   " + "  ".join(f"{k} {v}" for k, v in kpis["stages"].items()))
    lines.append("tiers    " + "  ".join(f"{k} {v}" for k, v in kpis["tiers"].items()))
    lines.append(
        f"rates    activation {_pct(r['activation_rate'])}  recall {_pct(r['recall_rate'])}  "
        f"win-back {_pct(r['winback_rate'])}  retention {_pct(r['retention_rate'])}"
    )
    lines.append(
        f"points   issued {p['issued']:,}  redeemed {p['redeemed']:,}  expired {p['expired']:,}  "
        f"reversed {p['reversed']:,}  outstanding {p['outstanding']:,}"
    )
    lines.append(
        f"cap      max marketing messages in any {kpis['messages']['cap']['per_days']}-day "
        f"window: {kpis['messages']['max_in_any_rolling_window']} "
        f"(cap {kpis['messages']['cap']['max_messages']})"
    )
    lines.append("")
    # journeys are data: the name column is as wide as the longest configured name
    width = max([16, *(len(_label(j)) + 2 for j in kpis["journeys"])])
    header = (
        f"{'journey':<{width}}{'treated':>9}{'conv':>8}{'holdout':>9}{'conv':>8}"
        f"{'uplift':>9}{'95% CI':>18}"
    )
    if truth:
        header += f"{'planted':>10}{'in CI':>7}"
    lines.append(header)
    for journey, data in kpis["journeys"].items():
        u = data["uplift"]
        ci = (
            "n/a"
            if u["ci_low"] is None
            else f"[{u['ci_low'] * 100:+.1f}, {u['ci_high'] * 100:+.1f}]"
        )
        uplift = "n/a" if u["uplift"] is None else f"{u['uplift'] * 100:+.1f}pp"
        row = (
            f"{_label(journey):<{width}}{u['treated_n']:>9}{_pct(u['treated_rate']):>8}"
            f"{u['control_n']:>9}{_pct(u['control_rate']):>8}{uplift:>9}{ci:>18}"
        )
        if truth:
            t = truth.get(journey, {}).get("true_uplift")
            row += f"{'n/a' if t is None else f'{t * 100:+.1f}pp':>10}"
            inside = (
                "n/a"
                if t is None or u["ci_low"] is None
                else ("yes" if u["ci_low"] <= t <= u["ci_high"] else "NO")
            )
            row += f"{inside:>7}"
        lines.append(row)
    return "\n".join(lines)


def write_report(
    kpis: dict, out: Path, *, truth: dict | None = None, run: dict | None = None
) -> Path:
    out.mkdir(parents=True, exist_ok=True)
    (out / "kpis.json").write_text(
        json.dumps({**kpis, "truth": truth, "run": run}, indent=2, default=str)
    )
    points = {
        k: kpis["points"][k] for k in ("issued", "redeemed", "expired", "reversed", "outstanding")
    }
    rates = {
        "activation": kpis["rates"]["activation_rate"],
        "recall": kpis["rates"]["recall_rate"],
        "win-back": kpis["rates"]["winback_rate"],
        "retention": kpis["rates"]["retention_rate"],
    }
    rows = []
    for journey, data in kpis["journeys"].items():
        u = data["uplift"]
        t = (truth or {}).get(journey, {}).get("true_uplift")
        rows.append(
            "<tr>"
            + "".join(
                f"<td>{html.escape(str(c))}</td>"
                for c in (
                    _label(journey),
                    u["treated_n"],
                    _pct(u["treated_rate"]),
                    u["control_n"],
                    _pct(u["control_rate"]),
                    "n/a" if u["uplift"] is None else f"{u['uplift'] * 100:+.1f} pp",
                    "n/a"
                    if u["ci_low"] is None
                    else f"[{u['ci_low'] * 100:+.1f}, {u['ci_high'] * 100:+.1f}]",
                    "" if t is None else f"{t * 100:+.1f} pp",
                )
            )
            + "</tr>"
        )
    run_text = html.escape(json.dumps(run or {}, default=str))
    go_live = (run or {}).get("started_at")
    page = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>memberflow report</title>
<style>
body {{ font-family: system-ui, sans-serif; margin: 2rem auto; max-width: 1100px; color: #222; }}
h1 {{ margin-bottom: 0; }} .muted {{ color: #777; }}
.grid {{ display: grid; grid-template-columns: 1fr 1fr; gap: 1rem; }}
table {{ border-collapse: collapse; }} td, th {{ padding: .3rem .7rem; border-bottom: 1px solid #ddd; text-align: right; }}
td:first-child, th:first-child {{ text-align: left; }} svg {{ max-width: 100%; height: auto; }}
pre {{ background: #f6f6f6; padding: 1rem; overflow-x: auto; }}
</style></head><body>
<h1>memberflow programme report</h1>
<p class="muted">{html.escape(kpis["programme"]["name"])} · configuration {html.escape(kpis["programme"]["version"])} · generated {html.escape(kpis["generated_at"])}</p>
<pre>{html.escape(summary_table(kpis, truth))}</pre>
<h2>Lifecycle</h2>{chart_stages(kpis, go_live)}
<h2>Journeys</h2>{chart_funnels(kpis)}
<table><tr><th>journey</th><th>treated</th><th>conversion</th><th>holdout</th><th>conversion</th><th>uplift</th><th>95% CI</th><th>planted</th></tr>{"".join(rows)}</table>
{chart_uplift(kpis, truth)}
<h2>Rates, tiers and points</h2>
<div class="grid">{chart_bars(rates, "Lifecycle rates", "share")}{chart_bars(kpis["tiers"], "Tier distribution", "members", "#756bb1")}
{chart_bars(points, "Points", "points", "#31a354")}</div>
<h2>Messages</h2>{chart_messages(kpis)}
<p class="muted">Uplift is intent-to-treat: conversion = a paid order inside the journey's window, for every
enrolment of each arm (holdout members are tracked, never messaged). Run: {run_text}</p>
</body></html>
"""
    path = out / "report.html"
    path.write_text(page)
    write_preview(kpis, out / "report.png", truth, go_live)
    return path
