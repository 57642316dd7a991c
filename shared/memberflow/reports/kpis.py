"""Programme KPIs from the member store: what `memberflow report` and the demo show.

Reads each table once, in pages. A report is run on demand (weekly by an operator,
or at the end of a simulation), never by the daily schedule, so a paged Scan is the
right tool here; the daily sweep never scans (architecture.md §3).

Uplift is measured intent-to-treat: an enrolment converted when the member paid an
order inside the journey's window [entered, entered + steps' waits + exit window],
whatever the enrolment's own status, so treated members who exit early (consent,
cap) are still counted against their arm, exactly like the holdout.
"""

from __future__ import annotations

import json
from bisect import bisect_left
from collections import Counter, defaultdict
from datetime import datetime, timedelta
from decimal import Decimal
from itertools import accumulate

from memberflow.config import Programme
from memberflow.reports.stats import design_effect, uplift
from memberflow.store import Cohort, Enrolment, LedgerEntry, Member, Message, Order
from memberflow.store.projections import Projection

STAGES = ("prospect", "new", "active", "loyal", "at_risk", "lapsed", "churned")
ARMS = ("treatment", "control")
ARM_COUNTS = ("entered", "messaged", "converted", "window_closed", "converted_in_window")
VARIANT_COUNTS = ("entered", "messaged", "window_closed", "converted_in_window")

# What each Scan reads (a ProjectionExpression): a snapshot reads every table weekly, and
# the members' order, points and cap lists are most of their bytes but none of the KPIs.
# Smaller pages cost less to send, parse and deserialise in the function (its duration
# is the bill); DynamoDB still charges the read by item size.
MEMBER_FIELDS = [
    "member_id",
    "erased",
    "stage",
    "tier",
    "created_at",
    "stage_history",
    "joined_at",
    "activated_at",
    "points_balance",
]
ORDER_FIELDS = ["member_id", "status", "paid_at", "total", "refunded"]
COHORT_FIELDS = ["cohort_id", "journey", "config"]
ENROLMENT_FIELDS = [
    "member_id",
    "journey",
    "cohort_id",
    "arm",
    "entered_at",
    "status",
    "outcome_reason",
    "messages_sent",
    "variant",
]
MESSAGE_FIELDS = ["member_id", "channel", "purpose", "sent_at"]
LEDGER_FIELDS = ["kind", "points"]
# Each Scan reads through a projection: records of only those attributes, decoded by the
# model's definitions; a model instance would set and look up all of its own (a member's
# nearly fifty) for every item.
MEMBERS = Projection(Member, MEMBER_FIELDS)
ORDERS = Projection(Order, ORDER_FIELDS)
COHORTS = Projection(Cohort, COHORT_FIELDS)
ENROLMENTS = Projection(Enrolment, ENROLMENT_FIELDS)
MESSAGES = Projection(Message, MESSAGE_FIELDS)
LEDGER = Projection(LedgerEntry, LEDGER_FIELDS)


def _window_days(pinned: dict) -> float:
    config = pinned["config"]
    return sum(s["wait_days"] for s in config["steps"]) + config["exit_after_days"]


def _paid_orders() -> dict[str, list[tuple[datetime, Decimal]]]:
    by_member: dict[str, list[tuple[datetime, Decimal]]] = defaultdict(list)
    for order in ORDERS.scan():
        if order.status == "paid" and order.paid_at is not None:
            net = (order.total or Decimal(0)) - (order.refunded or Decimal(0))
            by_member[order.member_id].append((order.paid_at, net))
    for orders in by_member.values():
        orders.sort()
    return by_member


def _history(member) -> list[tuple[datetime, str | None, str]]:
    """A member's stage changes as plain (at, from, to) tuples, oldest first."""
    changes = [(c.at, c.from_stage, c.to_stage) for c in member.stage_history or []]
    return sorted(changes, key=lambda change: change[0])  # stable: same-moment order kept


def _stage_series(histories: list, moments: list[datetime]) -> list[Counter]:
    """Members per stage at each moment (ascending). A stage change holds from its moment
    until the member's next change, so it counts at the moments of that span (found by
    bisection) once the member exists: a member costs its changes, not the series' weeks."""
    spans: dict[str, list[int]] = {}  # stage -> +1 where a span starts, -1 past its end
    for created, history in histories:
        first = bisect_left(moments, created)
        for j, (at, _from_stage, stage) in enumerate(history):
            if not stage:
                continue
            start = max(first, bisect_left(moments, at))
            end = bisect_left(moments, history[j + 1][0]) if j + 1 < len(history) else len(moments)
            if start < end:
                edges = spans.setdefault(stage, [0] * (len(moments) + 1))
                edges[start] += 1
                edges[end] -= 1
    counts = [Counter() for _ in moments]
    for stage, edges in spans.items():
        for k, members in enumerate(accumulate(edges[:-1])):
            if members:
                counts[k][stage] = members
    return counts


def compute_kpis(programme: Programme, now: datetime, *, series_step_days: int = 7) -> dict:
    members = list(MEMBERS.scan())
    live = [m for m in members if not m.erased]
    orders = _paid_orders()
    # ---------------------------------------------------------------- distributions
    stages = Counter(m.stage for m in live)
    tiers = Counter(m.tier for m in live)
    ladder = [t["name"] for t in programme.tiers["ladder"]]
    # ---------------------------------------------------------------- stage series
    series: list[dict] = []
    histories = {m.member_id: _history(m) for m in live}
    starts = [m.created_at for m in live]
    if starts:
        moments = []
        moment = min(starts).replace(hour=23, minute=59, second=59)
        while moment <= now + timedelta(days=series_step_days):
            moments.append(min(moment, now))
            if moments[-1] == now:
                break
            moment += timedelta(days=series_step_days)
        counted = _stage_series([(m.created_at, histories[m.member_id]) for m in live], moments)
        for at, counts in zip(moments, counted, strict=True):
            series.append({"date": at.date().isoformat(), **{s: counts.get(s, 0) for s in STAGES}})

    # ---------------------------------------------------------------- lifecycle rates
    def transitions(member, source: str) -> tuple[bool, bool]:
        entered = recovered = False
        for _at, from_stage, to_stage in histories[member.member_id]:
            if to_stage == source:
                entered = True
            elif entered and from_stage in (source, "churned") and to_stage in ("active", "loyal"):
                recovered = True
        return entered, recovered

    activation_base = activated = 0
    month_ago = now - timedelta(days=30)
    for m in live:
        joined = m.joined_at
        if joined is None or joined > month_ago:
            continue
        activation_base += 1
        first = m.activated_at or (orders[m.member_id][0][0] if orders.get(m.member_id) else None)
        if first is not None and first <= joined + timedelta(days=30):
            activated += 1
    recall = [transitions(m, "at_risk") for m in live]
    winback = [transitions(m, "lapsed") for m in live]
    previous_buyers = retained = 0
    recent_orders = recent_buyers = 0
    half_year_ago, quarter_ago = now - timedelta(days=180), now - timedelta(days=90)
    for m in live:
        times = [t for t, _ in orders.get(m.member_id, [])]
        before = any(half_year_ago < t <= quarter_ago for t in times)
        recent = [t for t in times if quarter_ago < t <= now]
        if before:
            previous_buyers += 1
            retained += bool(recent)
        if recent:
            recent_buyers += 1
            recent_orders += len(recent)
    revenue = sum((v for member_orders in orders.values() for _, v in member_orders), Decimal(0))

    def rate(numerator: int, denominator: int) -> float | None:
        return numerator / denominator if denominator else None

    rates = {
        "activation_rate": rate(activated, activation_base),
        "activation_base": activation_base,
        "recall_rate": rate(sum(r for e, r in recall if e), sum(e for e, _ in recall)),
        "recall_base": sum(e for e, _ in recall),
        "winback_rate": rate(sum(r for e, r in winback if e), sum(e for e, _ in winback)),
        "winback_base": sum(e for e, _ in winback),
        "retention_rate": rate(retained, previous_buyers),
        "retention_base": previous_buyers,
        "purchase_frequency_90d": rate(recent_orders, recent_buyers),
        "spend_per_member": float(revenue / len(live)) if live else None,
    }
    # ---------------------------------------------------------------- journeys
    windows: dict[str, float] = {}
    cohort_journey: dict[str, str] = {}
    for cohort in COHORTS.scan():
        pinned = json.loads(cohort.config)
        windows[cohort.cohort_id] = _window_days(pinned)
        cohort_journey[cohort.cohort_id] = cohort.journey

    def funnel() -> dict:
        return {arm: {**dict.fromkeys(ARM_COUNTS, 0), "exited": Counter()} for arm in ARMS}

    # every configured journey, entered or not, then any other an enrolment names
    funnels: dict[str, dict] = {journey: funnel() for journey in programme.journeys}
    variants: dict[str, dict[str, dict]] = defaultdict(dict)
    # (journey, arm or variant) -> member -> [closed windows, converted]: a member who
    # re-enters a journey contributes windows that are not independent (design_effect)
    windows_of: dict[tuple, dict[str, list[int]]] = defaultdict(dict)
    for enrolment in ENROLMENTS.scan():
        if enrolment.journey not in funnels:
            funnels[enrolment.journey] = funnel()
        arm = funnels[enrolment.journey][enrolment.arm]
        arm["entered"] += 1
        arm["messaged"] += int((enrolment.messages_sent or 0) > 0)
        arm["converted"] += int(enrolment.status == "converted")
        if enrolment.status in ("exited", "failed"):
            arm["exited"][enrolment.outcome_reason or enrolment.status] += 1
        # A/B message variants: the treated members of each variant, counted as the arm
        variant = None
        if enrolment.arm == "treatment" and enrolment.variant is not None:
            journey_variants = variants[enrolment.journey]
            if enrolment.variant not in journey_variants:
                journey_variants[enrolment.variant] = dict.fromkeys(VARIANT_COUNTS, 0)
            variant = journey_variants[enrolment.variant]
            variant["entered"] += 1
            variant["messaged"] += int((enrolment.messages_sent or 0) > 0)
        window = windows.get(enrolment.cohort_id)
        end = enrolment.entered_at + timedelta(days=window) if window is not None else None
        if end is not None and end <= now:
            arm["window_closed"] += 1
            paid = orders.get(enrolment.member_id, [])
            converted = any(enrolment.entered_at <= t <= end for t, _ in paid)
            arm["converted_in_window"] += converted
            groups = [(enrolment.journey, enrolment.arm)]
            if variant is not None:
                variant["window_closed"] += 1
                variant["converted_in_window"] += converted
                groups.append((enrolment.journey, "variant", enrolment.variant))
            for group in groups:
                counts = windows_of[group].setdefault(enrolment.member_id, [0, 0])
                counts[0] += 1
                counts[1] += converted

    def effect(*group) -> float:
        return design_effect(windows_of.get(group, {}).values())

    journeys = {}
    for journey, arms in funnels.items():
        t, c = arms["treatment"], arms["control"]
        control_effect = effect(journey, "control")
        result = uplift(
            t["converted_in_window"],
            t["window_closed"],
            c["converted_in_window"],
            c["window_closed"],
            treated_design_effect=effect(journey, "treatment"),
            control_design_effect=control_effect,
        )
        journeys[journey] = {
            "arms": {a: {**v, "exited": dict(v["exited"])} for a, v in arms.items()},
            "uplift": result.as_dict(),
            # each message variant's treated members against the whole holdout
            "variants": {
                name: {
                    **counts,
                    "uplift": uplift(
                        counts["converted_in_window"],
                        counts["window_closed"],
                        c["converted_in_window"],
                        c["window_closed"],
                        treated_design_effect=effect(journey, "variant", name),
                        control_design_effect=control_effect,
                    ).as_dict(),
                }
                for name, counts in sorted(variants.get(journey, {}).items())
            },
        }
    # ---------------------------------------------------------------- messages vs the cap
    cap = programme.messaging["frequency_cap"]
    per_member: dict[str, list[datetime]] = defaultdict(list)
    per_week: Counter = Counter()
    by_channel: Counter = Counter()
    total_messages = 0
    for message in MESSAGES.scan():
        total_messages += 1
        by_channel[message.channel] += 1
        if message.purpose == "marketing":
            per_member[message.member_id].append(message.sent_at)
            year, week, _ = message.sent_at.isocalendar()
            per_week[(message.member_id, f"{year}-W{week:02d}")] += 1
    worst_rolling = 0
    span = timedelta(days=cap["per_days"])
    for times in per_member.values():
        times.sort()
        start = 0
        for end in range(len(times)):
            while times[end] - times[start] >= span:
                start += 1
            worst_rolling = max(worst_rolling, end - start + 1)
    weeks: dict[str, list[int]] = defaultdict(list)
    for (_member, week), count in per_week.items():
        weeks[week].append(count)
    messages = {
        "total": total_messages,
        "by_channel": dict(by_channel),
        "cap": cap,
        "max_in_any_rolling_window": worst_rolling,
        "weekly": [
            {
                "week": week,
                "members_messaged": len(counts),
                "per_member_mean": sum(counts) / len(counts),
                "per_member_max": max(counts),
            }
            for week, counts in sorted(weeks.items())
        ],
        "per_member_per_week": (sum(per_week.values()) / (len(live) * max(1, len(weeks))))
        if live
        else None,
    }
    # ---------------------------------------------------------------- points
    points = Counter()
    for entry in LEDGER.scan():
        points[entry.kind] += int(entry.points)
    outstanding = sum(int(m.points_balance or 0) for m in live)
    return {
        "generated_at": now.isoformat(),
        "programme": {"name": programme.doc["programme"]["name"], "version": programme.version},
        "members": {"total": len(members), "live": len(live), "erased": len(members) - len(live)},
        "stages": {s: stages.get(s, 0) for s in STAGES},
        "stage_series": series,
        "tiers": {t: tiers.get(t, 0) for t in ladder},
        "rates": rates,
        "journeys": journeys,
        "messages": messages,
        "points": {
            "issued": points.get("earn", 0) + points.get("bonus", 0) + points.get("gift", 0),
            "earned_on_orders": points.get("earn", 0),
            "bonuses": points.get("bonus", 0),
            "gifts": points.get("gift", 0),  # journeys' points gifts (birthday)
            "reversed": -points.get("reversal", 0),
            "redeemed": -points.get("redemption", 0),
            "expired": -points.get("expiry", 0),
            "outstanding": outstanding,
        },
        "revenue": format(revenue, "f"),
    }
