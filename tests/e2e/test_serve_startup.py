"""`memberflow serve` starts like a deployment: the real time, a validated programme."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
import urllib.request
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from memberflow.webhooks.secrets import DEV_MEMBERFLOW_SECRET
from memberflow.webhooks.signing import standard_headers

ROOT = Path(__file__).resolve().parents[2]


def _serve(*options: str):
    process = subprocess.Popen(
        [sys.executable, "-m", "memberflow_local.cli", "serve", "--port", "0", *options],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    lines = []
    for line in process.stdout:
        lines.append(line)
        match = re.search(r"http://([\d.]+):(\d+)", line)
        if match:
            return process, f"http://{match.group(1)}:{match.group(2)}"
    process.wait(timeout=30)
    return process, "".join(lines)


def _get(base: str, path: str) -> dict:
    with urllib.request.urlopen(base + path, timeout=60) as response:
        return json.loads(response.read())


def _clock(base: str) -> datetime:
    return datetime.fromisoformat(_get(base, "/_local/clock")["now"].replace("Z", "+00:00"))


@pytest.fixture
def stop():
    started = []
    yield started.append
    for process in started:
        process.terminate()
        process.wait(timeout=30)


def test_the_clock_starts_now_and_ticks_so_a_delivery_signed_now_is_accepted(stop):
    process, base = _serve()
    stop(process)
    first = _clock(base)
    assert abs(first - datetime.now(UTC)) < timedelta(minutes=2)
    time.sleep(2.5)
    assert _clock(base) > first  # it follows real time, as a deployment's clock does

    body = (ROOT / "events/payloads/memberflow/member.upserted.json").read_bytes()
    envelope = json.loads(body)
    envelope["timestamp"] = datetime.now(UTC).isoformat().replace("+00:00", "Z")
    body = json.dumps(envelope).encode()
    headers = standard_headers(DEV_MEMBERFLOW_SECRET, "msg_serve_now", body, datetime.now(UTC))
    request = urllib.request.Request(
        base + "/webhooks/events",
        data=body,
        method="POST",
        headers={**headers, "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=60) as response:
        assert response.status == 200


def test_start_and_frozen_clock_options(stop):
    process, base = _serve("--start", "2026-01-05T08:00:00", "--frozen-clock")
    stop(process)
    assert _clock(base) == datetime(2026, 1, 5, 8, 0, tzinfo=UTC)
    time.sleep(1.5)
    assert _clock(base) == datetime(2026, 1, 5, 8, 0, tzinfo=UTC)


def test_a_programme_that_fails_validation_stops_serve_at_start_naming_the_field(tmp_path):
    programme = json.loads((ROOT / "shared/memberflow/config/programme.default.json").read_text())
    programme["points"]["earn_per_currency_unit"] = -1
    path = tmp_path / "programme.json"
    path.write_text(json.dumps(programme))
    process, output = _serve("--programme", str(path))
    assert process.returncode == 2
    assert "$.points.earn_per_currency_unit" in output
    assert "http://" not in output  # no ready banner
