"""Enrolments: a member's open journeys, and the one conditional close.

Every close is an update on ``status = open``, so an enrolment closes once: a
redelivered order converts nothing twice and an erasure racing a conversion keeps
whichever came first.
"""

from __future__ import annotations

from datetime import datetime

from pynamodb.exceptions import UpdateError

from memberflow.store.models import Enrolment


def of_member(member_id: str) -> list[Enrolment]:
    """Every enrolment of a member, open or closed."""
    return list(Enrolment.query(member_id))


def open_enrolments(member_id: str) -> list[Enrolment]:
    return list(
        Enrolment.query(
            member_id, filter_condition=Enrolment.status == "open", consistent_read=True
        )
    )


def close_actions(status: str, reason: str, now: datetime, extra: dict) -> list:
    """The update that closes an enrolment: status, reason, time, and the outcome's
    other attributes (``converted_at``, ``conversion_order_id``...; None ones left out)."""
    actions = [
        Enrolment.status.set(status),
        Enrolment.outcome_reason.set(reason),
        Enrolment.closed_at.set(now),
    ]
    for name, value in extra.items():
        if value is not None:
            actions.append(getattr(Enrolment, name).set(value))
    return actions


def close_enrolment(enrolment: Enrolment, status: str, reason: str, now: datetime, **extra) -> bool:
    """Close an open enrolment; False when it was closed concurrently (e.g. converted by
    an order)."""
    try:
        enrolment.update(
            actions=close_actions(status, reason, now, extra),
            condition=Enrolment.status == "open",
        )
        return True
    except UpdateError:
        return False


def on_erasure(member_id: str, *, now: datetime) -> int:
    """Erasure: close every open enrolment as exited/erased. Returns how many."""
    return sum(close_enrolment(e, "exited", "erased", now) for e in open_enrolments(member_id))
