"""Journey steps: one step of one cohort over one shard (the ``step`` and ``pass`` tasks).

For each open member: the decision (:func:`memberflow.journeys.decisions.step_decision`),
then its activity: a close, the holdout's progress, a deferral, or the send
(:class:`memberflow.journeys.activities.SendActivities`). One member never fails the shard.
"""

from __future__ import annotations

import logging
from datetime import datetime

from memberflow.journeys import incentives
from memberflow.journeys.activities import SendActivities
from memberflow.journeys.channels import (
    ChannelAdapters,
)
from memberflow.journeys.cohorts import INDEX_BEHIND_RETRY_SECONDS, _load_with_members, shard_items
from memberflow.journeys.decisions import (
    EnrolmentState,
    MemberState,
    step_decision,
)
from memberflow.journeys.pacing import Budget, OutOfTime, Pacer, shard_rate
from memberflow.members.service import get_member
from memberflow.store import Cohort, Enrolment, Member, claims
from memberflow.store.enrolments import close_enrolment
from memberflow.store.errors import DoesNotExist, UpdateError
from memberflow.store.journeys import _reach, load_cohort

log = logging.getLogger("memberflow.journeys")


# Failed attempts for one member at one step before the member is marked ``failed``.
MAX_MEMBER_ATTEMPTS = 8
OUTCOMES = (
    "processed",
    "sent",
    "control",
    "deferred",
    "retry",
    "capped",
    "undeliverable",
    "converted",
    "exited",
    "failed",
    "rejected",
    "already_sent",
    "unreached",
)


# A member whose claim keeps finding it changed (orders, consent, other journeys' sends
# arriving at that very moment) is retried on the step's next pass after this many.
CLAIM_ATTEMPTS = 5


class ConcurrentChange(Exception):
    """The member changed under every claim attempt: the next pass tries again."""


class StepRunner(SendActivities):
    """Runs one step of one cohort over one shard.

    Every member is processed on its own: a member whose processing raises is retried
    on the step's next pass (with backoff, on the execution's Wait state), and after
    ``MAX_MEMBER_ATTEMPTS`` is closed as ``failed``; the shard never fails for it.
    """

    def __init__(self, *, channels: ChannelAdapters, now: datetime, budget: Budget | None = None):
        self.channels = channels
        self.now = now
        self.budget = budget or Budget(None)
        self.pacer: Pacer | None = None
        self.codes: incentives.ShardCodes | None = None

    def run(
        self,
        cohort_id: str,
        step_index: int,
        shard: int,
        *,
        flush: bool = True,
        member_ids: list[str] | None = None,
        journey: str | None = None,
    ) -> dict:
        """One pass of a step over one shard, inside the invocation's time budget.

        Members the pass does not reach before the margin (or whose send would not fit)
        are reported ``unreached``; ``unfinished`` tells ``advance`` to run the step again
        at once. A re-run skips the members already done (their enrolment records it).

        The shard's members are read in batches (BatchGetItem, consistent) and each send
        is one claim (memberflow.store.claims) and the channel's call; the providers'
        message ids are recorded for the whole shard at the end."""
        loaded = _load_with_members(cohort_id, journey, member_ids) if member_ids else None
        cohort, pinned = loaded[0] if loaded else load_cohort(cohort_id)
        self.cohort, self.pinned = cohort, pinned
        step = pinned["config"]["steps"][step_index]
        self.pacer = Pacer(shard_rate(pinned, step["channel"], int(cohort.shards)), self.budget)
        self.sent = []
        counts = dict.fromkeys(OUTCOMES, 0)
        enrolments, unseen, members = loaded[1] if loaded else shard_items(cohort, shard)
        self.shard_state = (shard, enrolments, members)
        # A coupon step whose members' shops create codes: created before each claim.
        self.codes = incentives.for_step(
            cohort_id=cohort.cohort_id,
            step=step,
            enrolments=enrolments,
            members=members,
            now=self.now,
            coupon_for=lambda m: self._coupon(cohort, step, m),
            may_send=lambda e, m: self._may_send(pinned, step, e, m),
        )
        # Members the index does not show yet are deferred, never skipped.
        counts["deferred"] += unseen
        retry_in = INDEX_BEHIND_RETRY_SECONDS if unseen else None
        try:
            for enrolment in enrolments:
                if enrolment.status != "open":
                    continue
                if counts["unreached"] or self.budget.exhausted():
                    counts["unreached"] += 1  # counted, not processed: the next pass takes it
                    continue
                counts["processed"] += 1
                try:
                    outcome, wait = self._member(
                        cohort, pinned, step, enrolment, members.get(enrolment.member_id)
                    )
                except OutOfTime:
                    outcome, wait = "unreached", None
                    counts["processed"] -= 1
                except Exception as error:  # noqa: BLE001 - one member never fails the shard
                    outcome, wait = self._failed(enrolment, step["id"], error)
                counts[outcome] += 1
                if wait:
                    retry_in = wait if retry_in is None else min(retry_in, wait)
        finally:
            if self.sent and flush:
                claims.record_provider_ids(self.sent)
                self.sent = []
        log.info(
            "step done",
            extra={"cohort_id": cohort_id, "step": step["id"], "shard": shard, **counts},
        )
        return {
            "shard": shard,
            "deferred": counts["deferred"] + counts["retry"] + counts["unreached"],
            "unfinished": counts["unreached"] > 0,
            "retry_in_seconds": retry_in or 0,
            "counts": counts,
            "elapsed_ms": int(self.budget.elapsed() * 1000),
        }

    def _failed(self, enrolment: Enrolment, step_id: str, error: Exception):
        # Ids and the error's type only: messages of provider errors may carry addresses.
        log.warning(
            "member step failed",
            extra={
                "cohort_id": enrolment.cohort_id,
                "member_id": enrolment.member_id,
                "step": step_id,
                "error": type(error).__name__,
            },
        )
        same_step = enrolment.failure_step == step_id
        attempts = (int(enrolment.failures or 0) if same_step else 0) + 1
        try:
            enrolment.update(
                actions=[Enrolment.failures.set(attempts), Enrolment.failure_step.set(step_id)],
                condition=Enrolment.status == "open",
            )
        except UpdateError:
            return "already_sent", None  # closed meanwhile
        if attempts >= MAX_MEMBER_ATTEMPTS:
            close_enrolment(enrolment, "failed", f"error:{type(error).__name__}", self.now)
            return "failed", None
        return "retry", min(3600, 60 * 2**attempts)

    def _member(
        self, cohort: Cohort, pinned: dict, step: dict, enrolment: Enrolment, member: Member | None
    ):
        """The member's step; a claim that finds the member or the enrolment changed since
        they were read (an order, a consent change, another journey's send) is decided
        again on what they are now."""
        for _attempt in range(CLAIM_ATTEMPTS):
            try:
                return self._decide(cohort, pinned, step, enrolment, member)
            except claims.Stale as stale:
                if stale.which == "provider_id":  # not there to record: never expected
                    log.warning("provider ids dropped", extra={"cohort_id": cohort.cohort_id})
                    self.sent.clear()
                    continue
                if stale.which == "message":
                    return "already_sent", None  # claimed by an earlier or concurrent run
                if stale.which == "enrolment":
                    try:
                        enrolment.refresh(consistent_read=True)
                    except DoesNotExist:
                        return "exited", None
                    if enrolment.status != "open":
                        return ("converted" if enrolment.status == "converted" else "exited"), None
                member = get_member(enrolment.member_id)
        raise ConcurrentChange(f"member {enrolment.member_id} kept changing")

    def _decide(self, cohort, pinned, step, enrolment, member):
        decision = step_decision(
            pinned, step, EnrolmentState.of(enrolment), MemberState.of(member), self.now
        )
        kind = decision[0]
        if kind == "skip":
            return "already_sent", None  # a re-run of the step (deferral, retry)
        if kind == "close":
            _, status, reason, extra = decision
            close_enrolment(enrolment, status, reason, self.now, **extra)
            return ("converted" if status == "converted" else "exited"), None
        if kind == "control":
            _reach(enrolment, step["id"], sent=False)
            return "control", None
        if kind == "defer":
            return "deferred", decision[1]
        return self._send(cohort, pinned, step, enrolment, member)

    def _template(self, step: dict, enrolment: Enrolment) -> str:
        if step.get("variants") and enrolment.variant is not None:
            return step["variants"][int(enrolment.variant) % len(step["variants"])]
        return step["template"]

    def _may_send(self, pinned: dict, step: dict, enrolment: Enrolment, member: Member) -> bool:
        """What ``_decide`` would send to, on the items as read (no I/O): a code is
        created ahead only for these (a later check may still hold one back: the code then
        waits unused in the shop, restricted to the member, until it expires)."""
        if enrolment.status != "open":
            return False
        state = (EnrolmentState.of(enrolment), MemberState.of(member))
        if step_decision(pinned, step, *state, self.now) != ("send",):
            return False
        if pinned["config"]["purpose"] == "marketing":
            cap = pinned["messaging"]["frequency_cap"]
            if len(claims.recent_sends(member, self.now, cap["per_days"])) >= cap["max_messages"]:
                return False
        return True
