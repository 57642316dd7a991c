"""Reading a stack's API from outside: a local `memberflow serve` or a deployed stack.

Deployed member and report routes are IAM-authorised: requests are signed with SigV4
(service ``execute-api``) from the caller's AWS credentials.
"""

from __future__ import annotations

import json
import urllib.request
from urllib.parse import urlsplit


def get_json(base_url: str, path: str, *, timeout: float = 300) -> dict:
    url = base_url.rstrip("/") + path
    headers = {"Accept": "application/json"}
    host = urlsplit(url).hostname or ""
    if host.endswith(".amazonaws.com"):
        import botocore.session
        from botocore.auth import SigV4Auth
        from botocore.awsrequest import AWSRequest

        session = botocore.session.get_session()
        region = (
            host.split(".")[2] if host.count(".") >= 4 else session.get_config_variable("region")
        )
        request = AWSRequest(method="GET", url=url, headers=headers)
        SigV4Auth(session.get_credentials(), "execute-api", region).add_auth(request)
        headers = dict(request.headers)
    with urllib.request.urlopen(
        urllib.request.Request(url, headers=headers), timeout=timeout
    ) as response:
        return json.loads(response.read())
