"""Reading a stack's API from outside: a local `memberflow serve` or a deployed stack.

Deployed member and report routes are IAM-authorised: requests are signed with SigV4
(service ``execute-api``) from the caller's AWS credentials.
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from datetime import datetime
from urllib.parse import urlsplit


def request_json(
    base_url: str,
    path: str,
    *,
    method: str = "GET",
    timeout: float = 300,
    body: bytes | None = None,
    content_type: str = "application/json",
) -> tuple[int, dict]:
    url = base_url.rstrip("/") + path
    headers = {"Accept": "application/json"}
    data = body if body is not None else (b"" if method != "GET" else None)
    if body is not None:
        headers["Content-Type"] = content_type
    host = urlsplit(url).hostname or ""
    if host.endswith(".amazonaws.com"):
        import botocore.session
        from botocore.auth import SigV4Auth
        from botocore.awsrequest import AWSRequest

        session = botocore.session.get_session()
        region = (
            host.split(".")[2] if host.count(".") >= 4 else session.get_config_variable("region")
        )
        # The signature covers the body (its SHA-256): a changed file fails verification.
        request = AWSRequest(method=method, url=url, headers=headers, data=data)
        SigV4Auth(session.get_credentials(), "execute-api", region).add_auth(request)
        headers = dict(request.headers)
    try:
        with urllib.request.urlopen(
            urllib.request.Request(url, headers=headers, data=data, method=method),
            timeout=timeout,
        ) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"{}")


def get_json(base_url: str, path: str, *, timeout: float = 300) -> dict:
    status, body = request_json(base_url, path, timeout=timeout)
    if status >= 400:
        raise RuntimeError(f"GET {path} answered {status}: {body}")
    return body


def fresh_kpis(base_url: str, *, wait: float = 900, poll: float = 5) -> dict:
    """Ask for a KPI snapshot (``POST /reports/kpis/snapshots``) and read it once the
    snapshot job has written it (``GET /reports/kpis`` with ``generated_at`` at or
    after the request). Polls at 0.25 s, doubling up to ``poll`` seconds."""
    status, accepted = request_json(base_url, "/reports/kpis/snapshots", method="POST")
    if status != 202:
        raise RuntimeError(f"POST /reports/kpis/snapshots answered {status}: {accepted}")
    requested = datetime.fromisoformat(accepted["requested_at"])
    deadline = time.monotonic() + wait
    pause = 0.25
    while True:
        status, kpis = request_json(base_url, "/reports/kpis")
        if status == 200 and datetime.fromisoformat(kpis["generated_at"]) >= requested:
            return kpis
        if status not in (200, 404) or time.monotonic() > deadline:
            raise RuntimeError(f"no KPI snapshot after {wait:.0f}s (last answer {status})")
        time.sleep(pause)
        pause = min(poll, pause * 2)


def import_file(
    base_url: str, data: bytes, *, wait: float = 3600, poll: float = 5, progress=None
) -> tuple[int, dict]:
    """``POST /imports`` with a JSON Lines file; for a file the state machine runs
    (202), poll ``GET /imports/{import_id}`` until it ends. Returns (status, answer):
    200 with the counts when it succeeded, the refusal (400 with the bad lines) or the
    failed import as the API reported it."""
    status, answer = request_json(
        base_url, "/imports", method="POST", body=data, content_type="application/x-ndjson"
    )
    if status != 202:
        return status, answer
    import_id = answer["import_id"]
    deadline = time.monotonic() + wait
    pause = 0.25
    while True:
        status, state = request_json(base_url, f"/imports/{import_id}")
        if status != 200 or state.get("status") != "RUNNING":
            return status, state
        if progress is not None:
            progress(state)
        if time.monotonic() > deadline:
            raise RuntimeError(f"import {import_id} still running after {wait:.0f}s")
        time.sleep(pause)
        pause = min(poll, pause * 2)
