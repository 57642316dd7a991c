"""The default programme's birthday journey (seed 004's 生日禮遇) end to end on the local
stack: the sweep enrols members on their birthday in their time zone, the treated get the
message and the points gift once (a failed send retried: still once), the holdout gets
neither, a member without a birthday is never due, erasure removes the birthday."""

from __future__ import annotations

import json

from memberflow import metrics
from memberflow.journeys.channels import ChannelAdapters
from memberflow.loyalty import service
from memberflow.runtime import app_context
from memberflow.store import Cohort, LedgerEntry, Member
from memberflow.store.unit_of_work import get_member
from tests.integration.test_journeys_support import (
    arm_ids,
    execution_histories,
    make_member,
    messages,
    ses_sent,
)

JOURNEY = "birthday"


def _gifts(member_id: str) -> list[LedgerEntry]:
    return [e for e in LedgerEntry.query(member_id, consistent_read=True) if e.kind == "gift"]


def _with_birthday(stack, member_id: str, birthday: str | None, timezone: str) -> None:
    # 100 points, email consent; active: no activation journey of their own
    make_member(stack, member_id, stage="active", locale="en", timezone=timezone)
    if birthday is not None:
        Member(member_id=member_id).update(actions=[Member.birthday.set(birthday)])
    service.refresh_review(member_id, programme=app_context().programme, now=stack.clock.now())


def test_the_birthday_journey_gives_the_treated_their_gift_once_on_their_local_day(
    stack, monkeypatch
):
    programme = app_context().programme
    assert programme.journey(JOURNEY)["entry"] == {"trigger": "date", "attribute": "birthday"}
    east, west, flaky = arm_ids(JOURNEY, "treatment", 3, "bd-t", programme)
    (control,) = arm_ids(JOURNEY, "control", 1, "bd-c", programme)
    # the stack's clock: 08:00 UTC on 5 January 2026 (16:00 in Shanghai)
    for member_id in (east, flaky, control):
        _with_birthday(stack, member_id, "1990-01-06", "Asia/Shanghai")
    _with_birthday(stack, west, "--01-06", "America/Los_Angeles")
    _with_birthday(stack, "bd-none", None, "Asia/Shanghai")  # no birthday: never due
    _with_birthday(stack, "bd-later", "1985-01-20", "Asia/Shanghai")

    # The first sends to `east` and `flaky` fail after their claims: released, gift and
    # all, and retried. An order's points land on `flaky` meanwhile: its release reads
    # the member again and takes back the gift alone.
    real_send, attempts = ChannelAdapters.send, []

    def send(self, channel, message, *, email, phone):
        member_id = message.member_id
        if message.journey == JOURNEY and member_id in (east, flaky) and member_id not in attempts:
            attempts.append(member_id)
            if member_id == flaky:
                now = stack.clock.now()
                service.post_credit(
                    flaky,
                    kind="bonus",
                    source="meanwhile",
                    amount=5,
                    now=now,
                    expires_at=now.replace(year=2027),
                    programme=programme,
                )
            raise ConnectionError("provider timed out")
        return real_send(self, channel, message, email=email, phone=phone)

    monkeypatch.setattr(ChannelAdapters, "send", send)
    # the PointsGifted metric counts what was given: not the two sends' released gifts
    counted = []
    monkeypatch.setattr(metrics, "count", lambda name, value=1: counted.append((name, value)))

    # The 02:00 UTC sweep of 6 January (10:00 in Shanghai, still the 5th in Los Angeles)
    stack.advance(days=1)
    stack.clock.wait_idle()
    cohort = Cohort.get("birthday-2026-01-06", consistent_read=True)
    assert sorted(cohort.member_ids) == sorted([east, flaky, control])
    # The afternoon run (14:00 UTC: 06:00 on the 6th in Los Angeles) enrols the west member
    stack.advance(days=1)
    stack.clock.wait_idle()
    assert Cohort.get("birthday-2026-01-06-pm", consistent_read=True).member_ids == [west]
    assert sorted(attempts) == sorted([east, flaky])  # the failures happened; retries sent

    sent = [m for m in messages() if m.journey == JOURNEY]
    assert sorted(m.member_id for m in sent) == sorted([east, west, flaky])
    greetings = [s for s in ses_sent(stack) if "Happy birthday" in str(s.subject)]
    assert len(greetings) == 3
    bodies = sorted(str(s.body) for s in greetings)
    assert bodies == [
        *["Our gift: 200 points. You have 300."] * 2,
        "Our gift: 200 points. You have 305.",
    ]
    for member_id in (east, west, flaky):
        (gift,) = _gifts(member_id)  # once, the failed send's claim taken back
        assert (gift.points, gift.remaining) == (200, 200)
        assert gift.expires_at.date() == gift.created_at.date().replace(year=2027)  # 12 months
        member = get_member(member_id)
        meanwhile = 5 if member_id == flaky else 0
        assert int(member.points_balance) == 300 + meanwhile
        assert sum(int(lot.remaining) for lot in member.points_lots) == 200 + meanwhile
    assert sum(value for name, value in counted if name == "PointsGifted") == 600
    # the holdout is tracked but gets neither message nor points
    assert _gifts(control) == [] and int(get_member(control).points_balance) == 100
    for member_id in ("bd-none", "bd-later"):
        assert not any(m.member_id == member_id for m in sent)
        assert get_member(member_id).pending_handoff is None

    # A retried step (the Map iteration run again) gives nothing twice
    from memberflow.journeys.steps import StepRunner

    again = StepRunner(
        channels=ChannelAdapters(email_sender="members@example.com"), now=stack.clock.now()
    )
    counts = again.run("birthday-2026-01-06", 0, 0)["counts"]
    assert counts["sent"] == 0
    assert [len(_gifts(m)) for m in (east, flaky)] == [1, 1]

    # the KPIs count the gifts among the points issued
    from memberflow.reports.kpis import compute_kpis

    kpis = compute_kpis(programme, stack.clock.now())
    assert kpis["points"]["gifts"] == 600
    assert kpis["points"]["issued"] >= 600 + kpis["points"]["bonuses"]

    # the windows close; ids only in the executions, never the birthday
    stack.advance(days=15)
    stack.clock.wait_idle()
    cohort = Cohort.get("birthday-2026-01-06", consistent_read=True)
    assert cohort.status == "finished"
    assert json.loads(cohort.totals) == {
        "treatment": {"entered": 2, "completed": 2},
        "control": {"entered": 1, "completed": 1},
    }
    histories = json.dumps(execution_histories(stack), default=str)
    assert "1990-01-06" not in histories and "--01-06" not in histories

    # export shows the birthday; erasure removes it
    assert stack.http("GET", f"/members/{east}/export").json()["member"]["birthday"] == (
        "1990-01-06"
    )
    assert any(h.startswith("birthday#") for h in get_member(east).handoffs)
    assert stack.http("DELETE", f"/members/{east}").status < 300
    erased = get_member(east)
    assert erased.erased and erased.birthday is None
    assert not erased.handoffs  # the hand-off record's day is the birthday's
    assert len(_gifts(east)) == 1  # the ledger keeps ids and amounts for the accounts
