"""Webhook path: warm handler time per delivery and cold import time per handler.

    make bench ONLY=webhooks

1. Warm: a signed Shopify ``orders/paid`` (a new order each time, for a member who
   exists) through WebhookFunction on the local stack (moto), p50/p99; baselines in
   the same run: the bare ``verify_and_parse`` of the same body, and an ignored-topic
   delivery through the same handler (routing, logging, secrets, no writes).
2. Cold: ``python -X importtime`` importing each handler module in a fresh process,
   with the heaviest imports listed. Aim: < 300 ms per handler.
"""

from __future__ import annotations

import json
import re
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SHOP = "memberflow-demo.myshopify.com"
HANDLERS = {"WebhookFunction": "functions/webhooks", "MemberApiFunction": "functions/member_api"}
WARM_DELIVERIES = 150
MEMBERS = 30


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def _line(label: str, values: list[float]) -> str:
    ms = [v * 1000 for v in values]
    return (
        f"  {label:<44} n={len(ms):<4} p50={_pct(ms, 0.5):7.2f} ms  p99={_pct(ms, 0.99):7.2f} ms"
        f"  mean={statistics.fmean(ms):7.2f} ms"
    )


def warm() -> None:
    from memberflow.webhooks import WebhookSecrets, verify_and_parse
    from memberflow.webhooks.signing import shopify_headers
    from memberflow_local.stack import LocalStack

    payloads = ROOT / "events" / "payloads" / "shopify"
    customer = (payloads / "customers_create.json").read_bytes()
    order = json.loads((payloads / "orders_paid.json").read_bytes())
    with LocalStack() as stack:
        secret = stack.webhook_secrets["SHOPIFY_WEBHOOK_SECRET"]

        def post(topic: str, body: bytes, event_id: str):
            headers = shopify_headers(secret, topic, SHOP, body, event_id)
            return stack.http("POST", "/webhooks/shopify", body=body, headers=headers)

        customer_doc = json.loads(customer)
        for m in range(MEMBERS):  # orders spread over members, a few each
            customer_doc["id"] = 7_100_000_000 + m
            customer_doc["email"] = f"bench{m}@example.com"
            assert (
                post("customers/create", json.dumps(customer_doc).encode(), f"c{m}").status == 200
            )
        stack.clock.wait_idle()
        bodies = []
        for i in range(WARM_DELIVERIES + 20):
            m = i % MEMBERS
            order["id"] = 9_000_000_000 + i
            order["email"] = order["customer"]["email"] = f"bench{m}@example.com"
            order["customer"]["id"] = 7_100_000_000 + m
            # distinct order times (equal ones trip a sort in loyalty/accounts.py)
            order["processed_at"] = f"2025-06-01T{i // 60 % 24:02d}:{i % 60:02d}:00Z"
            bodies.append(json.dumps(order).encode())
        for i in range(20):  # warm-up
            post("orders/paid", bodies[i], f"warm-{i}")
        paid, ignored, bare = [], [], []
        secrets = WebhookSecrets.dev()
        now = stack.clock.now()
        for i in range(20, WARM_DELIVERIES + 20):
            started = time.perf_counter()
            response = post("orders/paid", bodies[i], f"bench-{i}")
            paid.append(time.perf_counter() - started)
            assert response.status == 200, response.body
            started = time.perf_counter()
            response = post("products/update", bodies[i], f"ign-{i}")
            ignored.append(time.perf_counter() - started)
            assert response.status == 202
            headers = shopify_headers(secret, "orders/paid", SHOP, bodies[i], f"bare-{i}")
            started = time.perf_counter()
            verify_and_parse("shopify", headers, bodies[i], secrets, now)
            bare.append(time.perf_counter() - started)
        stack.clock.wait_idle()
    print("warm handler time per delivery (local stack, moto in-process):")
    print(_line("orders/paid through WebhookFunction", paid))
    print(_line("baseline: ignored topic through the handler", ignored))
    print(_line("baseline: bare verify_and_parse", bare))


IMPORT_LINE = re.compile(r"import time:\s+(\d+) \|\s+(\d+) \|(\s*)(\S+)")


def cold() -> int:
    status = 0
    print("cold import time per handler (python -X importtime, fresh process):")
    for function, folder in HANDLERS.items():
        code = (
            f"import sys; sys.path[:0] = [{str(ROOT / folder)!r}, {str(ROOT / 'shared')!r}]; "
            "import app"
        )
        runs = []
        for _ in range(3):
            done = subprocess.run(
                [sys.executable, "-X", "importtime", "-c", code],
                capture_output=True,
                text=True,
                check=True,
            )
            rows = [
                (int(m[1]), int(m[2]), len(m[3]), m[4])
                for m in map(IMPORT_LINE.match, done.stderr.splitlines())
                if m
            ]
            runs.append(rows)
        best = min(runs, key=lambda rows: sum(r[0] for r in rows))
        total_ms = sum(r[0] for r in best) / 1000
        print(
            f"  {function} ({folder}/app.py): {total_ms:.0f} ms (best of 3)"
            f"{'' if total_ms < 300 else '  ABOVE the 300 ms aim'}"
        )
        # heaviest third-party packages and memberflow modules (cumulative, as imported)
        seen, shown = set(), 0
        for _self_us, cumulative, _depth, name in sorted(best, key=lambda r: -r[1]):
            root = name.split(".")[0]
            if (
                name in ("app", "site")
                or root.startswith("_")
                or (root in seen and root != "memberflow")
            ):
                continue
            if root == "memberflow" and name.count(".") > 2:
                continue
            seen.add(root)
            print(f"      {cumulative / 1000:7.1f} ms  {name}")
            shown += 1
            if shown == 10:
                break
    return status


def main(argv: list[str]) -> int:
    status = cold()
    warm()
    return status


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
