"""The member API routes (IAM-authorised in AWS; open on the local stack).

Handler -> logic: lookups and the view in :mod:`memberflow.members.service`, consent in
:mod:`memberflow.members.consent`, export and erasure in :mod:`memberflow.members.privacy`,
the ledger and redemptions in :mod:`memberflow.loyalty.service`. Every error is
``{"error": {"status", "field", "reason"}}``; nothing personal is logged.
"""

from __future__ import annotations

from collections.abc import Callable

from aws_lambda_powertools import Logger
from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response

from memberflow.api.http import ERROR_SCHEMA, answer_errors_as_json, error, json_response
from memberflow.api.member_requests import (
    MAX_EMAIL,
    BadRequest,
    check_member_id,
    cursor,
    is_text,
    json_body,
    limit,
    parse_consent,
    parse_redeem,
)
from memberflow.clock import iso, now
from memberflow.members.service import find_by_email, get_member, member_view
from memberflow.runtime import app_context

log = Logger(service="memberflow-member-api", child=True)

# Seconds a client waits before retrying a redemption the shop could not take.
PAYOUT_RETRY_AFTER = 30


def _iso(value):
    return iso(value) if value else None


def _member_or_404(member_id: str):
    member = get_member(check_member_id(member_id))
    if member is None:
        raise BadRequest("member_id", "no such member", 404)
    return member


# ------------------------------------------------------------------ schemas for OpenAPI
def _content(schema: dict) -> dict:
    return {"application/json": {"schema": schema}}


def _errors(*codes: int) -> dict:
    text = {
        400: "Bad input (body, query or member id); error.field names it",
        404: "No such member",
        409: (
            "Conflict: not enough points (body.points), the reference already used for "
            "another amount (body.reference), or the member is erased (member_id)"
        ),
        413: "Body larger than 16 KiB",
        415: "Content-Type is not application/json (utf-8)",
        502: (
            "The member's shop refused to create the discount code (error.field = shop, "
            "error.reason says why); nothing was taken"
        ),
        503: (
            "The member's shop could not be reached or throttled the request (Retry-After); "
            "nothing was taken"
        ),
    }
    return {c: {"description": text[c], "content": _content(ERROR_SCHEMA)} for c in codes}


def _ok(description: str) -> dict:
    return {200: {"description": description, "content": _content({"type": "object"})}}


def build_app(openapi: Callable[[], str] | None = None) -> APIGatewayRestResolver:
    """The member API's resolver. ``openapi`` renders the document GET /openapi.json
    serves (memberflow.api.openapi builds it from this resolver, so it is passed in
    rather than imported: no import circle)."""
    app = APIGatewayRestResolver()

    answer_errors_as_json(app, log)

    @app.get(
        "/members/<member_id>",
        summary="A member: profile, stage, tier, points, consent",
        tags=["members"],
        responses={**_ok("The member"), **_errors(400, 404)},
    )
    def get_one(member_id: str):
        return json_response(200, member_view(_member_or_404(member_id)))

    @app.get(
        "/members",
        summary="Find members by email (normalised before matching)",
        tags=["members"],
        responses={**_ok("{members: [...]} (0 or 1)"), **_errors(400)},
    )
    def find():
        email = app.current_event.get_query_string_value("email")
        if not email or not email.strip():
            raise BadRequest("query:email", "required")
        if len(email) > MAX_EMAIL or not is_text(email):
            raise BadRequest(
                "query:email", f"not an email address (at most {MAX_EMAIL} characters)"
            )
        member = find_by_email(email)
        return json_response(200, {"members": [member_view(member)] if member else []})

    @app.get(
        "/members/<member_id>/ledger",
        summary="Points movements (earn, bonus, reversal, redemption, expiry)",
        tags=["members"],
        responses={**_ok("{member_id, points_balance, entries: [...]}"), **_errors(400, 404)},
    )
    def ledger(member_id: str):
        member = _member_or_404(member_id)
        from memberflow.loyalty import service as loyalty

        return json_response(
            200,
            {
                "member_id": member_id,
                "points_balance": int(member.points_balance or 0),
                "entries": loyalty.member_ledger(member_id),
            },
        )

    @app.get(
        "/members/<member_id>/journeys",
        summary="The member's journey enrolments",
        tags=["members"],
        responses={**_ok("{member_id, enrolments: [...]}"), **_errors(400, 404)},
    )
    def journeys(member_id: str):
        _member_or_404(member_id)
        from memberflow.store import enrolments as store

        enrolments = [
            {
                "journey": e.journey,
                "cohort_id": e.cohort_id,
                "arm": e.arm,
                "variant": e.variant,
                "status": e.status,
                "outcome": e.outcome_reason,
                "steps_reached": list(e.steps_reached or []),
                "messages_sent": int(e.messages_sent or 0),
                "entered_at": _iso(e.entered_at),
                "converted_at": _iso(e.converted_at),
                "closed_at": _iso(e.closed_at),
            }
            for e in store.of_member(member_id)
        ]
        enrolments.sort(key=lambda e: (e["entered_at"] or "", e["journey"]))
        return json_response(200, {"member_id": member_id, "enrolments": enrolments})

    @app.patch(
        "/members/<member_id>/consent",
        summary='Set marketing consent per channel: {"email": bool, "sms": bool}',
        description=(
            "An operator's explicit decision, stamped now: it wins over older platform "
            "deliveries. Withdrawing exits open journeys on that channel."
        ),
        tags=["members"],
        responses={**_ok("{member_id, consent}"), **_errors(400, 404, 409, 413, 415)},
    )
    def consent(member_id: str):
        changes = parse_consent(json_body())
        member = _member_or_404(member_id)
        if member.erased:
            raise BadRequest("member_id", "member is erased", 409)
        from memberflow.journeys import attribution
        from memberflow.members.consent import set_consent

        at = now()
        for channel, granted in changes.items():
            changed = set_consent(member, channel, granted, at, honour_suppression=False)
            if changed and not granted:
                attribution.on_consent_withdrawn(member_id, channel, now=at)
        view = member_view(get_member(member_id))
        return json_response(200, {"member_id": member_id, "consent": view["consent"]})

    @app.get(
        "/members/<member_id>/export",
        summary="Everything held on the member (data-access requests)",
        tags=["privacy"],
        responses={
            **_ok(
                "profile, identities, privacy requests, orders, ledger, enrolments, messages, coupons"
            ),
            **_errors(400, 404),
        },
    )
    def export(member_id: str):
        from memberflow.members.privacy import export_member

        data = export_member(check_member_id(member_id))
        if data is None:
            raise BadRequest("member_id", "no such member", 404)
        log.info("member exported", extra={"member_id": member_id})
        return json_response(200, data)

    @app.delete(
        "/members/<member_id>",
        summary="Erase the member's personal data (idempotent)",
        description=(
            "Clears email, phone, names, locale, time zone and interaction ids from the "
            "member and the discount codes from its orders, deletes its identity links, "
            "keeps a hashed suppression record so an opt-out survives, and exits its "
            "journeys. Points, orders and enrolments stay, anonymous."
        ),
        tags=["privacy"],
        responses={
            **_ok("{member_id, identities_removed, enrolments_exited, erased_at}"),
            **_errors(400, 404),
        },
    )
    def erase(member_id: str):
        from memberflow.members.privacy import erase_member

        result = erase_member(check_member_id(member_id), now=now())
        if result is None:
            raise BadRequest("member_id", "no such member", 404)
        log.info("member erased", extra={"member_id": member_id})
        return json_response(200, result)

    @app.post(
        "/members/<member_id>/points/redeem",
        summary=(
            'Redeem points: {"points": int > 0, "reference": str, "shop"?: str} '
            "(idempotent on reference); pays out a discount code in the member's shop"
        ),
        description=(
            "Takes the points (oldest-expiring first). When the member is a customer of a "
            "shop that creates discount codes (sources[].discounts.create), a fixed-amount "
            "code worth the redeemed value (points / points_per_currency_unit) is created "
            "there and returned as `discount`; `shop` names the shop when the member has "
            "several. The points and the code go together: if the shop refuses or cannot be "
            "reached, the balance is unchanged and the answer is 502 (refused) or 503 "
            "(unavailable, with Retry-After). A retry with the same reference returns the "
            "same code and takes no more points. Without such a shop `discount` is null."
        ),
        tags=["members"],
        responses={
            **_ok("The redemption, the new balance and the discount code (or null)"),
            **_errors(400, 404, 409, 413, 415, 502, 503),
        },
    )
    def redeem(member_id: str):
        points, reference, shop = parse_redeem(json_body())
        member = _member_or_404(member_id)
        if member.erased:
            raise BadRequest("member_id", "member is erased", 409)
        from memberflow.loyalty import payout
        from memberflow.loyalty import service as loyalty
        from memberflow.loyalty.points import InsufficientPoints

        context = app_context()
        try:
            target = payout.choose_shop(
                member,
                shop,
                sources=context.programme.sources,
                discount_shops=context.discount_shops,
            )
        except payout.ShopChoice as bad:
            raise BadRequest(bad.field, bad.reason, bad.status) from None
        try:
            if target is None:
                result = loyalty.redeem(
                    member_id, points, reference, programme=context.programme, now=now()
                )
                result = {**result, "discount": None}
            else:
                result = payout.redeem(
                    member_id,
                    points,
                    reference,
                    programme=context.programme,
                    now=now(),
                    target=target,
                    member=member,
                )
        except payout.ShopChoice as bad:
            raise BadRequest(bad.field, bad.reason, bad.status) from None
        except payout.PayoutFailed as failed:
            # Nothing taken: the points went back before this answer.
            log.warning(
                "redemption payout refused",
                extra={"member_id": member_id, "retryable": failed.retryable},
            )
            reason = f"the shop {failed.shop} did not create the code: {failed.reason}"
            if failed.retryable:
                return error(
                    503,
                    "shop",
                    f"{reason}; the points are unchanged, retry later",
                    {"Retry-After": str(PAYOUT_RETRY_AFTER)},
                )
            return error(502, "shop", f"{reason}; the points are unchanged")
        except InsufficientPoints as short:
            raise BadRequest("body.points", f"not enough points ({short})", 409) from None
        except loyalty.RedemptionConflict as conflict:
            # The reference is the idempotency key: reused for another amount it is a
            # different request, refused rather than acknowledged as the first one.
            raise BadRequest("body.reference", f"{conflict}; use a new reference", 409) from None
        except loyalty.MemberNotFound:
            raise BadRequest("member_id", "no such member", 404) from None
        except loyalty.ConcurrencyExhausted:
            raise BadRequest(
                "member_id", "the member is being updated concurrently; retry", 409
            ) from None
        return json_response(200, result)

    @app.get(
        "/privacy/data-requests",
        summary="Data-access requests received (Shopify customers/data_request), soonest due first",
        description=(
            "Every request is recorded whether or not the customer is known: member_id is "
            "null when memberflow holds nothing on them, else the export to send is "
            "GET /members/{member_id}/export. due_at is 30 days after receipt. Pages of "
            "`limit` (1-100, default 50); pass `next` back as `after` for the next page."
        ),
        tags=["privacy"],
        responses={
            **_ok(
                "{data_requests: [{platform, shop, request_id, member_id, received_at, "
                "due_at, overdue, export}], next}"
            ),
            **_errors(400),
        },
    )
    def data_requests():
        from memberflow.members.privacy import list_data_requests

        query = app.current_event
        page_size = limit(query.get_query_string_value("limit"))
        after = cursor(query.get_query_string_value("after"))
        return json_response(200, list_data_requests(limit=page_size, after=after, now=now()))

    @app.get(
        "/openapi.json",
        summary="This API's OpenAPI document (member API and webhooks)",
        tags=["meta"],
        responses=_ok("OpenAPI 3 document"),
    )
    def openapi_document():
        if openapi is None:
            raise BadRequest("path", "no OpenAPI document in this build", 404)
        return Response(status_code=200, content_type="application/json", body=openapi())

    return app
