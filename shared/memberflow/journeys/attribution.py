"""Attribution: orders and interactions close open enrolments the moment they happen.

The webhook ingest (orders, interactions) and the member API (erasure, consent) call
these functions; every journey step also re-checks the goal, so a conversion the
ingest path missed is still caught before the next message. Every close is a
conditional update on ``status = open``: a redelivered order converts nothing twice.
"""

from __future__ import annotations

import json
import logging
from datetime import datetime
from decimal import Decimal

from memberflow.journeys import incentives
from memberflow.journeys.decisions import EnrolmentState, MemberState
from memberflow.journeys.engine import CONSENT_FOR_CHANNEL, goal_met, last_step_sent
from memberflow.members.service import get_member
from memberflow.store import Cohort, Coupon, Enrolment
from memberflow.store.enrolments import (
    close_enrolment,
    on_erasure,  # noqa: F401 (its callers' name)
)
from memberflow.store.enrolments import open_enrolments as _open_enrolments
from memberflow.store.errors import DoesNotExist, UpdateError

log = logging.getLogger("memberflow.journeys")

PURCHASE_GOALS = ("purchase", "activation")  # a first purchase also activates a member


def _goal(enrolment: Enrolment) -> str:
    if enrolment.goal:
        return enrolment.goal
    try:  # enrolments written before the goal was recorded on them
        return json.loads(Cohort.get(enrolment.cohort_id).config)["config"]["goal"]
    except DoesNotExist:
        return "none"


def _coupons(member_id: str, codes: tuple[str, ...], at: datetime) -> dict[str, Coupon]:
    """The member's own, unexpired journey coupons among ``codes``, by cohort id."""
    found: dict[str, Coupon] = {}
    for code in dict.fromkeys(c.strip().upper() for c in codes if c and c.strip()):
        try:
            coupon = Coupon.get(code)
        except DoesNotExist:
            continue  # a platform discount code, not one of ours
        if coupon.member_id != member_id:
            continue
        if at <= coupon.expires_at:
            found.setdefault(coupon.cohort_id, coupon)
        else:  # presented after its end (the shop refuses it too): recorded as such
            incentives.record_expired(coupon)
    return found


def on_purchase(
    member_id: str,
    *,
    order_id: str,
    revenue: Decimal,
    at: datetime,
    coupon_codes: tuple[str, ...] = (),
) -> list[str]:
    """A paid order: convert the member's open purchase-goal enrolments at once.

    The attributed step is the step whose coupon the order used, else the last step
    that reached the member (``None`` when the order came before the first message).
    Holdout enrolments convert too: that is what uplift is measured against.
    Returns the enrolment keys converted by this call.
    """
    coupons = _coupons(member_id, coupon_codes, at)
    converted = []
    for enrolment in _open_enrolments(member_id):
        if _goal(enrolment) not in PURCHASE_GOALS or at < enrolment.entered_at:
            continue
        coupon = coupons.get(enrolment.cohort_id)
        if close_enrolment(
            enrolment,
            "converted",
            "coupon" if coupon else "purchase",
            at,
            converted_at=at,
            conversion_order_id=order_id,
            conversion_revenue=Decimal(str(revenue)),
            attributed_step=coupon.step if coupon else last_step_sent(EnrolmentState.of(enrolment)),
            coupon_code=coupon.code if coupon else None,
        ):
            converted.append(enrolment.enrolment_key)
    for coupon in coupons.values():
        try:
            coupon.update(
                actions=[
                    Coupon.redeemed_order_id.set(order_id),
                    Coupon.status.set(incentives.REDEEMED),
                ],
                condition=Coupon.redeemed_order_id.does_not_exist(),
            )
        except UpdateError:
            pass  # redeemed already (a redelivery of the same order)
    if converted:
        log.info("converted", extra={"member_id": member_id, "enrolments": converted})
    return converted


def on_interaction(member_id: str, *, kind: str, at: datetime) -> list[str]:
    """A counting interaction: convert open ``activation``-goal enrolments once the member
    is activated (``activated_at`` after entry, set by the loyalty rules)."""
    enrolments = [e for e in _open_enrolments(member_id) if _goal(e) == "activation"]
    if not enrolments:
        return []
    member = get_member(member_id)
    if member is None:
        return []
    converted = []
    state = MemberState.of(member)
    for enrolment in enrolments:
        entered = EnrolmentState.of(enrolment)
        if at < enrolment.entered_at or not goal_met("activation", state, entered):
            continue
        if close_enrolment(
            enrolment,
            "converted",
            f"interaction:{kind}",
            at,
            converted_at=member.activated_at or at,
            attributed_step=last_step_sent(entered),
        ):
            converted.append(enrolment.enrolment_key)
    return converted


def on_consent_withdrawn(member_id: str, channel: str, *, now: datetime) -> int:
    """Consent withdrawn for ``channel`` (email | sms): exit open marketing enrolments
    whose remaining steps need it. The send-time check is the backstop either way."""
    closed = 0
    for enrolment in _open_enrolments(member_id):
        try:
            config = json.loads(Cohort.get(enrolment.cohort_id).config)["config"]
        except DoesNotExist:
            continue
        if config["purpose"] != "marketing":
            continue
        reached = {m.split(":")[0] for m in enrolment.steps_reached or []}
        remaining = [s for s in config["steps"] if s["id"] not in reached]
        if any(CONSENT_FOR_CHANNEL[s["channel"]] == channel for s in remaining):
            closed += close_enrolment(enrolment, "exited", f"consent:{channel}", now)
    return closed
