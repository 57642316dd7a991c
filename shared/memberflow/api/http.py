"""Small helpers shared by the resolvers: JSON answers, refusals, the per-request event,
and the one defensive reader of JSON request bodies.

Powertools keeps the current event on a class attribute (one request per process in
Lambda). The local stack serves requests from several threads, so the raw event is
also kept per thread and the routes read it from there.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
import threading
from typing import Any

from aws_lambda_powertools.event_handler import Response, content_types

_request = threading.local()

# Room for the largest document a route accepts: a journey entry of 1,000 member ids of
# 64 characters is about 70 KB. Routes with smaller documents pass their own limit.
MAX_JSON_BYTES = 128 * 1024
# Client documents are small and flat; these bounds keep the parser's recursion and
# CPython's int conversion (quadratic in digits) far from their limits.
MAX_JSON_DEPTH = 32
MAX_INT_DIGITS = 30


# The shape of every refusal (ApiError.body), as the OpenAPI document declares it.
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
                    "description": (
                        "body, body.<path>, query:<name>, header:<name>, path, "
                        "path:<name> or a path parameter (member_id)"
                    ),
                },
                "reason": {"type": "string"},
            },
        }
    },
}


class ApiError(Exception):
    """A refusal: HTTP ``status``, the ``field`` it concerns, and the ``reason``.

    ``field`` is ``body``, ``body.<path>``, ``query:<name>``, ``header:<name>`` or a path
    parameter's name; ``extra`` adds keys to the error object (e.g. ``limit``).
    """

    def __init__(self, status: int, field: str | None, reason: str, **extra: Any):
        super().__init__(f"{field}: {reason}")
        self.status, self.field, self.reason, self.extra = status, field, reason, extra

    def body(self) -> dict:
        return {
            "error": {"status": self.status, "field": self.field, "reason": self.reason}
            | self.extra
        }

    def response(self, headers: dict[str, str] | None = None) -> Response:
        return json_response(self.status, self.body(), headers)


def answer_errors_as_json(app: Any, log: Any) -> None:
    """Give a Powertools resolver memberflow's error shape for what it answers itself:
    an unknown path (404, field ``path``), an :class:`ApiError`, and any other failure
    (500; only the exception's type is logged, messages may quote client values)."""
    from aws_lambda_powertools.event_handler.exceptions import NotFoundError

    @app.not_found
    def not_found(_: NotFoundError) -> Response:
        return error(404, "path", "no such route")

    @app.exception_handler(ApiError)
    def refused(failure: ApiError) -> Response:
        return failure.response()

    from memberflow.store.members import ConcurrencyExhausted

    @app.exception_handler(ConcurrencyExhausted)
    def contended(_: ConcurrencyExhausted) -> Response:
        # The member kept changing under every attempt of the versioned write: nothing
        # was written; the same request again will do.
        return error(409, "member_id", "the member is being updated concurrently; retry")

    @app.exception_handler(Exception)
    def failed(failure: Exception) -> Response:
        log.error("request failed", extra={"error_type": type(failure).__name__})
        return error(500, None, "internal error")


def begin(event: dict, lambda_context: Any) -> None:
    _request.event = event
    _request.context = lambda_context


def raw_event() -> dict:
    return getattr(_request, "event", None) or {}


def lambda_context() -> Any:
    return getattr(_request, "context", None)


def json_response(status: int, body: Any, headers: dict[str, str] | None = None) -> Response:
    return Response(
        status_code=status,
        content_type=content_types.APPLICATION_JSON,
        body=json.dumps(body, separators=(",", ":"), default=str),
        headers=headers,
    )


def error(status: int, field: str | None, reason: str, headers: dict[str, str] | None = None):
    """Every refusal: ``{"error": {"status", "field", "reason"}}``."""
    return json_response(
        status, {"error": {"status": status, "field": field, "reason": reason}}, headers
    )


def header(event: dict, name: str) -> str | None:
    """A request header, whatever its case (API Gateway passes them as sent)."""
    wanted = name.lower()
    for key, value in (event.get("headers") or {}).items():
        if isinstance(key, str) and key.lower() == wanted:
            return value
    for key, values in (event.get("multiValueHeaders") or {}).items():
        if isinstance(key, str) and key.lower() == wanted and values:
            return values[-1]
    return None


def check_json_content_type(event: dict) -> None:
    """415 unless ``Content-Type`` is ``application/json`` (charset utf-8 if given)."""
    value = header(event, "Content-Type")
    field = "header:Content-Type"
    if not value:
        raise ApiError(415, field, "must be application/json")
    media, *params = (part.strip().lower() for part in value.split(";"))
    if media != "application/json":
        raise ApiError(415, field, "must be application/json")
    for param in params:
        name, _, val = param.partition("=")
        if name.strip() == "charset" and val.strip().strip('"') not in ("utf-8", "utf8"):
            raise ApiError(415, field, "charset must be utf-8")


def body_bytes(event: dict) -> bytes:
    """The body as sent (API Gateway base64-encodes bodies it treats as binary)."""
    raw = event.get("body")
    if raw is None:
        return b""
    if event.get("isBase64Encoded"):
        try:
            return base64.b64decode(raw, validate=False)
        except (binascii.Error, ValueError, TypeError):
            raise ApiError(400, "body", "invalid base64") from None
    if isinstance(raw, str):
        return raw.encode("utf-8", "surrogatepass")  # a lone surrogate fails decoding below
    return bytes(raw)


def _parse_int(text: str) -> int:
    if len(text.lstrip("-")) > MAX_INT_DIGITS:
        raise _Refused(f"an integer longer than {MAX_INT_DIGITS} digits")
    return int(text)


def _parse_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise _Refused("a number out of range")
    return value


def _parse_constant(name: str):
    raise _Refused(f"{name} is not JSON")


def _object(pairs: list[tuple[str, Any]]) -> dict:
    doc = dict(pairs)
    if len(doc) != len(pairs):
        raise _Refused("a duplicate key")
    return doc


class _Refused(ValueError):
    pass


def _depth(text: str) -> int:
    """The deepest nesting of arrays and objects, brackets inside strings ignored."""
    depth = deepest = 0
    in_string = escaped = False
    for char in text:
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif char in "]}":
            depth -= 1
    return deepest


def _check_text(value: Any, path: str) -> None:
    """Strings must be storable: no lone surrogates (JSON can escape them, UTF-8 cannot)."""
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            raise ApiError(400, path, "contains an unpaired surrogate (not text)") from None
    elif isinstance(value, dict):
        for key, item in value.items():
            _check_text(key, path)
            _check_text(item, f"{path}.{key}" if _printable(key) else path)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            _check_text(item, f"{path}[{index}]")


def _printable(key: str) -> bool:
    try:
        key.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return len(key) <= 64 and key.isprintable()


def read_json(event: dict, *, max_bytes: int = MAX_JSON_BYTES) -> dict[str, Any]:
    """The request's JSON object, or an :class:`ApiError` naming what is wrong.

    In order: a body is required (400), ``Content-Type: application/json`` (415), at most
    ``max_bytes`` (413), UTF-8 (400), JSON nested at most 32 deep with integers of at
    most 30 digits, finite numbers, no duplicate keys, no unpaired surrogates (400), an
    object (400). Never raises anything else, whatever the bytes.
    """
    data = body_bytes(event)
    if not data.strip():
        raise ApiError(400, "body", "a JSON object is required")
    check_json_content_type(event)
    if len(data) > max_bytes:
        raise ApiError(413, "body", f"larger than {max_bytes} bytes", limit=max_bytes)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise ApiError(400, "body", "not valid UTF-8") from None
    if _depth(text) > MAX_JSON_DEPTH:
        raise ApiError(400, "body", f"nested deeper than {MAX_JSON_DEPTH} levels")
    try:
        doc = json.loads(
            text,
            parse_int=_parse_int,
            parse_float=_parse_float,
            parse_constant=_parse_constant,
            object_pairs_hook=_object,
        )
    except _Refused as refused:
        raise ApiError(400, "body", f"invalid JSON: {refused}") from None
    except (ValueError, RecursionError):
        raise ApiError(400, "body", "invalid JSON") from None
    if not isinstance(doc, dict):
        raise ApiError(400, "body", "must be a JSON object")
    _check_text(doc, "body")
    return doc
