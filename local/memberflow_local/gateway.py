"""API Gateway (REST, proxy integration), in-process: a request is matched against
template.yaml's routes, handed to the function as a proxy event within API Gateway's
29 s, and answered as API Gateway answers, its own errors included."""

from __future__ import annotations

import base64
import json
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl

from memberflow_local.account import ACCOUNT
from memberflow_local.budget import LambdaTimeout

# API Gateway's integration timeout (REST APIs), and its payload quota.
API_TIMEOUT_SECONDS = 29
API_PAYLOAD_MAX_BYTES = 10 * 1024 * 1024


@dataclass
class HttpResponse:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


class ApiGateway:
    """Part of :class:`memberflow_local.stack.LocalStack`: serving HTTP requests."""

    def http(
        self,
        method: str,
        path: str,
        *,
        body: bytes | str | dict | None = None,
        headers: dict[str, str] | None = None,
        query: str = "",
    ) -> HttpResponse:
        """Serve one request the way API Gateway (REST, proxy integration) would."""
        if isinstance(body, dict):
            body = json.dumps(body).encode()
            headers = {"Content-Type": "application/json", **(headers or {})}
        if isinstance(body, str):
            body = body.encode()
        headers = dict(headers or {})
        if "?" in path:
            path, query = path.split("?", 1)
        if body is not None and len(body) > API_PAYLOAD_MAX_BYTES:
            return _gateway_error(413, "Request Too Long")
        for route in self.routes:
            match = route.pattern.match(path)
            if match and route.method == method.upper():
                event = proxy_event(
                    method.upper(), route.path, path, match.groupdict(), query, headers, body
                )
                try:
                    result = self.invoke(route.function, event, budget_seconds=API_TIMEOUT_SECONDS)
                except LambdaTimeout as timeout:
                    if timeout.timeout_seconds >= API_TIMEOUT_SECONDS:  # API Gateway gave up first
                        return _gateway_error(504, "Endpoint request timed out")
                    return _gateway_error(502, "Internal server error")
                raw = result.get("body") or ""
                payload = base64.b64decode(raw) if result.get("isBase64Encoded") else raw.encode()
                out_headers = dict(result.get("headers") or {})
                for key, values in (result.get("multiValueHeaders") or {}).items():
                    out_headers[key] = ", ".join(values)
                return HttpResponse(result.get("statusCode", 200), out_headers, payload)
        known = [r for r in self.routes if r.pattern.match(path)]
        status = 405 if known else 404
        reason = "method not allowed" if known else "no such route"
        return HttpResponse(
            status,
            {"Content-Type": "application/json"},
            json.dumps({"error": {"status": status, "field": "path", "reason": reason}}).encode(),
        )


def _gateway_error(status: int, message: str) -> HttpResponse:
    """An error API Gateway itself answers (its own body shape, not the handlers')."""
    return HttpResponse(
        status,
        {"Content-Type": "application/json", "x-amzn-ErrorType": _GATEWAY_ERROR_TYPES[status]},
        json.dumps({"message": message}).encode(),
    )


_GATEWAY_ERROR_TYPES = {
    413: "RequestTooLargeException",
    502: "InternalServerErrorException",
    504: "IntegrationTimeoutException",
}


def proxy_event(
    method: str,
    resource: str,
    path: str,
    path_parameters: dict[str, str],
    query: str,
    headers: dict[str, str],
    body: bytes | None,
) -> dict:
    """An API Gateway REST proxy event, as Lambda receives it."""
    pairs = parse_qsl(query, keep_blank_values=True)
    single: dict[str, str] = {}
    multi: dict[str, list[str]] = {}
    for key, value in pairs:
        single[key] = value
        multi.setdefault(key, []).append(value)
    encoded = False
    text = None
    if body is not None:
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError:
            text, encoded = base64.b64encode(body).decode(), True
    return {
        "resource": resource,
        "path": path,
        "httpMethod": method,
        "headers": dict(headers),
        "multiValueHeaders": {k: [v] for k, v in headers.items()},
        "queryStringParameters": single or None,
        "multiValueQueryStringParameters": multi or None,
        "pathParameters": path_parameters or None,
        "stageVariables": None,
        "requestContext": {
            "resourcePath": resource,
            "httpMethod": method,
            "path": f"/v1{path}",
            "stage": "v1",
            "requestId": str(uuid.uuid4()),
            "requestTimeEpoch": int(datetime.now(UTC).timestamp() * 1000),
            "identity": {"sourceIp": "127.0.0.1", "userAgent": headers.get("User-Agent", "")},
            "accountId": ACCOUNT,
            "apiId": "local",
        },
        "body": text,
        "isBase64Encoded": encoded,
    }
