"""HTTP front of the local stack: the routes of template.yaml plus /_local/*."""

from __future__ import annotations

import ipaddress
import json
import logging
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

from memberflow.clock import iso
from memberflow_local.stack import LocalStack

log = logging.getLogger("memberflow.local.server")
MAX_REQUEST_BYTES = 10 * 1024 * 1024


def _local_routes(stack: LocalStack, method: str, path: str, body: bytes):
    if path == "/_local/clock" and method == "GET":
        return 200, {"now": iso(stack.clock.now())}
    if path == "/_local/clock/advance" and method == "POST":
        try:
            request = json.loads(body or b"{}")
        except ValueError:
            return 400, {"error": {"status": 400, "field": "body", "reason": "not valid JSON"}}
        if not isinstance(request, dict) or not set(request) <= {"days", "hours"} or not request:
            return 400, {
                "error": {
                    "status": 400,
                    "field": "body",
                    "reason": 'expected {"days": n} or {"hours": n}',
                }
            }
        for key, value in request.items():
            if not isinstance(value, (int, float)) or isinstance(value, bool) or value < 0:
                return 400, {
                    "error": {
                        "status": 400,
                        "field": f"body.{key}",
                        "reason": "must be a non-negative number",
                    }
                }
        stack.advance(days=request.get("days", 0), hours=request.get("hours", 0))
        return 200, {"now": iso(stack.clock.now())}
    if path == "/_local/outbox" and method == "GET":
        stack.clock.wait_idle()  # what has been sent by now, once journeys settle
        return 200, {"messages": stack.outbox()}
    return None


def make_handler(stack: LocalStack, lock: threading.Lock):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        server_version = "memberflow-local"

        def log_message(self, fmt, *args):  # quieter than the default stderr line
            log.debug(fmt, *args)

        def _serve(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            if length > MAX_REQUEST_BYTES:
                self._reply(
                    413,
                    {},
                    json.dumps(
                        {"error": {"status": 413, "field": "body", "reason": "request too large"}}
                    ).encode(),
                )
                return
            body = self.rfile.read(length) if length else b""
            url = urlsplit(self.path)
            method = self.command
            if url.path.startswith("/_local/"):
                # The clock is one timeline: advancing it is serialised.
                with lock:
                    result = _local_routes(stack, method, url.path, body)
                if result is None:
                    result = (
                        404,
                        {"error": {"status": 404, "field": "path", "reason": "no such route"}},
                    )
                status, payload = result
                self._reply(
                    status, {"Content-Type": "application/json"}, json.dumps(payload).encode()
                )
                return
            headers = {key: value for key, value in self.headers.items()}
            try:
                response = stack.http(
                    method,
                    url.path,
                    body=body if length else None,
                    headers=headers,
                    query=url.query,
                )
            except Exception:  # noqa: BLE001 - a handler crash is a 502, as API Gateway does
                log.exception("handler failed")
                self._reply(
                    502,
                    {"Content-Type": "application/json"},
                    b'{"message": "Internal server error"}',
                )
                return
            self._reply(response.status, response.headers, response.body)

        def _reply(self, status: int, headers: dict, body: bytes) -> None:
            self.send_response(status)
            for key, value in headers.items():
                if key.lower() not in ("content-length", "connection"):
                    self.send_header(key, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _serve

    return Handler


def follow_real_time(
    stack: LocalStack, lock: threading.Lock, interval: float = 1.0
) -> threading.Event:
    """Move the clock with real time, as a deployment's clock moves: waits end and the
    daily sweep fires on their own. ``/_local/clock/advance`` jumps ahead on top of it.
    Returns an event that stops the ticking."""
    stop = threading.Event()

    def tick() -> None:
        last = time.monotonic()
        while not stop.wait(interval):
            current = time.monotonic()
            with lock:
                try:
                    stack.advance(hours=(current - last) / 3600)
                except Exception:  # noqa: BLE001 - a busy stack ticks again next time
                    log.exception("clock tick failed")
            last = current

    threading.Thread(target=tick, name="memberflow-real-time", daemon=True).start()
    return stop


def is_loopback(host: str) -> bool:
    """True for an address only this machine can reach (127.0.0.0/8, ::1, localhost)."""
    if host.lower() in ("localhost", "localhost."):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False  # any other name may resolve to a reachable address


def refuse_remote_host(host: str, allow_remote: bool) -> str | None:
    """Why ``host`` must not be served on, or None. The local member API has no
    authentication (IAM guards it in AWS): on a reachable address, anyone on the
    network could read, change and erase members."""
    if allow_remote or is_loopback(host):
        return None
    return (
        f"refusing to serve on {host}: the local member API is unauthenticated, so anyone "
        "who can reach this address could read, change and erase members. Use a loopback "
        "address (the default 127.0.0.1), or pass --allow-remote if you mean it."
    )


def banner(host: str, port: int, clock_now: str) -> list[str]:
    """What `memberflow serve` says at start: where, and what is not protected."""
    lines = [f"memberflow local stack on http://{host}:{port}  (clock {clock_now})"]
    lines.append(
        "warning: the member, journey and report APIs are unauthenticated here (IAM in "
        "AWS); webhook routes check signatures with the public development secrets."
    )
    if not is_loopback(host):
        lines.append(f"warning: --allow-remote: reachable beyond this machine on {host}.")
    return lines


def serve(
    stack: LocalStack,
    host: str = "127.0.0.1",
    port: int = 3000,
    ready: threading.Event | None = None,
) -> ThreadingHTTPServer:
    lock = threading.Lock()
    server = ThreadingHTTPServer((host, port), make_handler(stack, lock))
    server.clock_lock = lock  # the one timeline: ticks and /_local/clock/advance take turns
    server.daemon_threads = True
    if ready is not None:
        ready.set()
    return server
