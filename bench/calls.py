"""AWS calls per event, counted on the local stack (a botocore hook on every client).

    make bench ONLY=calls

Every call a function makes while its handler runs is counted, whatever the service
(DynamoDB, Step Functions, SES, SNS, Secrets Manager, SSM, Lambda...), failed calls
included (a refused conditional write is a call too). Calls that no handler makes (the
test driver, moto's own Step Functions engine invoking a task) are not: in AWS those are
state transitions, billed apart. Warm invocations: the first sign-up and order of the
run (cold start: secret and programme reads) are not counted.

Measured, each next to its target (issue 13) and the counts before that issue:

* a Shopify ``customers/create`` (a new customer): its webhook delivery, and its welcome
  execution run to its end on the virtual clock (average over the sign-ups);
* an ``orders/paid`` and a ``refunds/create`` for members who exist;
* a sweep run on a day nobody is due (two runs a day);
* a journey step, per member: an activation cohort of 200 members, its first step
  (the plan and the step's shard invocations, divided by the members).

Call counts are deterministic: tests/integration/test_calls_per_event.py asserts the
webhook path's with :func:`counting` and :func:`delivery_calls` from here.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from bench._metering import Counter, Meter

ROOT = Path(__file__).resolve().parents[1]
PAYLOADS = ROOT / "events" / "payloads" / "shopify"
SHOP = "memberflow-demo.myshopify.com"

# (label, target, before issue 13) per event; the sign-up's "before" is handler + welcome.
TARGETS = {
    "signup": 12,
    "signup_handler": 6,  # the handler's share of the 12 (the welcome execution has the rest)
    "orders_paid": 3,
    "refund": 3,
    "sweep_nobody_due": 16,
    "cohort_step_per_member": 2,
}
BEFORE = {
    "signup": 22 + 27.6,
    "signup_handler": 22,
    "signup_welcome": 27.6,
    "orders_paid": 9,
    "refund": 6,
    "sweep_nobody_due": 128,
    "cohort_step_per_member": 5.5,
}


class CallMeter(Meter):
    """:class:`bench._metering.Meter` counting every service's calls, failures too.

    The scope is the function whose handler is running (set by :func:`counting`);
    DynamoDB calls also get the request units Meter computes."""

    def install(self):
        from botocore.client import BaseClient

        meter = self
        original = BaseClient._make_api_call

        def counted(client, operation_name, params):
            scope = meter.scope()
            if scope is None:
                return original(client, operation_name, params)
            service = client.meta.service_model.service_name
            response: dict = {}
            try:
                response = original(client, operation_name, params)
                return response
            finally:
                if service == "dynamodb":
                    meter.record(operation_name, params, response)
                else:
                    meter.record_other(f"{service}.{operation_name}")

        BaseClient._make_api_call = counted
        return lambda: setattr(BaseClient, "_make_api_call", original)

    def record_other(self, operation: str) -> None:
        with self.lock:
            counter = self.by_scope.setdefault(self.scope(), Counter())
            counter.requests[operation] = counter.requests.get(operation, 0) + 1

    def take_all(self) -> dict[str, Counter]:
        """Calls by function since the last take, and start again."""
        with self.lock:
            taken, self.by_scope = self.by_scope, {}
            return taken


@contextmanager
def counting(stack) -> Iterator[CallMeter]:
    """Count the AWS calls of every handler the local stack runs, by function."""
    meter = CallMeter(stack.physical["EnrolmentsTable"]["Ref"])
    uninstall = meter.install()
    original_invoke = stack.invoke

    def invoke(logical_id, event, **kwargs):
        outer = meter.scope()
        meter.local.scope = logical_id
        try:
            return original_invoke(logical_id, event, **kwargs)
        finally:
            meter.local.scope = outer

    stack.invoke = invoke
    try:
        yield meter
    finally:
        stack.invoke = original_invoke
        uninstall()


def total(counters: dict[str, Counter], *functions: str) -> int:
    return sum(c.total_requests for f, c in counters.items() if not functions or f in functions)


# ---------------------------------------------------------------- deliveries
class Shop:
    """Signed Shopify deliveries of the sample payloads, with ids of our choosing."""

    def __init__(self, stack):
        from memberflow.webhooks.signing import shopify_headers

        self.stack = stack
        self.secret = stack.webhook_secrets["SHOPIFY_WEBHOOK_SECRET"]
        self.headers = shopify_headers
        self.sent = 0

    def post(self, topic: str, doc: dict, event_id: str | None = None):
        self.sent += 1
        body = json.dumps(doc).encode()
        event_id = event_id or f"bench-{self.sent}"
        headers = self.headers(self.secret, topic, SHOP, body, event_id)
        return self.stack.http("POST", "/webhooks/shopify", body=body, headers=headers)

    @staticmethod
    def customer(n: int) -> dict:
        doc = json.loads((PAYLOADS / "customers_create.json").read_bytes())
        doc["id"] = 7_200_000_000 + n
        doc["email"] = f"calls{n}@example.com"
        return doc

    @staticmethod
    def order(n: int, order_n: int) -> dict:
        doc = json.loads((PAYLOADS / "orders_paid.json").read_bytes())
        doc["id"] = 5_700_000_000 + order_n
        doc["email"] = doc["customer"]["email"] = f"calls{n}@example.com"
        doc["customer"]["id"] = 7_200_000_000 + n
        return doc

    @staticmethod
    def refund(order_n: int) -> dict:
        doc = json.loads((PAYLOADS / "refunds_create.json").read_bytes())
        doc["id"] = 9_400_000_000 + order_n
        doc["order_id"] = 5_700_000_000 + order_n
        for tx in doc.get("transactions", []):
            tx["order_id"] = doc["order_id"]
        for line in doc.get("refund_line_items", []):
            line["id"] = doc["id"] * 10 + 1
        return doc


def delivery_calls(meter: CallMeter, send) -> tuple[object, dict[str, int]]:
    """Run ``send()`` (one delivery) and count the webhook handler's calls by operation:
    (the response, {operation: calls})."""
    meter.take_all()
    response = send()
    counters = meter.take_all()
    counter = counters.get("WebhookFunction", Counter())
    return response, dict(counter.requests)


# ---------------------------------------------------------------- the benchmark
@dataclass
class Row:
    label: str
    measured: float
    target: float | None
    before: float | None
    detail: str = ""

    def line(self) -> str:
        target = f"<= {self.target:g}" if self.target is not None else "   -"
        met = "" if self.target is None else ("met" if self.measured <= self.target else "NOT MET")
        before = f"{self.before:6.1f}" if self.before is not None else "     -"
        ratio = f"x{self.measured / self.before:5.2f}" if self.before else "      "
        return (
            f"  {self.label:<34} {self.measured:7.1f}  target {target:<6} before {before}"
            f"  {ratio} of before  {met:<7} {self.detail}"
        )


def _ops(requests: dict[str, int]) -> str:
    return ", ".join(f"{op} {n}" for op, n in sorted(requests.items()))


def measure(signups: int = 10, cohort: int = 200) -> list[Row]:
    from bench._metering import _make_members
    from memberflow.journeys.entry import JourneyEntry
    from memberflow.runtime import app_context
    from memberflow_local.stack import LocalStack

    rows: list[Row] = []
    with LocalStack() as stack, counting(stack) as meter:
        shop = Shop(stack)
        # The sweep of an empty programme, per run (it runs at 02:00 and 14:00 UTC: the
        # afternoon run reaches the local day of members west of UTC).
        meter.take_all()
        runs_before = stack.invocations.get("SweepFunction", 0)
        stack.advance(days=1)
        sweeps = meter.take_all().get("SweepFunction", Counter())
        runs = stack.invocations.get("SweepFunction", 0) - runs_before
        rows.append(
            Row(
                f"sweep run, nobody due ({runs} runs a day)",
                sweeps.total_requests / max(runs, 1),
                TARGETS["sweep_nobody_due"],
                BEFORE["sweep_nobody_due"],
                _ops(sweeps.requests),
            )
        )
        # Warm the webhook function (cold start: secret, programme).
        shop.post("customers/create", shop.customer(0))
        shop.post("orders/paid", shop.order(0, 0))
        stack.clock.wait_idle()
        meter.take_all()

        handler: dict[str, int] = {}
        for n in range(1, signups + 1):
            response, ops = delivery_calls(
                meter, lambda n=n: shop.post("customers/create", shop.customer(n))
            )
            assert response.status == 200, response.body
            for op, count in ops.items():
                handler[op] = handler.get(op, 0) + count
        # Each welcome runs to its end on the virtual clock (steps and exit window).
        config = app_context().programme.journey("welcome")
        days = sum(s["wait_days"] for s in config["steps"]) + config["exit_after_days"] + 1
        invoked = stack.invocations.get("JourneyStepFunction", 0)
        stack.advance(days=days)
        # Step Functions' own Lambda invocations: requests too (billed), made by AWS.
        invocations = (stack.invocations.get("JourneyStepFunction", 0) - invoked) / signups
        welcome = meter.take_all()
        journey_functions = [f for f in welcome if f not in ("SweepFunction", "WebhookFunction")]
        welcome_calls = total(welcome, *journey_functions) / signups
        handler_calls = sum(handler.values()) / signups
        rows.append(
            Row(
                "sign-up: webhook handler",
                handler_calls,
                TARGETS["signup_handler"],
                BEFORE["signup_handler"],
                _ops({k: v / signups for k, v in handler.items()}).replace(".0", ""),
            )
        )
        rows.append(
            Row(
                "sign-up: welcome execution",
                welcome_calls,
                None,
                BEFORE["signup_welcome"],
                "functions " + ", ".join(sorted(journey_functions)),
            )
        )
        rows.append(
            Row(
                "sign-up incl. its whole welcome",
                handler_calls + welcome_calls,
                TARGETS["signup"],
                BEFORE["signup"],
                "calls the code makes",
            )
        )
        rows.append(
            Row(
                "  the same + Step Functions' invokes",
                handler_calls + welcome_calls + invocations,
                TARGETS["signup"],
                BEFORE["signup"],
                f"{invocations:g} Lambda invocations by the state machine per sign-up",
            )
        )

        def updated(n: int) -> dict:
            doc = shop.customer(n)
            doc["first_name"], doc["updated_at"] = "Grace", "2026-01-06T10:00:00Z"
            return doc

        for label, topic, doc_of, key in (
            ("customers/update (profile)", "customers/update", updated, None),
            ("orders/paid", "orders/paid", lambda n: shop.order(n, n), "orders_paid"),
            ("refunds/create", "refunds/create", shop.refund, "refund"),
        ):
            ops_total: dict[str, int] = {}
            for n in range(1, signups + 1):
                response, ops = delivery_calls(
                    meter, lambda n=n, topic=topic, doc_of=doc_of: shop.post(topic, doc_of(n))
                )
                assert response.status == 200, response.body
                for op, count in ops.items():
                    ops_total[op] = ops_total.get(op, 0) + count
            rows.append(
                Row(
                    label,
                    sum(ops_total.values()) / signups,
                    TARGETS.get(key),
                    BEFORE.get(key),
                    _ops({k: v / signups for k, v in ops_total.items()}).replace(".0", ""),
                )
            )
        stack.clock.wait_idle()

        # A journey step: an activation cohort's first step, per member.
        ids = [f"calls-act-{i:04d}" for i in range(cohort)]
        _make_members(ids, "new", stack.clock.now())
        meter.take_all()
        entry = JourneyEntry(app_context())
        entry.enrol("activation", ids, cohort_id="activation-calls-bench")
        stack.advance(hours=1)
        steps = meter.take_all()
        step_functions = [f for f in steps if f not in ("SweepFunction", "WebhookFunction")]
        rows.append(
            Row(
                f"cohort step, per member ({cohort})",
                total(steps, *step_functions) / cohort,
                TARGETS["cohort_step_per_member"],
                BEFORE["cohort_step_per_member"],
                "first activation step, plan included",
            )
        )
    return rows


def main(argv: list[str]) -> int:
    rows = measure()
    print("AWS calls per event (warm, local stack; every service, failed calls included):")
    for row in rows:
        print(row.line())
    print(
        "  (before = issue 13's profile; the welcome execution and the journey step are "
        "the journeys' share, bench/journeys.py measures their cost)"
    )
    return 0


if __name__ == "__main__":
    import sys

    sys.exit(main(sys.argv[1:]))
