"""Entering journeys: the welcome cohort of one, sweep cohorts, API-triggered cohorts."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from datetime import datetime

from memberflow.clock import now as clock_now
from memberflow.config.programme import JOURNEYS
from memberflow.journeys.engine import EnrolResult, enrol_cohort
from memberflow.runtime import AppContext

MAX_API_MEMBER_IDS = 1000  # per request; larger cohorts: several requests or the sweep
COHORT_KEY = re.compile(r"^[A-Za-z0-9_-]{1,48}$")
MEMBER_ID = re.compile(r"^[A-Za-z0-9_.:-]{1,64}$")


class EntryError(ValueError):
    """Bad API input: ``status``, the ``field`` it concerns, and why."""

    def __init__(self, status: int, field: str, reason: str, **extra):
        super().__init__(f"{field}: {reason}")
        self.status, self.field, self.reason, self.extra = status, field, reason, extra

    def body(self) -> dict:
        return {
            "error": {
                "status": self.status,
                "field": self.field,
                "reason": self.reason,
                **self.extra,
            }
        }


@dataclass
class ApiEnrolment:
    request: list[str]
    cohort_id: str


def parse_api_request(journey: str, body, now: datetime) -> ApiEnrolment:
    """Validate ``{"member_ids": [...], "cohort_key": "..."}`` for ``journey``."""
    if journey not in JOURNEYS:
        raise EntryError(404, "path:journey", f"no journey '{journey}'; one of {list(JOURNEYS)}")
    if not isinstance(body, dict):
        raise EntryError(400, "body", "must be a JSON object")
    ids = body.get("member_ids")
    if ids is None:
        raise EntryError(400, "member_ids", "is required")
    if not isinstance(ids, list):
        raise EntryError(400, "member_ids", "must be a list of member ids")
    if not ids:
        raise EntryError(400, "member_ids", "must not be empty")
    if len(ids) > MAX_API_MEMBER_IDS:
        raise EntryError(
            413,
            "member_ids",
            f"at most {MAX_API_MEMBER_IDS} member ids per request",
            limit=MAX_API_MEMBER_IDS,
        )
    for i, member_id in enumerate(ids):
        if not isinstance(member_id, str) or not MEMBER_ID.match(member_id):
            raise EntryError(400, f"member_ids[{i}]", "must be a member id string")
    unknown = sorted(set(body) - {"member_ids", "cohort_key"})
    if unknown:
        raise EntryError(400, unknown[0], "unknown field")
    key = body.get("cohort_key")
    if key is not None and (not isinstance(key, str) or not COHORT_KEY.match(key)):
        raise EntryError(400, "cohort_key", "must match [A-Za-z0-9_-]{1,48}")
    if key is None:
        digest = hashlib.sha256("|".join(sorted(set(ids))).encode()).hexdigest()[:10]
        key = f"{now:%Y%m%dT%H%M%S}-{digest}"
    return ApiEnrolment(request=ids, cohort_id=f"api-{journey}-{key}")


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
        """Enrol ``member_ids`` as cohort ``cohort_id`` (the sweep: ``f"{journey}-{date}"``).

        Idempotent: a re-run with the same cohort id starts nothing twice."""
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

    def enrol_from_api(self, journey: str, body) -> tuple[int, dict]:
        """``POST /journeys/{journey}/enrollments``: (status, response body)."""
        now = clock_now()
        try:
            request = parse_api_request(journey, body, now)
        except EntryError as error:
            return error.status, error.body()
        if not self.context.programme.journey(journey)["enabled"]:
            return 409, EntryError(409, "path:journey", "journey is disabled").body()
        result = self.enrol(journey, request.request, request.cohort_id, now)
        return (202 if result.started else 200), {
            "cohort_id": result.cohort_id,
            "journey": journey,
            "started": result.started,
            "enrolled": result.enrolled,
            "skipped": [{"member_id": m, "reason": r} for m, r in result.skipped.items()],
        }
