"""The daily sweep: due members only, idempotent, restartable; stages, tiers, expiry, RFM."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from memberflow.journeys.entry import JourneyEntry
from memberflow.loyalty import service, sweep
from memberflow.loyalty.rfm_job import recompute_rfm
from memberflow.runtime import app_context
from memberflow.store import Enrolment, LedgerEntry, Member
from memberflow_local.stack import LocalStack
from tests.integration.test_loyalty_support import apply, make_member, paid, state

NOW = datetime(2026, 1, 5, 8, 0, tzinfo=UTC)  # the local stack's clock at start
FITNESS = Path(__file__).parents[1] / "unit" / "loyalty" / "fitness_club.json"


class Journeys:
    """Records hand-offs like the journey engine would (idempotent per cohort)."""

    def __init__(self, fail: bool = False):
        self.cohorts: dict[str, set[str]] = {}
        self.fail = fail

    def enrol(self, journey, member_ids, cohort_id):
        if self.fail:
            raise RuntimeError("journey engine down")
        self.cohorts.setdefault(cohort_id, set()).update(member_ids)


@pytest.fixture(autouse=True)
def sweeps_run_after_the_index_settles(monkeypatch):
    """These tests call the sweep directly at chosen times, on a virtual clock that
    stands still. Scheduled, it runs at 02:00, long after the writes it finds through
    the (eventually consistent) review-date index: let the clock pass the lag first."""
    from memberflow_local import tables
    from memberflow_local.clock import active_clock

    run = sweep.run_sweep

    def run_sweep(*args, **kwargs):
        clock = active_clock()
        if clock is not None and tables.index_lag.active:
            clock.advance(timedelta(seconds=tables.index_lag.seconds))
        return run(*args, **kwargs)

    monkeypatch.setattr(sweep, "run_sweep", run_sweep)


def seed(programme) -> list[str]:
    """Members due today for different reasons, and members not due at all."""
    ids = []
    for i in range(4):  # last order 181 days ago, at risk since day 61: lapsed today
        make_member(f"gone{i}", programme=programme, joined_at=NOW - timedelta(days=400))
        apply(
            f"gone{i}",
            paid(f"g{i}", 50, NOW - timedelta(days=181)),
            programme=programme,
            now=NOW - timedelta(days=181),
        )
        ids.append(f"gone{i}")
    sweep.run_sweep(programme=programme, now=NOW - timedelta(days=119), journeys=Journeys())
    for i in range(6):  # last order 61 days ago: at_risk
        make_member(f"risk{i}", programme=programme, joined_at=NOW - timedelta(days=300))
        apply(
            f"risk{i}",
            paid(f"r{i}", 100 + i, NOW - timedelta(days=61)),
            programme=programme,
            now=NOW - timedelta(days=61),
        )
        ids.append(f"risk{i}")
    for i in range(4):  # joined 8 days ago, never bought: activation hand-off
        make_member(f"new{i}", programme=programme, joined_at=NOW - timedelta(days=8))
        ids.append(f"new{i}")
    for i in range(6):  # bought yesterday: nothing due for two months
        make_member(f"fine{i}", programme=programme, joined_at=NOW - timedelta(days=100))
        apply(
            f"fine{i}",
            paid(f"f{i}", 80, NOW - timedelta(days=1)),
            programme=programme,
            now=NOW - timedelta(days=1),
        )
        ids.append(f"fine{i}")
    return ids


def catch_up(member_id: str, until: datetime, programme) -> None:
    """Run the daily sweep on each day the member is due, up to ``until`` (what the
    schedule would have done, without sweeping every empty day in between)."""
    from memberflow.loyalty.review import review_day

    while True:
        member = Member.get(member_id)
        if member.review_at is None or member.review_at > until:
            return
        day = review_day(member.review_at)
        at = datetime.combine(day, datetime.min.time(), tzinfo=UTC) + timedelta(hours=2)
        sweep.run_sweep(programme=programme, now=at, journeys=Journeys())


def snapshot(ids: list[str]) -> dict:
    out = {}
    for member_id in ids:
        member = state(member_id)
        member["ledger"] = sorted(
            (e.entry_key, int(e.points)) for e in LedgerEntry.query(member_id)
        )
        out[member_id] = member
    return out


def test_sweep_moves_due_members_hands_them_off_and_a_rerun_changes_nothing(stack):
    programme = app_context().programme
    ids = seed(programme)
    journeys = Journeys()
    result = sweep.run_sweep(programme=programme, now=NOW, journeys=journeys)
    assert result["stage_changes"] == {"at_risk": 6, "lapsed": 4}
    assert result["handoffs"] == {"dormancy_recall": 6, "winback": 4, "activation": 4}
    assert result["members_read"] == 14  # the six "fine" members were not read
    assert journeys.cohorts["dormancy_recall-2026-01-05"] == {f"risk{i}" for i in range(6)}
    assert journeys.cohorts["activation-2026-01-05"] == {f"new{i}" for i in range(4)}
    member = Member.get("risk0")
    assert (member.stage, member.stage_reason) == ("at_risk", "no_order_60d")
    assert member.stage_history[-1].at == NOW and member.pending_handoff is None
    assert member.review_key > "REVIEW#2026-01-05"
    before = snapshot(ids)
    again = sweep.run_sweep(programme=programme, now=NOW + timedelta(hours=5), journeys=journeys)
    assert again["members_read"] == 0 and snapshot(ids) == before


def _members_due_for_at_risk(programme, count: int) -> None:
    """``due0``.. members whose one order was 64 days ago: at risk at NOW's sweep."""
    for i in range(count):
        make_member(f"due{i}", programme=programme, joined_at=NOW - timedelta(days=300))
        apply(
            f"due{i}",
            paid(f"d{i}", 10, NOW - timedelta(days=64)),
            programme=programme,
            now=NOW - timedelta(days=64),
        )


def test_sweep_reads_only_the_due_members_and_never_scans(stack, monkeypatch):
    programme = app_context().programme
    for i in range(120):  # not due: recent buyers, and members with no pending change
        make_member(f"idle{i:03}", programme=programme, joined_at=NOW - timedelta(days=30))
        if i % 2:
            apply(
                f"idle{i:03}",
                paid(f"i{i}", 10, NOW - timedelta(days=2)),
                programme=programme,
                now=NOW - timedelta(days=2),
            )
    _members_due_for_at_risk(programme, 5)
    fetched = []
    real_batch_get = Member.batch_get

    def counting_batch_get(keys, *args, **kwargs):
        for item in real_batch_get(keys, *args, **kwargs):
            fetched.append(item.member_id)
            yield item

    def no_scan(*args, **kwargs):
        raise AssertionError("the sweep scanned the members table")

    monkeypatch.setattr(Member, "batch_get", counting_batch_get)
    monkeypatch.setattr(Member, "scan", no_scan)
    result = sweep.run_sweep(programme=programme, now=NOW, journeys=Journeys())
    assert sorted(fetched) == [f"due{i}" for i in range(5)]
    assert result["index_entries"] == 5 and result["stage_changes"] == {"at_risk": 5}


def _interrupted_and_uninterrupted(tmp_fail_after: int | None, monkeypatch) -> dict:
    with LocalStack() as local:
        programme = app_context().programme
        ids = seed(programme)
        journeys = Journeys()
        if tmp_fail_after is not None:
            real = sweep.review_member
            calls = []

            def flaky(*args, **kwargs):
                calls.append(1)
                if len(calls) > tmp_fail_after:
                    raise TimeoutError("lambda timed out")
                return real(*args, **kwargs)

            monkeypatch.setattr(sweep, "review_member", flaky)
            with pytest.raises(TimeoutError):
                sweep.run_sweep(programme=programme, now=NOW, journeys=journeys)
            monkeypatch.setattr(sweep, "review_member", real)
        sweep.run_sweep(programme=programme, now=NOW + timedelta(minutes=10), journeys=journeys)
        out = snapshot(ids)
        out["cohorts"] = journeys.cohorts
        local.clock.wait_idle(timeout=30)
        return out


def test_a_sweep_interrupted_half_way_and_run_again_reaches_the_same_end_state(monkeypatch):
    interrupted = _interrupted_and_uninterrupted(7, monkeypatch)
    uninterrupted = _interrupted_and_uninterrupted(None, monkeypatch)
    for member_id, member in uninterrupted.items():
        if member_id == "cohorts":
            continue
        for name in ("stage_changed_at",):
            member.pop(name, None)
    assert interrupted["cohorts"] == uninterrupted["cohorts"]

    def strip(snap):
        return {
            k: {f: v for f, v in m.items() if f != "history"}
            for k, m in snap.items()
            if k != "cohorts"
        }

    assert strip(interrupted) == strip(uninterrupted)
    assert [(h[1], h[2]) for h in interrupted["risk0"]["history"]] == [
        (h[1], h[2]) for h in uninterrupted["risk0"]["history"]
    ]


def test_a_failed_hand_off_is_recorded_and_retried_the_next_day(stack):
    programme = app_context().programme
    make_member("nudge", programme=programme, joined_at=NOW - timedelta(days=8))
    result = sweep.run_sweep(programme=programme, now=NOW, journeys=Journeys(fail=True))
    assert result["handoff_errors"] == {"activation": 1}
    assert Member.get("nudge").pending_handoff == "activation"
    journeys = Journeys()
    tomorrow = NOW + timedelta(days=1)
    assert sweep.run_sweep(programme=programme, now=tomorrow, journeys=journeys)["handoffs"] == {
        "activation": 1
    }
    assert journeys.cohorts == {"activation-2026-01-06": {"nudge"}}
    assert Member.get("nudge").handoffs == ["activation#2026-01-06"]


def test_stage_transitions_through_the_scheduled_sweep_on_the_virtual_clock(stack):
    programme = app_context().programme
    start = stack.clock.now()
    make_member("life", programme=programme, joined_at=start - timedelta(days=90))
    bought = start - timedelta(days=55)
    apply("life", paid("life-1", 120, bought), programme=programme, now=bought)
    make_member("idle", programme=programme, joined_at=start)
    stack.advance(days=8)  # the scheduled 02:00 and 14:00 sweeps, and the journeys they start
    # due 7 days after joining (08:00 on the 12th): the afternoon run of that day
    assert Enrolment.get("idle", "activation#activation-2026-01-12-pm").journey == "activation"
    member = Member.get("life")
    assert (member.stage, member.stage_reason) == ("at_risk", "no_order_60d")
    assert list(Enrolment.query("life", Enrolment.enrolment_key.startswith("dormancy_recall#")))
    # 180 days after the order (the sweep of that day, with the real journey engine).
    lapse_day = bought + timedelta(days=181)
    result = sweep.run_sweep(
        programme=programme, now=lapse_day, journeys=JourneyEntry(app_context())
    )
    assert result["stage_changes"] == {"lapsed": 1} and result["handoffs"] == {"winback": 1}
    member = Member.get("life")
    assert member.stage == "lapsed"
    assert list(Enrolment.query("life", Enrolment.enrolment_key.startswith("winback#")))
    # A purchase wins the member back at once, and moves the review date.
    apply("life", paid("life-2", 60, lapse_day), programme=programme, now=lapse_day)
    member = Member.get("life")
    assert (member.stage, member.stage_reason, member.won_back) == ("active", "won_back", True)
    assert member.review_at == lapse_day + timedelta(days=60)
    stack.clock.wait_idle(timeout=30)


def test_tier_review_downgrades_resets_and_points_expire_oldest_first(stack):
    programme = app_context().programme
    joined = NOW - timedelta(days=400)
    make_member("vip", programme=programme, joined_at=joined)
    first = joined + timedelta(days=1)
    apply("vip", paid("v1", 12000, first), programme=programme, now=first)
    second = NOW - timedelta(days=40)
    apply("vip", paid("v2", 100, second), programme=programme, now=second)
    member = Member.get("vip")
    assert member.tier == "gold" and member.points_balance == 12000 + 150
    # The first order's points expire 12 months after it, and the first monthly review
    # after it leaves the rolling window downgrades the tier (100 in 12 months: base).
    catch_up("vip", NOW, programme)
    member = Member.get("vip")
    assert member.tier == "base" and member.stage == "active"
    assert member.points_balance == 150
    expiry = [e for e in LedgerEntry.query("vip") if e.kind == "expiry"]
    assert [int(e.points) for e in expiry] == [-12000]
    assert sum(int(e.points) for e in LedgerEntry.query("vip")) == member.points_balance
    assert member.tier_reviewed_at is not None and member.tier_reviewed_at <= NOW


def test_a_member_who_stops_buying_drops_to_the_base_tier_after_12_months(stack):
    programme = app_context().programme
    joined = NOW - timedelta(days=30)
    make_member("quiet", programme=programme, joined_at=joined)
    apply("quiet", paid("q1", 30000, joined), programme=programme, now=joined)
    assert Member.get("quiet").tier == "platinum"
    catch_up("quiet", NOW + timedelta(days=400), programme)
    member = Member.get("quiet")
    assert member.stage == "lapsed" and member.tier == "base"
    assert member.points_balance == 0  # expired after 12 months


def test_the_fitness_club_counts_visits_for_tiers_and_has_its_own_stage_clock(monkeypatch):
    # The local stack exports the programme file into os.environ: undo it afterwards.
    monkeypatch.setenv("MEMBERFLOW_PROGRAMME_FILE", str(FITNESS))
    with LocalStack(programme_file=str(FITNESS)) as local:
        programme = app_context().programme
        assert programme.tiers["measure"] == "visits"
        start = local.clock.now()
        make_member("gym", programme=programme, joined_at=start)
        for day in range(45):
            at = start + timedelta(days=day, hours=1)
            apply("gym", paid(f"visit{day}", 0, at), programme=programme, now=at)
        member = Member.get("gym")
        assert member.tier == "silver"  # 45 visits in 3 months
        # 10 points a visit, x1.5 once silver (the 45th visit was earned at standard).
        assert member.points_balance == 45 * 10
        last = start + timedelta(days=44, hours=1)
        result = sweep.run_sweep(
            programme=programme, now=last + timedelta(days=4), journeys=Journeys()
        )
        # Daily visitors: 3 x the median gap (1 day) comes long before the fixed 14 days.
        assert result["stage_changes"] == {"at_risk": 1}
        assert Member.get("gym").stage_reason == "personal_gap"
        local.clock.wait_idle(timeout=30)


def test_rfm_scores_the_base_in_pages_and_writes_only_changes(stack):
    programme = app_context().programme
    for i in range(10):
        make_member(f"rfm{i}", programme=programme, joined_at=NOW - timedelta(days=400))
        for n in range(i % 3 + 1):
            at = NOW - timedelta(days=10 * i + n)
            apply(f"rfm{i}", paid(f"rfm{i}-{n}", 10 * (i + 1), at), programme=programme, now=at)
    make_member("nobuy", programme=programme, joined_at=NOW)
    first = recompute_rfm(
        programme=programme, now=NOW, journeys=JourneyEntry(app_context()), segments=3
    )
    assert first == {"scored": 11, "written": 11}
    assert Member.get("nobuy").rfm == "111"
    assert Member.get("rfm0").rfm[0] == "5" and Member.get("rfm9").rfm[0] == "1"
    assert (
        recompute_rfm(
            programme=programme, now=NOW, journeys=JourneyEntry(app_context()), segments=3
        )["written"]
        == 0
    )
    assert json.dumps(service.member_ledger("rfm0"))  # ledger view is JSON-ready


def test_a_hand_off_is_written_on_the_member_as_reviewed_without_reading_it_again(
    stack, monkeypatch
):
    """One write per handed-off member after the review (no GetItem); a member written
    between the review and the hand-off (an order) keeps that write and is still handed."""
    from memberflow.store import unit_of_work

    programme = app_context().programme
    _members_due_for_at_risk(programme, 4)
    reads = []
    real_read = unit_of_work._read

    def counting_read(member_id, order):
        reads.append(member_id)
        return real_read(member_id, order)

    class OrderDuringHandOff(Journeys):
        def enrol(self, journey, member_ids, cohort_id):
            super().enrol(journey, member_ids, cohort_id)
            apply("due2", paid("late", 25, NOW), programme=programme, now=NOW)

    monkeypatch.setattr(unit_of_work, "_read", counting_read)
    journeys = OrderDuringHandOff()
    result = sweep.run_sweep(programme=programme, now=NOW, journeys=journeys)
    assert result["handoffs"] == {"dormancy_recall": 4}
    assert journeys.cohorts["dormancy_recall-2026-01-05"] == {f"due{i}" for i in range(4)}
    # the order read due2 once; the hand-offs read nobody (due2's replays on the
    # item its failed transaction returned)
    assert reads.count("due2") <= 1 and not {"due0", "due1", "due3"} & set(reads)
    for i in range(4):
        member = Member.get(f"due{i}", consistent_read=True)
        assert member.pending_handoff is None
        assert member.handoffs[-1] == "dormancy_recall#2026-01-05"
    assert Member.get("due2", consistent_read=True).order_count == 2  # the order kept


class StartedCohorts(Journeys):
    """As the journey engine: a cohort takes nobody new once started (its first call)."""

    def enrol(self, journey, member_ids, cohort_id):
        from types import SimpleNamespace

        if cohort_id in self.cohorts:
            new = set(member_ids) - self.cohorts[cohort_id]
            return SimpleNamespace(skipped=dict.fromkeys(sorted(new), "cohort_started"))
        super().enrol(journey, member_ids, cohort_id)
        return SimpleNamespace(skipped={})


def test_members_due_after_a_runs_cohort_started_wait_for_the_next_runs_cohort(stack):
    """A re-run of the 02:00 run later in the morning (a retry, by hand) reads members due
    since; the started cohort refuses them, so they stay pending, not recorded as handed
    off, and the 14:00 run's cohort takes them."""
    programme = app_context().programme
    _members_due_for_at_risk(programme, 2)
    make_member("late", programme=programme, joined_at=NOW - timedelta(days=300))
    at_risk_at_eight = NOW.replace(hour=8) - timedelta(days=60)  # its one order
    apply("late", paid("l", 10, at_risk_at_eight), programme=programme, now=at_risk_at_eight)
    journeys = StartedCohorts()
    morning = NOW.replace(hour=2)
    first = sweep.run_sweep(programme=programme, now=morning, journeys=journeys)
    assert first["handoffs"] == {"dormancy_recall": 2}  # "late" is not due before 08:00
    rerun = sweep.run_sweep(programme=programme, now=NOW.replace(hour=10), journeys=journeys)
    assert rerun["handoffs_later"] == {"dormancy_recall": 1}
    late = Member.get("late", consistent_read=True)
    assert late.stage == "at_risk" and late.pending_handoff == "dormancy_recall"
    assert not any(h.startswith("dormancy_recall#") for h in late.handoffs or [])
    afternoon = sweep.run_sweep(programme=programme, now=NOW.replace(hour=14), journeys=journeys)
    assert afternoon["handoffs"] == {"dormancy_recall": 1}
    assert journeys.cohorts["dormancy_recall-2026-01-05-pm"] == {"late"}
    assert Member.get("late", consistent_read=True).pending_handoff is None


def test_an_erased_member_keeps_no_hand_off_record(stack):
    from memberflow.members.privacy import erase_member

    programme = app_context().programme
    _members_due_for_at_risk(programme, 1)
    erase_member("due0", now=NOW - timedelta(days=1))
    erased = Member.get("due0", consistent_read=True)
    assert erased.pending_handoff is None and erased.handoff_due_at is None
    result = sweep.run_sweep(programme=programme, now=NOW, journeys=Journeys())
    member = Member.get("due0", consistent_read=True)
    assert result["members_read"] == 1 and member.pending_handoff is None
    assert not member.handoffs  # an at-risk hand-off, refused or not, left no dated record


def _sweep_due_days(member_id: str, until: datetime, programme) -> list[datetime]:
    """catch_up, bounded (a member filed at a review it already had would loop): the
    moments the member was filed at, one sweep each."""
    from memberflow.loyalty.review import review_day

    filed = []
    for _ in range(20):
        member = Member.get(member_id)
        if member.review_at is None or member.review_at > until:
            break
        filed.append(member.review_at)
        day = review_day(member.review_at)
        at = datetime.combine(day, datetime.min.time(), tzinfo=UTC) + timedelta(hours=2)
        sweep.run_sweep(programme=programme, now=at, journeys=Journeys())
    return filed


def test_a_review_that_resets_and_lifts_the_tier_again_is_not_filed_again(stack):
    """A year after a 29 February order the reset falls on 28 February, a review day
    (20:00 Shanghai) whose window still holds the order until midnight: a sweep that
    evening resets the tier and lifts it again at once. It files the member at the next
    review (28 March), not at the one it just applied."""
    programme = app_context().programme
    joined = datetime(2024, 1, 28, 12, tzinfo=UTC)  # reviews on the 28th, 20:00 Shanghai
    make_member("leap", programme=programme, joined_at=joined)
    bought = datetime(2024, 2, 29, 2, tzinfo=UTC)
    apply("leap", paid("l1", 6000, bought), programme=programme, now=bought)
    assert Member.get("leap").tier == "silver"
    review = datetime(2025, 2, 28, 12, tzinfo=UTC)
    # the stage moves before; the points expire on 28 February 02:00 UTC, this sweep's
    _sweep_due_days("leap", review - timedelta(days=1), programme)
    assert Member.get("leap").review_at <= review

    sweep.run_sweep(programme=programme, now=review + timedelta(hours=1), journeys=Journeys())
    member = Member.get("leap")
    assert (member.tier, member.tier_reviewed_at) == ("silver", review)
    assert member.review_at == datetime(2025, 3, 28, 12, tzinfo=UTC)
    again = sweep.run_sweep(
        programme=programme, now=review + timedelta(hours=2), journeys=Journeys()
    )
    assert again["members_read"] == 0

    filed = _sweep_due_days("leap", NOW, programme)
    assert filed == sorted(set(filed)) and filed[0] > review
    member = Member.get("leap")
    assert (member.tier, member.stage) == ("base", "lapsed")
    assert member.tier_reviewed_at == datetime(2025, 3, 28, 12, tzinfo=UTC)
