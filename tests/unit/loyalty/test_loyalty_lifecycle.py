"""Stage rules + review index together: a simulated daily sweep never misses a change.

A tiny in-memory "store" files each member under ``review_key(next_stage_review(...))``
and a sweep reads only ``due_keys(day)`` once a day, as the real sweep does. Each
change must happen at the first sweep that can see it, never before it is due, and
whatever time of day the sweep runs.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, time, timedelta

import pytest

from memberflow.config.programme import Programme
from memberflow.loyalty import stages
from memberflow.loyalty.review import due_keys, review_key
from memberflow.loyalty.stages import MemberFacts

T0 = datetime(2026, 1, 5, 13, 37, 11, tzinfo=UTC)


@dataclass
class Store:
    programme: Programme
    facts: dict[str, MemberFacts] = field(default_factory=dict)
    keys: dict[str, str | None] = field(default_factory=dict)
    log: list[tuple[str, datetime, str, str]] = field(default_factory=list)

    def _save(self, member_id: str, facts: MemberFacts, decision, now: datetime) -> None:
        if decision.changed:
            self.log.append((member_id, now, decision.stage, decision.reason))
        facts = stages.apply_decision(facts, decision, now)
        self.facts[member_id] = facts
        moment = stages.next_stage_review(facts, self.programme, now)
        self.keys[member_id] = review_key(moment, member_id)

    def join(self, member_id: str, now: datetime) -> None:
        facts = MemberFacts("new", now, None, None, (), 0)
        self._save(member_id, facts, stages.StageDecision("new", "signup", False), now)

    def purchase(self, member_id: str, now: datetime) -> None:
        facts = self.facts[member_id]
        facts = replace(facts, order_times=(*facts.order_times, now)[-50:])
        self._save(member_id, facts, stages.on_purchase(facts, self.programme, now), now)

    def winback_failed(self, member_id: str, now: datetime) -> None:
        facts = self.facts[member_id]
        self._save(member_id, facts, stages.on_winback_failed(facts), now)

    def sweep(self, now: datetime) -> int:
        wanted = set(due_keys(now.date()))
        due = [m for m, key in self.keys.items() if key in wanted]
        for member_id in due:
            facts = self.facts[member_id]
            self._save(member_id, facts, stages.evaluate_stage(facts, self.programme, now), now)
        return len(due)


def run(store: Store, events: list[tuple[datetime, str, str]], sweep_at: time, days: int):
    sweeps = [
        (datetime.combine((T0 + timedelta(days=d)).date(), sweep_at, tzinfo=UTC), "sweep", "")
        for d in range(days)
    ]
    for when, kind, member_id in sorted(events + sweeps):
        if kind == "sweep":
            store.sweep(when)
        else:
            getattr(store, kind)(member_id, when)


@pytest.mark.parametrize("sweep_at", [time(0, 5), time(13, 37, 11), time(23, 55)])
@pytest.mark.parametrize("which", ["programme", "fitness"])
def test_sweep_catches_every_change_on_time(request, which, sweep_at):
    prog = request.getfixturevalue(which)
    risk_days = prog.stages["at_risk"]["days_without_order"]
    lapse_days = prog.stages["lapsed"]["days_without_order"]
    store = Store(prog)
    last = T0 + timedelta(days=1)
    events = [(T0, "join", "m1"), (last, "purchase", "m1")]
    run(store, events, sweep_at, lapse_days + 5)

    changes = [(at, stage, reason) for _, at, stage, reason in store.log]
    assert [c[1:] for c in changes] == [
        ("active", "first_purchase"),
        ("at_risk", f"no_order_{risk_days}d"),
        ("lapsed", f"no_order_{lapse_days}d"),
    ]
    for (at, _, _), due in zip(
        changes[1:], (timedelta(days=risk_days), timedelta(days=lapse_days)), strict=True
    ):
        assert last + due <= at < last + due + timedelta(days=2)
        if sweep_at == time(0, 5):  # the first sweep after the moment
            assert at - (last + due) < timedelta(days=1)
    assert store.keys["m1"] is None  # lapsed: nothing pending, out of the sparse index


def test_full_lifecycle_with_default_programme(programme):
    store = Store(programme)
    events = [(T0, "join", "m1")]
    events += [(T0 + timedelta(days=3 + 30 * k), "purchase", "m1") for k in range(8)]
    last = T0 + timedelta(days=3 + 30 * 7)
    winback_ends = last + timedelta(days=180 + 45)
    events += [(winback_ends, "winback_failed", "m1")]
    events += [(winback_ends + timedelta(days=10), "purchase", "m1")]
    run(store, events, time(0, 5), 600)
    assert [(stage, reason) for _, _, stage, reason in store.log] == [
        ("active", "first_purchase"),
        ("loyal", "loyal_threshold"),
        ("at_risk", "no_order_60d"),
        ("lapsed", "no_order_180d"),
        ("churned", "winback_no_conversion"),
        ("active", "won_back"),
        ("at_risk", "no_order_60d"),
    ]
    assert store.facts["m1"].won_back


def test_regular_member_goes_at_risk_on_personal_gap(fitness):
    store = Store(fitness)
    events = [(T0, "join", "m1")]
    events += [(T0 + timedelta(days=2 * k, hours=k % 3), "purchase", "m1") for k in range(1, 11)]
    run(store, events, time(6, 0), 40)
    reasons = [reason for _, _, _, reason in store.log]
    assert reasons[:2] == ["first_purchase", "personal_gap"]
