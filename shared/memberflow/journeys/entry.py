"""Entering journeys: the welcome cohort of one, sweep cohorts, API-triggered cohorts."""

from __future__ import annotations

from datetime import datetime

from memberflow.clock import now as clock_now
from memberflow.journeys.engine import EnrolResult, enrol_cohort
from memberflow.runtime import AppContext


class JourneyEntry:
    def __init__(self, context: AppContext):
        self.context = context

    def _arn(self, journey: str) -> str:
        arns = self.context.settings.journey_arns
        if journey not in arns:
            raise KeyError(f"no state machine configured for journey '{journey}'")
        return arns[journey]

    def enrol(
        self, journey: str, member_ids: list[str], cohort_id: str, now: datetime | None = None
    ) -> EnrolResult:
        return enrol_cohort(
            programme=self.context.programme,
            journey=journey,
            member_ids=member_ids,
            cohort_id=cohort_id,
            state_machine_arn=self._arn(journey),
            stepfunctions=self.context.stepfunctions,
            now=now or clock_now(),
        )

    def start_welcome(self, member_id: str) -> EnrolResult:
        """Sign-up: a cohort of one, named after the member so a redelivery cannot repeat it."""
        return self.enrol("welcome", [member_id], cohort_id=f"welcome-{member_id}")
