"""The member API routes (IAM-authorised in AWS; open on the local stack).

Handler -> logic: lookups and the view in :mod:`memberflow.members.service`, consent in
:mod:`memberflow.members.consent`, export and erasure in :mod:`memberflow.members.privacy`,
the ledger and redemptions in :mod:`memberflow.loyalty.service`. Every error is
``{"error": {"status", "field", "reason"}}``; nothing personal is logged.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response
from aws_lambda_powertools.event_handler.exceptions import NotFoundError

from memberflow.api.http import error, json_response, raw_event
from memberflow.clock import iso, now
from memberflow.members.service import find_by_email, get_member, member_view
from memberflow.runtime import app_context

log = Logger(service="memberflow-member-api", child=True)

REFERENCE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:#/-]{0,127}")
MAX_POINTS = 10**9
MAX_BODY = 16 * 1024


class BadRequest(Exception):
    def __init__(self, field: str, reason: str, status: int = 400):
        super().__init__(reason)
        self.field, self.reason, self.status = field, reason, status


def json_body() -> dict[str, Any]:
    event = raw_event()
    raw = event.get("body")
    if raw is None or raw == "":
        raise BadRequest("body", "a JSON object is required")
    if event.get("isBase64Encoded"):
        try:
            data = base64.b64decode(raw)
        except (binascii.Error, ValueError):
            raise BadRequest("body", "invalid base64") from None
    else:
        data = raw.encode("utf-8", "surrogatepass")
    if len(data) > MAX_BODY:
        raise BadRequest("body", f"larger than {MAX_BODY} bytes", 413)
    try:
        doc = json.loads(data.decode("utf-8"))
    except UnicodeDecodeError:
        raise BadRequest("body", "not valid UTF-8") from None
    except (json.JSONDecodeError, RecursionError, ValueError):
        raise BadRequest("body", "invalid JSON") from None
    if not isinstance(doc, dict):
        raise BadRequest("body", "must be a JSON object")
    return doc


def _member_or_404(member_id: str):
    member = get_member(member_id)
    if member is None:
        raise BadRequest("member_id", "no such member", 404)
    return member


def _iso(value):
    return iso(value) if value else None


def parse_consent(doc: dict[str, Any]) -> dict[str, bool]:
    unknown = sorted(set(doc) - {"email", "sms"})
    if unknown:
        raise BadRequest(f"body.{unknown[0]}", "unknown field (allowed: email, sms)")
    if not doc:
        raise BadRequest("body", "give at least one of email, sms")
    for channel, value in doc.items():
        if not isinstance(value, bool):
            raise BadRequest(f"body.{channel}", "must be true or false")
    return doc


def parse_redeem(doc: dict[str, Any]) -> tuple[int, str]:
    unknown = sorted(set(doc) - {"points", "reference"})
    if unknown:
        raise BadRequest(f"body.{unknown[0]}", "unknown field (allowed: points, reference)")
    points = doc.get("points")
    if points is None:
        raise BadRequest("body.points", "required")
    if isinstance(points, bool) or not isinstance(points, int):
        raise BadRequest("body.points", "must be an integer")
    if not 0 < points <= MAX_POINTS:
        raise BadRequest("body.points", f"must be between 1 and {MAX_POINTS}")
    reference = doc.get("reference")
    if reference is None:
        raise BadRequest("body.reference", "required")
    if not isinstance(reference, str) or not REFERENCE.fullmatch(reference):
        raise BadRequest(
            "body.reference", "must be 1-128 characters: letters, digits and . _ : # / -"
        )
    return points, reference


# ------------------------------------------------------------------ schemas for OpenAPI
def _content(schema: dict) -> dict:
    return {"application/json": {"schema": schema}}


ERROR_SCHEMA = {
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["status", "field", "reason"],
            "properties": {
                "status": {"type": "integer"},
                "field": {
                    "type": ["string", "null"],
                    "description": "body.<path>, query:<name>, header:<name>, member_id",
                },
                "reason": {"type": "string"},
            },
        }
    },
}


def _errors(*codes: int) -> dict:
    text = {
        400: "Bad input; error.field names it",
        404: "No such member",
        409: "Conflict (not enough points, or the member is erased)",
        413: "Body too large",
    }
    return {c: {"description": text[c], "content": _content(ERROR_SCHEMA)} for c in codes}


def _ok(description: str) -> dict:
    return {200: {"description": description, "content": _content({"type": "object"})}}


def build_app() -> APIGatewayRestResolver:
    app = APIGatewayRestResolver()

    @app.exception_handler(BadRequest)
    def bad_request(failure: BadRequest) -> Response:
        return error(failure.status, failure.field, failure.reason)

    @app.not_found
    def not_found(_: NotFoundError) -> Response:
        return error(404, "path", "no such route")

    @app.exception_handler(Exception)
    def failed(failure: Exception) -> Response:
        log.error("request failed", extra={"error_type": type(failure).__name__})
        return error(500, None, "internal error")

    @app.get(
        "/members/<member_id>",
        summary="A member: profile, stage, tier, points, consent",
        tags=["members"],
        responses={**_ok("The member"), **_errors(404)},
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
        member = find_by_email(email)
        return json_response(200, {"members": [member_view(member)] if member else []})

    @app.get(
        "/members/<member_id>/ledger",
        summary="Points movements (earn, bonus, reversal, redemption, expiry)",
        tags=["members"],
        responses={**_ok("{member_id, points_balance, entries: [...]}"), **_errors(404)},
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
        responses={**_ok("{member_id, enrolments: [...]}"), **_errors(404)},
    )
    def journeys(member_id: str):
        _member_or_404(member_id)
        from memberflow.store import Enrolment

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
            for e in Enrolment.query(member_id)
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
        responses={**_ok("{member_id, consent}"), **_errors(400, 404, 409)},
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
            **_errors(404),
        },
    )
    def export(member_id: str):
        from memberflow.members.privacy import export_member

        data = export_member(member_id)
        if data is None:
            raise BadRequest("member_id", "no such member", 404)
        log.info("member exported", extra={"member_id": member_id})
        return json_response(200, data)

    @app.delete(
        "/members/<member_id>",
        summary="Erase the member's personal data (idempotent)",
        description=(
            "Clears email, phone and names from every item the member owns, deletes its "
            "identity links, keeps a hashed suppression record so an opt-out survives, "
            "and exits its journeys. Points, orders and enrolments stay, anonymous."
        ),
        tags=["privacy"],
        responses={
            **_ok("{member_id, identities_removed, enrolments_exited, erased_at}"),
            **_errors(404),
        },
    )
    def erase(member_id: str):
        from memberflow.members.privacy import erase_member

        result = erase_member(member_id, now=now())
        if result is None:
            raise BadRequest("member_id", "no such member", 404)
        log.info("member erased", extra={"member_id": member_id})
        return json_response(200, result)

    @app.post(
        "/members/<member_id>/points/redeem",
        summary='Redeem points: {"points": int > 0, "reference": str} (idempotent on reference)',
        tags=["members"],
        responses={**_ok("The redemption and the new balance"), **_errors(400, 404, 409, 413)},
    )
    def redeem(member_id: str):
        points, reference = parse_redeem(json_body())
        member = _member_or_404(member_id)
        if member.erased:
            raise BadRequest("member_id", "member is erased", 409)
        from memberflow.loyalty import service as loyalty
        from memberflow.loyalty.points import InsufficientPoints

        context = app_context()
        try:
            result = loyalty.redeem(
                member_id, points, reference, programme=context.programme, now=now()
            )
        except InsufficientPoints as short:
            raise BadRequest("body.points", f"not enough points ({short})", 409) from None
        return json_response(200, result)

    @app.get(
        "/openapi.json",
        summary="This API's OpenAPI document (member API and webhooks)",
        tags=["meta"],
        responses=_ok("OpenAPI 3 document"),
    )
    def openapi():
        from memberflow.api.openapi import document

        return Response(status_code=200, content_type="application/json", body=document())

    return app
