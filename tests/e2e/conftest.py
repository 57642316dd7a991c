"""A served local stack (`memberflow serve`) in a subprocess, talked to over HTTP."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import urllib.error
import urllib.request

import pytest


class Client:
    def __init__(self, base: str):
        self.base = base.rstrip("/")

    def request(
        self, method: str, path: str, body: bytes | None = None, headers: dict | None = None
    ) -> tuple[int, dict]:
        request = urllib.request.Request(
            self.base + path, data=body, method=method, headers=headers or {}
        )
        try:
            with urllib.request.urlopen(request, timeout=120) as response:
                return response.status, json.loads(response.read() or b"null")
        except urllib.error.HTTPError as error:
            return error.code, json.loads(error.read() or b"null")


@pytest.fixture(scope="module")
def served():
    """``memberflow serve`` on a free port; ``MEMBERFLOW_API_URL`` targets another stack."""
    target = os.environ.get("MEMBERFLOW_E2E_LOCAL_URL")
    if target:
        yield Client(target)
        return
    process = subprocess.Popen(
        [sys.executable, "-m", "memberflow_local.cli", "serve", "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        line = ""
        for line in process.stdout:
            match = re.search(r"http://([\d.]+):(\d+)", line)
            if match:
                yield Client(f"http://{match.group(1)}:{match.group(2)}")
                break
        else:
            raise RuntimeError(f"memberflow serve did not start: {line}")
    finally:
        process.terminate()
        process.wait(timeout=30)
