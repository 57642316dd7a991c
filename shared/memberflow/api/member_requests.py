"""The member API's requests: reading and checking what a client sends (path ids,
query parameters, JSON bodies) before any route touches the store. A refusal names the
field and the reason (docs/api-errors.md)."""

from __future__ import annotations

import re
from typing import Any

from memberflow.api.http import ApiError, raw_event, read_json

REFERENCE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:#/-]{0,127}")
# Member ids are memberflow's own (mbr_<hex>); anything else cannot name a member, and
# must not reach DynamoDB as a key (empty, > 2 KB or not UTF-8 would be a 500 there).
MEMBER_ID = re.compile(r"[A-Za-z0-9_.:-]{1,64}")
MAX_POINTS = 10**9
MAX_BODY = 16 * 1024
MAX_EMAIL = 254  # RFC 5321's limit on a path


class BadRequest(ApiError):
    def __init__(self, field: str | None, reason: str, status: int = 400, **extra: Any):
        super().__init__(status, field, reason, **extra)


def json_body() -> dict[str, Any]:
    """The request's JSON object (415 unless application/json; see ``read_json``)."""
    return read_json(raw_event(), max_bytes=MAX_BODY)


def check_member_id(member_id: str) -> str:
    if not isinstance(member_id, str) or not MEMBER_ID.fullmatch(member_id):
        raise BadRequest("member_id", "not a member id ([A-Za-z0-9_.:-], 1-64 characters)")
    return member_id


def limit(raw: str | None) -> int:
    if raw is None:
        return 50
    if not raw.isascii() or not raw.isdigit() or not 1 <= int(raw) <= 100:
        raise BadRequest("query:limit", "must be a whole number from 1 to 100")
    return int(raw)


def cursor(raw: str | None) -> str | None:
    """``after`` is the ``next`` of the previous page (opaque to clients)."""
    if raw is None:
        return None
    from memberflow.members.privacy import cursor_key

    key = cursor_key(raw)
    if key is None:
        raise BadRequest("query:after", "not a cursor this API returned")
    return key


def is_text(value: str) -> bool:
    """Printable and encodable (a lone surrogate or a control character is neither)."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return value.isprintable()


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


def parse_redeem(doc: dict[str, Any]) -> tuple[int, str, str | None]:
    unknown = sorted(set(doc) - {"points", "reference", "shop"})
    if unknown:
        raise BadRequest(f"body.{unknown[0]}", "unknown field (allowed: points, reference, shop)")
    shop = doc.get("shop")
    if shop is not None and not (
        isinstance(shop, str) and 0 < len(shop) <= 2048 and is_text(shop) and shop.strip()
    ):
        raise BadRequest("body.shop", "must be a shop's name: its domain or site URL")
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
    return points, reference, shop
