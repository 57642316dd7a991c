"""Journey activities: what a step does once the decision is to send.

The claim (the (enrolment, step) send, the cap and the enrolment's progress in one
transaction), the code in the member's shop, the rendering and the channel's call, and
the incentive's member write (a points gift goes with the claim: memberflow.journeys.gifts). :class:`memberflow.journeys.steps.StepRunner` runs them
for the members :func:`memberflow.journeys.decisions.step_decision` sends to.
"""

from __future__ import annotations

import json
import logging
from datetime import timedelta
from decimal import Decimal

from memberflow.journeys import gifts, incentives
from memberflow.journeys.channels import (
    Outgoing,
    Rejected,
    Throttled,
    Undeliverable,
)
from memberflow.journeys.decisions import (
    _expiry_window,
    _number,
    coupon_code,
    points_expiring,
)
from memberflow.journeys.pacing import OutOfTime
from memberflow.journeys.templates import pick_locale, render
from memberflow.loyalty import service as loyalty
from memberflow.loyalty.points import lots_of
from memberflow.shops import ShopRefused
from memberflow.store import Cohort, Coupon, Member, Message, claims
from memberflow.store.enrolments import close_enrolment
from memberflow.store.journeys import _reach

log = logging.getLogger("memberflow.journeys")


# Earlier sends' provider ids a claim's transaction records (of its 100 items).
CARRIED_PROVIDER_IDS = 20


class SendActivities:
    """The send of one member's step (mixed into the step runner, whose state it uses:
    ``now``, ``channels``, ``pacer``, ``codes`` and the shard's ``sent`` provider ids)."""

    def _send(self, cohort, pinned, step, enrolment, member):
        now = self.now
        config = pinned["config"]
        marketing = config["purpose"] == "marketing"
        step_id = step["id"]
        template = self._template(step, enrolment)
        texts = pinned["templates"][template]
        locale = pick_locale(member.locale, texts, pinned["default_locale"])
        incentive = step.get("incentive") or {}
        code = (
            coupon_code(cohort.cohort_id, member.member_id, step_id)
            if incentive.get("type") == "coupon"
            else None
        )
        # The cap, across every journey, from the member as read: the claim is
        # conditioned on that version, so a concurrent claim makes this one decide again.
        if marketing:
            cap = pinned["messaging"]["frequency_cap"]
            if len(claims.recent_sends(member, now, cap["per_days"])) >= cap["max_messages"]:
                _reach(enrolment, f"{step_id}:capped", sent=False)
                return "capped", None
        message_key = f"{cohort.journey}#{cohort.cohort_id}#{step_id}"
        record = Message(
            member_id=member.member_id,
            message_key=message_key,
            journey=cohort.journey,
            cohort_id=cohort.cohort_id,
            step=step_id,
            channel=step["channel"],
            template=template,
            locale=locale,
            sent_at=now,
            coupon_code=code,
            purpose=config["purpose"],
        )
        coupon = self._coupon(cohort, step, member) if code is not None else None
        # A marketing claim writes the member anyway (the cap): the double points' window
        # goes with it, under the same version check as the loyalty engine's own writes.
        member_fields = None
        if marketing and incentive.get("type") == "double_points":
            member_fields = {
                "double_points_until": now + timedelta(days=incentive["days"]),
                "double_points_multiplier": Decimal(str(incentive["multiplier"])),
            }
        # 0. The code in the member's shop first (when the shop creates codes): a refusal
        #    defers the member with nothing of it written (journeys.incentives).
        if coupon is not None and self.codes is not None:
            try:
                prepared = self.codes.ensure(member, coupon)
            except ShopRefused as refused:
                if not refused.retryable:
                    raise  # counted as the member's failure: retried, then failed
                return "deferred", incentives.REFUSED_RETRY_SECONDS
            if marketing and prepared.identities:
                member_fields = {**(member_fields or {}), "shop_identities": prepared.identities}
        # A points gift is given with the claim, so only with a send, and once.
        gift = (
            gifts.plan(
                member,
                int(incentive["points"]),
                journey=cohort.journey,
                cohort_id=cohort.cohort_id,
                step_id=step_id,
                now=now,
            )
            if incentive.get("type") == gifts.INCENTIVE
            else None
        )
        # 1. Claim the (enrolment, step) send, with the enrolment's progress and the cap,
        #    in one transaction: a retried Map iteration finds the claim.
        claim = claims.Claim(
            record=record,
            enrolment=enrolment,
            member=member,
            step_mark=step_id,
            reached_before=list(enrolment.steps_reached or []),
            marketing=marketing,
            coupon=coupon,
            member_fields=member_fields,
            # the provider ids of this shard's earlier sends ride along (few: one a send)
            provider_ids=self.sent[:CARRIED_PROVIDER_IDS],
            gift=gift,
        )
        claims.claim(claim, now)
        del self.sent[: len(claim.provider_ids)]
        # The pace slot is taken only for a send this pass owns: a re-run over members
        # sent before (the index may still show their old enrolment) must not spend its
        # budget pacing sends it will not make, or it never gets past them.
        if self.pacer is not None and not self.pacer.wait():
            claims.release(claim, now)
            raise OutOfTime
        try:
            fields = self._fields(pinned, member, template)
            fields.update(self._incentive(cohort, step, member, coupon, incentive))
            rendered = render(texts[locale], fields)
            outgoing = Outgoing(
                member_id=member.member_id,
                journey=cohort.journey,
                cohort_id=cohort.cohort_id,
                step=step_id,
                template=template,
                locale=locale,
                message_key=message_key,
                subject=rendered["subject"],
                body=rendered["body"],
                coupon_code=code,
            )
            provider_id = self.channels.send(
                step["channel"], outgoing, email=member.email, phone=member.phone
            )
        except Undeliverable:
            claims.release(claim, now)
            _reach(enrolment, f"{step_id}:undeliverable", sent=False)
            return "undeliverable", None
        except Rejected as error:
            # Permanent for this member (SES sandbox: an unverified recipient): recorded
            # once, the enrolment closed, never retried.
            claims.release(claim, now)
            log.warning(
                "message rejected",
                extra={
                    "cohort_id": cohort.cohort_id,
                    "member_id": member.member_id,
                    "step": step_id,
                    "error": error.code,
                },
            )
            _reach(enrolment, f"{step_id}:rejected", sent=False)
            close_enrolment(enrolment, "failed", f"rejected:{error.code}", now)
            return "rejected", None
        except Throttled:
            # The provider's rate (shared with other cohorts): not the member's failure.
            claims.release(claim, now)
            return "deferred", 60
        except Exception:
            # Transient failure: release the claim so the retry sends it (exactly once).
            try:
                claims.release(claim, now)
            except Exception:  # noqa: BLE001 - the original error matters more
                log.warning("claim not released", extra={"cohort_id": cohort.cohort_id})
            raise
        claims.sent(claim)
        if provider_id:
            self.sent.append((record, provider_id))
        return "sent", None

    def _coupon(self, cohort: Cohort, step: dict, member: Member) -> Coupon:
        incentive = step["incentive"]
        return Coupon(
            code=coupon_code(cohort.cohort_id, member.member_id, step["id"]),
            member_id=member.member_id,
            journey=cohort.journey,
            cohort_id=cohort.cohort_id,
            step=step["id"],
            percent_off=Decimal(str(incentive["percent_off"])),
            issued_at=self.now,
            expires_at=self.now + timedelta(days=incentive["valid_days"]),
            status=incentives.ISSUED,
        )

    def _fields(self, pinned: dict, member: Member, template: str) -> dict:
        tier = pinned["tiers"].get(member.tier, {})
        texts = json.dumps(pinned["templates"][template], ensure_ascii=False)
        return {
            "programme": pinned["programme_name"],
            "first_name": member.first_name or "",
            "points_balance": int(member.points_balance or 0),
            "points_expiring": points_expiring(lots_of(member), self.now, _expiry_window(pinned))
            if "{points_expiring}" in texts
            else 0,
            "tier": member.tier,
            "discount_percent": tier.get("discount_percent", ""),
        }

    def _incentive(self, cohort, step, member, coupon, incentive) -> dict:
        now = self.now
        if incentive.get("type") == gifts.INCENTIVE:  # credited with the claim
            return {"gift_points": int(incentive["points"])}
        if incentive.get("type") == "coupon":
            # Issued with the claim (claims.claim), so its expiry is the one recorded.
            return {
                "coupon_code": coupon.code,
                "coupon_expires": coupon.expires_at.date().isoformat(),
                "percent_off": _number(incentive["percent_off"]),
            }
        if incentive.get("type") == "double_points" and member.double_points_until == now + (
            timedelta(days=incentive["days"])
        ):
            return {"double_points_until": member.double_points_until.date().isoformat()}
        if incentive.get("type") == "double_points":  # a transactional journey's step
            until = now + timedelta(days=incentive["days"])
            multiplier = Decimal(str(incentive["multiplier"]))

            def open_window(current: Member | None, _order):
                # The loyalty engine's earning reads these two fields.
                if current is None:
                    return None
                current.double_points_until = until
                current.double_points_multiplier = multiplier
                return loyalty.Change(member=current, result=True)

            # The member's one write path: version-checked, replayed on a conflict, so
            # a concurrent order neither loses the window nor has its own write lost.
            loyalty.run(member.member_id, open_window, first=member)
            return {"double_points_until": until.date().isoformat()}
        return {}
