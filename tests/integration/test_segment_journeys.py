"""A segment journey (``entry.trigger: segment``): every week, once the RFM job has scored
the whole base, the members in the segment's stages, tiers and lowest RFM scores are
enrolled as one cohort, run by the journey state machine with its holdout. Through the
real RfmFunction, so its IAM grants are the template's."""

from __future__ import annotations

import copy
from datetime import timedelta

from memberflow.store import Cohort, Enrolment, Member
from memberflow_local.stack import LocalStack
from tests.integration.test_journeys_support import programme_file
from tests.integration.test_loyalty_support import apply, make_member, paid


def _vip_offer(doc):
    doc["journeys"]["vip_offer"] = {
        **copy.deepcopy(doc["journeys"]["tier_up_welcome"]),
        "entry": {"trigger": "segment", "stages": ["active", "loyal"], "min_rfm": {"monetary": 4}},
        "reentry_days": 28,
    }


def test_the_weekly_rfm_job_enrols_a_segment_journeys_members(tmp_path, monkeypatch):
    from memberflow.runtime import app_context

    monkeypatch.delenv("MEMBERFLOW_PROGRAMME_FILE", raising=False)
    path = programme_file(tmp_path, _vip_offer)
    with LocalStack(programme_file=str(path)) as stack:
        programme = app_context().programme
        now = stack.clock.now()
        # ten buyers spending 10..100 (monetary quintiles 1..5), one who never bought
        for i in range(10):
            member_id = f"seg{i}"
            make_member(member_id, programme=programme, joined_at=now - timedelta(days=90))
            at = now - timedelta(days=5)
            apply(member_id, paid(f"{member_id}-1", 10 * (i + 1), at), programme=programme, now=at)
        make_member("idle", programme=programme, joined_at=now - timedelta(days=90))
        Member.get("seg9").update(actions=[Member.erased.set(True)])  # erased: never enrolled

        result = stack.invoke("RfmFunction", {})
        stack.clock.wait_idle()
        day = stack.clock.now().date().isoformat()
        members = {m.member_id: m for m in Member.scan(consistent_read=True)}
        expected = sorted(
            m.member_id
            for m in members.values()
            if not m.erased and m.stage in ("active", "loyal") and m.rfm and int(m.rfm[2]) >= 4
        )
        enrolled = sorted(e.member_id for e in Enrolment.scan() if e.journey == "vip_offer")
        cohort = Cohort.get(f"vip_offer-{day}")
        arms = {e.arm for e in Enrolment.scan() if e.journey == "vip_offer"}

        # a second run the same week enrols nobody again (re-entry after 28 days)
        stack.advance(days=1)
        stack.invoke("RfmFunction", {})
        stack.clock.wait_idle()
        again = [e for e in Enrolment.scan() if e.journey == "vip_offer"]

    assert expected and set(expected) <= {f"seg{i}" for i in range(9)}
    assert "idle" not in expected and "seg9" not in expected
    assert result["segments"] == {"vip_offer": len(expected)}
    assert enrolled == expected
    assert cohort.journey == "vip_offer"
    assert arms <= {"treatment", "control"} and "treatment" in arms
    assert len(again) == len(enrolled)
