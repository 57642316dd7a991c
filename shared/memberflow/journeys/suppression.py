"""Marketing suppression: the operator's switch that keeps a member out of every
marketing journey (``PUT /members/{member_id}/suppression``).

A suppressed member, like a churned one, is refused at every entry (the sweep's
cohorts, API cohorts) and exits an open marketing enrolment at its next step
(:func:`memberflow.journeys.engine.refusal`). Transactional journeys (the welcome) are
not marketing. Lifting it (``{"suppressed": false}``) makes the member eligible again.
"""

from __future__ import annotations

from memberflow.clock import now as clock_now
from memberflow.journeys.entry import MEMBER_ID, EntryError, iso
from memberflow.members.service import get_member
from memberflow.store import Member
from memberflow.store.members import update_member


def parse_suppression(body) -> bool:
    if not isinstance(body, dict):
        raise EntryError(400, "body", "must be a JSON object")
    unknown = sorted(set(body) - {"suppressed"})
    if unknown:
        raise EntryError(400, f"body.{unknown[0]}", "unknown field (allowed: suppressed)")
    if not isinstance(body.get("suppressed"), bool):
        raise EntryError(400, "body.suppressed", "required: true or false")
    return body["suppressed"]


def set_suppression(member_id: str, body) -> tuple[int, dict]:
    """Set or lift the member's marketing suppression: (status, response body)."""
    suppressed = parse_suppression(body)
    if not MEMBER_ID.match(member_id):
        raise EntryError(400, "path:member_id", "must be a member id")
    member = get_member(member_id)
    if member is None:
        raise EntryError(404, "path:member_id", "no such member")
    at = clock_now()

    def suppress(current: Member) -> list:
        if current.erased:
            raise EntryError(409, "path:member_id", "member is erased")
        return [Member.suppressed.set(suppressed), Member.suppressed_at.set(at)]

    if not update_member(member, suppress, read=False):
        raise EntryError(404, "path:member_id", "no such member")
    return 200, {"member_id": member_id, "suppressed": suppressed, "suppressed_at": iso(at)}
