"""A points gift on a message step (``"incentive": {"type": "points", "points": N}``).

The points are the member's only when the message is sent, and once: the gift is a
ledger entry of its own kind (``gift#<journey>#<cohort>#<step>``, put only if new) and
the member's credited balance and lots, written in the send's claim transaction
(memberflow.store.claims), under the member's version. A retried step finds the claim
(its message record) and gives nothing twice; a claim whose send then fails is released
with its gift taken back in the same transaction; the holdout is never claimed. The
points expire as the programme's points rules say (``points.expiry_months``), like any
credit, and the member's review date moves with its new lot.
"""

from __future__ import annotations

from datetime import datetime

from memberflow.config.programme import Programme
from memberflow.loyalty import accounts, lots, points
from memberflow.store import Member, claims

KIND = "gift"  # the ledger entry's kind
INCENTIVE = "points"  # the step's incentive type


def _programme() -> Programme:
    from memberflow.runtime import app_context

    return app_context().programme


def source(journey: str, cohort_id: str, step_id: str) -> str:
    """The gift's ledger source: one per enrolment and step (the member is the key)."""
    return f"{journey}#{cohort_id}#{step_id}"


def plan(
    member: Member,
    amount: int,
    *,
    journey: str,
    cohort_id: str,
    step_id: str,
    now: datetime,
    programme: Programme | None = None,
) -> claims.Gift:
    """The gift as the claim writes it: its ledger entry, the member's fields with the
    points credited, and how to take them back from the member as it is then."""
    programme = programme or _programme()
    expires = points.expires_at(now, programme)

    def give(current: Member) -> None:
        lots.credit(current, amount, expires)
        accounts.refresh_review(current, programme, now)

    def take_back(current: Member) -> None:
        # from the gift's own lot first; points spent meanwhile become a debt
        lots.debit(current, amount, lots.lot_id_for(expires))
        accounts.refresh_review(current, programme, now)

    entry = accounts.ledger_entry(
        member, KIND, source(journey, cohort_id, step_id), amount, now, expires
    )
    return claims.Gift(
        entry=entry,
        fields=claims.changed_fields(member, give),
        taken_back=lambda current: claims.changed_fields(current, take_back),
    )
