"""Lifecycle stages: prospect, new, active, loyal, at_risk, lapsed, churned.

All thresholds come from ``programme.stages`` (domain.md §1). Durations are exact
elapsed time (``now - last order >= 60 days``), so the result does not depend on when a
sweep happens to run; the review-date index (:mod:`memberflow.loyalty.review`) files a
member under the first UTC day on which the change is due.

Rules, and the decisions taken where the domain text is silent:

- ``prospect`` and ``new`` change only on an event: a purchase (→ ``active``,
  ``first_purchase``) or, for ``new``, reaching the activation goal
  (``interactions_needed`` interactions within ``window_days`` of joining →
  ``active``, ``interactions_met``). A ``new`` member who never buys **stays ``new``**,
  however long ago they joined: they never bought, so they are not "lapsed", and the
  win-back journey (and its KPI) is for members who stopped buying. The activation
  journey owns them.
- ``active``/``loyal`` → ``at_risk`` when the time since the last activity reaches
  ``at_risk.days_without_order`` (reason ``no_order_<n>d``) or
  ``personal_gap_multiplier`` × the median gap between the member's orders (reason
  ``personal_gap``; only with at least ``min_orders_for_personal_rule`` orders and a
  positive median gap; never sooner than ``personal_min_days``, default 14), whichever
  is earlier (a tie goes to the fixed rule).
- ``active``/``loyal``/``at_risk`` → ``lapsed`` after ``lapsed.days_without_order``
  (reason ``no_order_<n>d``). A member the sweep reaches late may skip ``at_risk``.
- The "last activity" is the latest of: the last order, ``active_since`` and
  ``activated_at``; so a member activated by interactions (no order yet) is measured
  from activation, and a member just won back from their win-back purchase.
- ``active`` → ``loyal`` when active for ``loyal.min_active_days`` (since
  ``active_since``) and at least ``loyal.min_orders`` orders in the last
  ``orders_window_days`` (reason ``loyal_threshold``). ``loyal`` is **not** demoted to
  ``active`` when the order count later drops: only the at-risk/lapsed rules move a
  loyal member, and a member who comes back from ``at_risk`` re-earns ``loyal``
  (``active_since`` restarts).
- The time rules only move members forward: ``at_risk``, ``lapsed`` and ``churned``
  are left only by a purchase (``recalled``, ``won_back``), even if the configuration
  is later loosened.
- ``churned`` is set only by the win-back journey (:func:`on_winback_failed`).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from statistics import median

from memberflow.config.programme import Programme
from memberflow.loyalty._time import require_aware

PROSPECT = "prospect"
NEW = "new"
ACTIVE = "active"
LOYAL = "loyal"
AT_RISK = "at_risk"
LAPSED = "lapsed"
CHURNED = "churned"
STAGES = (PROSPECT, NEW, ACTIVE, LOYAL, AT_RISK, LAPSED, CHURNED)
ENGAGED = frozenset({ACTIVE, LOYAL})


@dataclass(frozen=True)
class MemberFacts:
    """What the stage rules need to know about a member."""

    stage: str
    joined_at: datetime | None
    activated_at: datetime | None  # first purchase or activation goal met
    active_since: datetime | None  # when the member last entered active
    order_times: tuple[datetime, ...]  # paid, not reversed; most recent last (~50 kept)
    interactions_in_first_window: int
    won_back: bool = False


@dataclass(frozen=True)
class StageDecision:
    stage: str
    reason: str
    changed: bool
    won_back: bool = False  # this decision is a win-back (lapsed/churned -> active)


def _check(facts: MemberFacts, now: datetime) -> None:
    if facts.stage not in STAGES:
        raise ValueError(f"unknown stage '{facts.stage}'")
    require_aware(now, "now")


def _keep(facts: MemberFacts, reason: str = "unchanged") -> StageDecision:
    return StageDecision(facts.stage, reason, False)


def _move(facts: MemberFacts, stage: str, reason: str, won_back: bool = False) -> StageDecision:
    return StageDecision(stage, reason, stage != facts.stage, won_back)


def _orders(facts: MemberFacts) -> tuple[datetime, ...]:
    return tuple(sorted(facts.order_times))


def last_activity(facts: MemberFacts) -> datetime | None:
    """Latest of last order, ``active_since`` and ``activated_at`` (``joined_at`` if none)."""
    orders = _orders(facts)
    last_order = orders[-1] if orders else None
    candidates = [t for t in (last_order, facts.active_since, facts.activated_at) if t]
    if candidates:
        return max(candidates)
    return facts.joined_at


def median_gap(order_times: Iterable[datetime]) -> timedelta | None:
    """Median gap between consecutive orders; ``None`` with fewer than two orders."""
    orders = sorted(order_times)
    gaps = [(b - a).total_seconds() for a, b in zip(orders, orders[1:], strict=False)]
    if not gaps:
        return None
    return timedelta(seconds=median(gaps))


# The personal rule's floor when the programme does not set ``personal_min_days``.
PERSONAL_MIN_DAYS = 14


def at_risk_after(facts: MemberFacts, programme: Programme) -> tuple[timedelta, str]:
    """Idle time after which an engaged member is at risk, and the reason string."""
    cfg = programme.stages["at_risk"]
    fixed = timedelta(days=cfg["days_without_order"])
    reason = f"no_order_{cfg['days_without_order']}d"
    orders = _orders(facts)
    if len(orders) >= cfg["min_orders_for_personal_rule"]:
        gap = median_gap(orders)
        if gap is not None and gap > timedelta(0):
            # floored: three orders in four days (a 2-day median) must not make the
            # member at risk four days later and start a recall campaign
            floor = timedelta(days=cfg.get("personal_min_days", PERSONAL_MIN_DAYS))
            personal = max(gap * float(cfg["personal_gap_multiplier"]), floor)
            if personal < fixed:
                return personal, "personal_gap"
    return fixed, reason


def _lapsed_after(programme: Programme) -> tuple[timedelta, str]:
    days = programme.stages["lapsed"]["days_without_order"]
    return timedelta(days=days), f"no_order_{days}d"


def orders_in_window(order_times: Iterable[datetime], end: datetime, days: int) -> int:
    """Orders in the half-open window ``(end - days, end]``."""
    start = end - timedelta(days=days)
    return sum(1 for t in order_times if start < t <= end)


def loyal_met(facts: MemberFacts, programme: Programme, now: datetime) -> bool:
    cfg = programme.stages["loyal"]
    if facts.active_since is None:
        return False
    if now - facts.active_since < timedelta(days=cfg["min_active_days"]):
        return False
    return orders_in_window(facts.order_times, now, cfg["orders_window_days"]) >= cfg["min_orders"]


def _activation(facts: MemberFacts, programme: Programme) -> str | None:
    if facts.order_times:
        return "first_purchase"
    needed = programme.stages["activation"]["interactions_needed"]
    if facts.interactions_in_first_window >= needed:
        return "interactions_met"
    if facts.activated_at is not None:
        return "activated"
    return None


def evaluate_stage(facts: MemberFacts, programme: Programme, now: datetime) -> StageDecision:
    """The stage the member should be in at ``now``, given no new event."""
    _check(facts, now)
    stage = facts.stage
    if stage in (PROSPECT, LAPSED, CHURNED):
        return _keep(facts)
    if stage == NEW:
        reason = _activation(facts, programme)
        return _move(facts, ACTIVE, reason) if reason else _keep(facts)
    anchor = last_activity(facts)
    if anchor is None:
        return _keep(facts, "no_activity_date")
    idle = now - anchor
    lapse, lapse_reason = _lapsed_after(programme)
    if idle >= lapse:
        return _move(facts, LAPSED, lapse_reason)
    if stage == AT_RISK:
        return _keep(facts)
    risk, risk_reason = at_risk_after(facts, programme)
    if idle >= risk:
        return _move(facts, AT_RISK, risk_reason)
    if stage == ACTIVE and loyal_met(facts, programme, now):
        return _move(facts, LOYAL, "loyal_threshold")
    return _keep(facts)


def next_stage_review(facts: MemberFacts, programme: Programme, now: datetime) -> datetime | None:
    """Earliest moment the stage could change with no new event; ``None`` if never.

    Pass the facts *after* applying the current decision. A moment already past is
    returned as ``now`` (due at once). UTC. ``new``, ``prospect``, ``lapsed`` and ``churned``
    change only on events (purchase, interaction, the win-back journey), so ``None``.
    """
    _check(facts, now)
    stage = facts.stage
    if stage not in (ACTIVE, LOYAL, AT_RISK):
        return None
    anchor = last_activity(facts)
    if anchor is None:
        return None
    lapse, _ = _lapsed_after(programme)
    candidates = [anchor + lapse]
    if stage in ENGAGED:
        risk, _ = at_risk_after(facts, programme)
        candidates.append(anchor + risk)
    if stage == ACTIVE and facts.active_since is not None:
        cfg = programme.stages["loyal"]
        moment = facts.active_since + timedelta(days=cfg["min_active_days"])
        known = orders_in_window(
            [t for t in facts.order_times if t <= now], moment, cfg["orders_window_days"]
        )
        # Orders only leave the window as time passes: without a new order, loyalty is
        # reachable only at the moment the active-days condition is met.
        if moment > now and known >= cfg["min_orders"]:
            candidates.append(moment)
        elif moment <= now and loyal_met(facts, programme, now):
            candidates.append(now)
    return max(min(candidates), now).astimezone(UTC)


def on_purchase(facts: MemberFacts, programme: Programme, now: datetime) -> StageDecision:
    """Stage after a paid order at ``now``; ``facts.order_times`` already includes it.

    prospect/new → active (``first_purchase``); at_risk → active (``recalled``);
    lapsed/churned → active (``won_back``, with ``won_back=True``); active → loyal if the
    loyal threshold is now met (``loyal_threshold``); otherwise unchanged (``purchase``).
    """
    _check(facts, now)
    stage = facts.stage
    if stage in (PROSPECT, NEW):
        return _move(facts, ACTIVE, "first_purchase")
    if stage == AT_RISK:
        return _move(facts, ACTIVE, "recalled")
    if stage in (LAPSED, CHURNED):
        return _move(facts, ACTIVE, "won_back", won_back=True)
    if stage == ACTIVE and loyal_met(facts, programme, now):
        return _move(facts, LOYAL, "loyal_threshold")
    return _keep(facts, "purchase")


def on_winback_failed(facts: MemberFacts) -> StageDecision:
    """The win-back journey ended without a purchase: lapsed → churned."""
    if facts.stage == LAPSED:
        return _move(facts, CHURNED, "winback_no_conversion")
    return _keep(facts)


def apply_decision(facts: MemberFacts, decision: StageDecision, now: datetime) -> MemberFacts:
    """The facts after ``decision``: stage, and the dates that entering a stage sets.

    Entering ``active`` from outside active/loyal sets ``active_since = now``; the first
    entry into active/loyal sets ``activated_at``; ``won_back`` is sticky ("was won back
    at least once"). Orders are not touched: the store records them.
    """
    require_aware(now, "now")
    if not decision.changed:
        return facts
    entering_active = decision.stage == ACTIVE and facts.stage not in ENGAGED
    engaged = decision.stage in ENGAGED
    return replace(
        facts,
        stage=decision.stage,
        active_since=now if entering_active else facts.active_since,
        activated_at=facts.activated_at or (now if engaged else None),
        won_back=facts.won_back or decision.won_back,
    )
