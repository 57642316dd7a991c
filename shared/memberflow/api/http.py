"""Small helpers shared by the resolvers: JSON answers and the per-request event.

Powertools keeps the current event on a class attribute (one request per process in
Lambda). The local stack serves requests from several threads, so the raw event is
also kept per thread and the routes read it from there.
"""

from __future__ import annotations

import json
import threading
from typing import Any

from aws_lambda_powertools.event_handler import Response, content_types

_request = threading.local()


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
