"""``memberflow demo``: the main job on the embedded local stack.

Scripted scenario (until the programme simulation lands): a Shopify sign-up arrives
as a signed webhook, the member appears with welcome points, the welcome journey
sends at once, two virtual days later the onboarding message follows, and a forged
delivery is refused.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

from memberflow.webhooks.signing import shopify_headers
from memberflow_local.stack import LocalStack

ROOT = Path(__file__).resolve().parents[2]


def run_demo(args) -> int:
    started = time.perf_counter()
    with LocalStack(programme_file=args.programme) as stack:
        print(
            f"local stack up: {len(stack.template.tables)} tables, {len(stack.functions)} functions, "
            f"{len(stack.template.state_machines)} state machines, {len(stack.routes)} routes "
            f"(clock {stack.clock.now():%Y-%m-%d %H:%M} UTC)"
        )
        body = (ROOT / "events/payloads/shopify/customers_create.json").read_bytes()
        secret = stack.webhook_secrets["SHOPIFY_WEBHOOK_SECRET"]
        shop = "memberflow-demo.myshopify.com"
        headers = shopify_headers(secret, "customers/create", shop, body, "demo-event-1")
        response = stack.http("POST", "/webhooks/shopify", body=body, headers=headers)
        print(f"POST /webhooks/shopify customers/create -> {response.status}")
        member_id = response.json()["member_ids"][0]
        stack.clock.wait_idle()
        member = stack.http("GET", f"/members/{member_id}").json()
        print(
            f"member {member_id}: stage={member['stage']} tier={member['tier']} "
            f"points={member['points_balance']}"
        )
        _print_outbox(stack)
        stack.advance(days=2)
        print(f"advanced 2 days -> {stack.clock.now():%Y-%m-%d %H:%M} UTC")
        _print_outbox(stack)
        forged = dict(headers, **{"X-Shopify-Hmac-Sha256": "Zm9yZ2Vk"})
        refused = stack.http("POST", "/webhooks/shopify", body=body, headers=forged)
        print(f"forged delivery -> {refused.status} {json.dumps(refused.json())}")
    print(f"done in {time.perf_counter() - started:.1f}s")
    return 0


def _print_outbox(stack: LocalStack) -> None:
    for message in stack.outbox():
        print(
            f"  outbox: {message['sent_at'][:16]} {message['journey']}/{message['step']} "
            f"{message['channel']} template={message['template']} ({message['locale']})"
        )
