"""The e2e suite talks HTTP to a stack: a served local one by default, a deployed one
when ``MEMBERFLOW_API_URL`` names it (its ``ApiUrl`` output; requests to the member API
are SigV4-signed from your AWS credentials, webhooks with ``SHOPIFY_WEBHOOK_SECRET``).
Tests that need the local clock or outbox are skipped against a deployed stack."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import urllib.error
import urllib.request
from urllib.parse import urlsplit

import pytest

from memberflow.webhooks.secrets import DEV_SHOPIFY_SECRET


class Client:
    def __init__(self, base: str, *, deployed: bool, shopify_secret: str):
        self.base = base.rstrip("/")
        self.deployed = deployed
        self.shopify_secret = shopify_secret

    def request(
        self, method: str, path: str, body: bytes | None = None, headers: dict | None = None
    ) -> tuple[int, dict]:
        url = self.base + path
        headers = dict(headers or {})
        if self.deployed and not path.startswith("/webhooks/"):
            import botocore.session
            from botocore.auth import SigV4Auth
            from botocore.awsrequest import AWSRequest

            session = botocore.session.get_session()
            region = urlsplit(url).hostname.split(".")[2]
            signed = AWSRequest(method=method, url=url, data=body, headers=headers)
            SigV4Auth(session.get_credentials(), "execute-api", region).add_auth(signed)
            headers = dict(signed.headers)
        request = urllib.request.Request(url, data=body, method=method, headers=headers)
        try:
            with urllib.request.urlopen(request, timeout=120) as response:
                return response.status, json.loads(response.read() or b"null")
        except urllib.error.HTTPError as error:
            return error.code, json.loads(error.read() or b"null")


@pytest.fixture(scope="module")
def served():
    deployed = os.environ.get("MEMBERFLOW_API_URL")
    if deployed:
        yield Client(
            deployed, deployed=True, shopify_secret=os.environ.get("SHOPIFY_WEBHOOK_SECRET", "")
        )
        return
    process = subprocess.Popen(
        # A fixed start (a weekday morning in every member's send window): the tests'
        # outbox expectations must not depend on the hour CI runs at.
        [
            sys.executable,
            "-m",
            "memberflow_local.cli",
            "serve",
            "--port",
            "0",
            "--start",
            "2026-01-05T08:00:00Z",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        line = ""
        for line in process.stdout:
            match = re.search(r"http://([\d.]+):(\d+)", line)
            if match:
                yield Client(
                    f"http://{match.group(1)}:{match.group(2)}",
                    deployed=False,
                    shopify_secret=DEV_SHOPIFY_SECRET,
                )
                break
        else:
            raise RuntimeError(f"memberflow serve did not start: {line}")
    finally:
        process.terminate()
        process.wait(timeout=30)


@pytest.fixture
def local_only(served):
    if served.deployed:
        pytest.skip("needs the local stack's clock and outbox")
