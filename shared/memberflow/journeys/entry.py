"""Entering journeys: the welcome cohort of one, sweep cohorts, API-triggered cohorts."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from botocore.exceptions import BotoCoreError, ClientError

from memberflow.clock import now as clock_now
from memberflow.config.programme import JOURNEYS
from memberflow.journeys.engine import EnrolResult, enrol_cohort
from memberflow.journeys.engine import _new_cohort as new_cohort
from memberflow.journeys.machine import journey_machine_arn
from memberflow.runtime import AppContext, SettingsError
from memberflow.store import Cohort
from memberflow.store.errors import DoesNotExist, UpdateError

MAX_API_MEMBER_IDS = 1000  # per request; larger cohorts: several requests or the sweep
COHORT_KEY = re.compile(r"^[A-Za-z0-9_-]{1,48}$")
# Step Functions' limit on an execution name (StartExecution ``name``).
EXECUTION_NAME_MAX = 80
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
class CohortRequest:
    """A validated API entry request: the cohort it names and a digest of its content."""

    journey: str
    member_ids: list[str]  # unique, in the order asked
    cohort_id: str
    digest: str


def request_digest(journey: str, member_ids: list[str]) -> str:
    """What makes two requests the same request: the journey and the set of ids."""
    content = json.dumps({"journey": journey, "member_ids": sorted(set(member_ids))})
    return hashlib.sha256(content.encode()).hexdigest()


def parse_api_request(
    journey: str, body, idempotency_key: str | None = None, journeys=JOURNEYS
) -> CohortRequest:
    """Validate ``{"member_ids": [...], "cohort_key": "..."}`` for ``journey``, one of
    ``journeys`` (the programme's configured journeys; by default the built-in four).

    The cohort is named by the client's key (the ``Idempotency-Key`` header or
    ``cohort_key``; both name the same thing) or, without one, by a digest of the
    request's content: never by the clock, so a retry names the same cohort."""
    if journey not in journeys:
        raise EntryError(404, "path:journey", f"no journey '{journey}'; one of {list(journeys)}")
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
    if idempotency_key is not None:
        if not COHORT_KEY.match(idempotency_key):
            raise EntryError(400, "header:Idempotency-Key", "must match [A-Za-z0-9_-]{1,48}")
        if key is not None and key != idempotency_key:
            raise EntryError(
                400, "header:Idempotency-Key", "differs from cohort_key (give one, or the same)"
            )
        key = idempotency_key
    digest = request_digest(journey, ids)
    if key is None:
        key = f"c{digest[:24]}"
    cohort_id = f"api-{journey}-{key}"
    if len(cohort_id) > EXECUTION_NAME_MAX:
        # the cohort id names its first Step Functions execution: refused here, before
        # anything is written, rather than by StartExecution after the enrolments
        field = "header:Idempotency-Key" if idempotency_key is not None else "cohort_key"
        most = EXECUTION_NAME_MAX - len(f"api-{journey}-")
        raise EntryError(400, field, f"at most {most} characters for journey '{journey}'")
    return CohortRequest(journey, list(dict.fromkeys(ids)), cohort_id, digest)


# A hand-off whose enrolment has not finished this long after it was made is made again
# on the client's retry (the worker's timeout, its two retries, and margin).
REHAND_OFF_AFTER = timedelta(minutes=20)


def cohort_status(cohort: Cohort) -> dict:
    """``GET /journeys/{journey}/enrollments/{cohort_id}``: where an API cohort stands."""
    requested = json.loads(cohort.requested_ids or "[]")
    refused = json.loads(cohort.refused or "{}")
    done = cohort.entry_status == "enrolled"
    return {
        "cohort_id": cohort.cohort_id,
        "journey": cohort.journey,
        "status": cohort.entry_status or "accepted",
        "requested": len(requested),
        "enrolled": [m for m in requested if m not in refused] if done else [],
        "refused": [{"member_id": m, "reason": r} for m, r in refused.items()],
        "started": bool(cohort.execution_arn),
        "accepted_at": iso(cohort.created_at),
        "finished_at": iso(cohort.entry_finished_at) if cohort.entry_finished_at else None,
    }


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def cohort_entry_function(environ: Mapping[str, str]) -> str:
    """The function that runs API cohorts' enrolment (template.yaml CohortEntryFunction)."""
    name = environ.get("COHORT_ENTRY_FUNCTION", "")
    if not name:
        raise SettingsError("COHORT_ENTRY_FUNCTION", "is required (the cohort entry function)")
    return name


class JourneyEntry:
    def __init__(self, context: AppContext):
        self.context = context

    def _arn(self, journey: str) -> str:
        return journey_machine_arn(self.context.settings)  # one machine for every journey

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

    def start_welcome(self, member_id: str, journey: str = "welcome") -> EnrolResult:
        """Sign-up: a cohort of one, named after the member so a redelivery cannot repeat it."""
        return self.enrol(journey, [member_id], cohort_id=f"{journey}-{member_id}")

    # ------------------------------------------------------------ API entry
    def accept(self, journey: str, body, idempotency_key: str | None, hand_off) -> tuple[int, dict]:
        """``POST /journeys/{journey}/enrollments``: record the request, hand it to
        asynchronous work (``hand_off(cohort_id)``), answer at once: (status, body).

        Idempotent: the same request again answers the same cohort (202 while it is
        being enrolled, 200 once done); another request under the same key is 409."""
        try:
            request = parse_api_request(
                journey, body, idempotency_key, self.context.programme.journeys
            )
        except EntryError as error:
            return error.status, error.body()
        if not self.context.programme.journey(journey)["enabled"]:
            return 409, EntryError(409, "path:journey", "journey is disabled").body()
        now = clock_now()
        cohort = self._record(request, now)
        if cohort is None:
            return 409, EntryError(
                409,
                "cohort_key",
                "this key already names a cohort with other members (a new request needs a new key)",
                cohort_id=request.cohort_id,
            ).body()
        first = cohort.handed_off_at is None
        stale = cohort.handed_off_at is not None and cohort.handed_off_at < now - REHAND_OFF_AFTER
        if cohort.entry_status != "enrolled" and (first or stale):
            try:
                hand_off(request.cohort_id)
            except (BotoCoreError, ClientError):
                # Recorded but not handed off: the same request again hands it off.
                return 503, EntryError(
                    503, None, "the cohort is recorded but could not be handed off: retry"
                ).body()
            cohort.update(actions=[Cohort.handed_off_at.set(now)])
        view = cohort_status(cohort)
        return (200 if view["status"] == "enrolled" else 202), view

    def _record(self, request: CohortRequest, now: datetime) -> Cohort | None:
        """The cohort with this request recorded on it; ``None`` if the key is taken by
        another request. The pinned configuration is today's, as for any cohort."""
        cohort = new_cohort(
            self.context.programme, request.journey, request.cohort_id, len(request.member_ids), now
        )
        if cohort.journey != request.journey:
            return None
        try:
            cohort.update(
                actions=[
                    Cohort.request_digest.set(request.digest),
                    Cohort.requested_ids.set(json.dumps(request.member_ids)),
                    Cohort.entry_status.set("accepted"),
                ],
                condition=Cohort.request_digest.does_not_exist(),
            )
        except UpdateError as error:
            if getattr(error, "cause_response_code", None) != "ConditionalCheckFailedException":
                raise
            cohort.refresh(consistent_read=True)  # recorded before: a retry, or another body
        return cohort if cohort.request_digest == request.digest else None

    def run_request(self, cohort_id: str) -> dict:
        """The asynchronous half: enrol a recorded API cohort and start its execution.
        Safe to run twice (an asynchronous invocation can be delivered more than once)."""
        try:
            cohort = Cohort.get(cohort_id, consistent_read=True)
        except DoesNotExist:
            raise KeyError(f"no cohort {cohort_id}") from None
        if cohort.request_digest is None:
            raise ValueError(f"cohort {cohort_id} was not requested through the API")
        if cohort.entry_status != "enrolled":
            cohort.update(actions=[Cohort.entry_status.set("enrolling")])
            result = self.enrol(cohort.journey, json.loads(cohort.requested_ids), cohort_id)
            cohort.update(
                actions=[
                    Cohort.entry_status.set("enrolled"),
                    Cohort.refused.set(json.dumps(result.skipped)),
                    Cohort.entry_finished_at.set(clock_now()),
                ]
            )
            cohort.refresh(consistent_read=True)
        return cohort_status(cohort)

    def status(self, journey: str, cohort_id: str) -> tuple[int, dict]:
        try:
            cohort = Cohort.get(cohort_id, consistent_read=True)
        except DoesNotExist:
            cohort = None
        if cohort is None or cohort.journey != journey or cohort.request_digest is None:
            return 404, EntryError(404, "path:cohort_id", "no such API cohort").body()
        return 200, cohort_status(cohort)
