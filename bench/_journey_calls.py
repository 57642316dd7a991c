"""AWS calls per event on the journey side (issue 13): a sign-up's welcome execution,
a cohort step per member, a sweep with nobody due (``python -m bench.journeys --calls``)."""

from __future__ import annotations

import json

from bench._metering import Counter, Meter, _journey_days, _make_members

# ---------------------------------------------------------------- AWS calls per event
# Issue 13's figures before this work (same hook, same local stack) and its targets.
CALLS_BEFORE = {"welcome_execution": 27.6, "cohort_step_per_member": 5.5, "sweep_nobody_due": 128}
CALLS_TARGET = {"welcome_execution": 6, "cohort_step_per_member": 2, "sweep_nobody_due": 16}


class counting:
    """Counts every AWS call each function makes (scope ``<Function>:<action>``) and,
    outside any function, the calls Step Functions makes itself (its Lambda invocations of
    the journey step: scope ``None``)."""

    def __init__(self, stack):
        self.stack = stack
        self.meter = Meter(stack.physical["EnrolmentsTable"]["Ref"])

    def __enter__(self) -> Meter:
        meter, original = self.meter, self.stack.invoke
        self._uninstall = meter.install()
        self._original = original

        def invoke(logical_id, event, **kwargs):
            previous = meter.scope()
            action = event.get("action") if isinstance(event, dict) else None
            meter.local.scope = f"{logical_id}:{action}" if action else logical_id
            try:
                return original(logical_id, event, **kwargs)
            finally:
                meter.local.scope = previous

        self.stack.invoke = invoke
        return meter

    def __exit__(self, *exc) -> None:
        self.stack.invoke = self._original
        self._uninstall()


def _calls_of(meter: Meter, prefix: str) -> Counter:
    total = Counter()
    with meter.lock:
        for scope, counter in meter.by_scope.items():
            if scope and scope.startswith(prefix):
                total.add(counter)
    return total


def welcome_calls(stack, signups: int = 10) -> dict:
    """Shopify ``customers/create`` sign-ups through the webhook, then their whole welcome
    (welcome message, onboarding 2 days later, the close): the AWS calls per sign-up of
    the webhook handler, of the journey step function, and Step Functions' own Lambda
    invocations of it (each a billed Lambda request)."""
    from pathlib import Path

    from memberflow.webhooks.signing import shopify_headers

    sample = Path(__file__).resolve().parents[1] / "events/payloads/shopify/customers_create.json"
    secret = stack.webhook_secrets["SHOPIFY_WEBHOOK_SECRET"]
    before = stack.invocations.get("JourneyStepFunction", 0)
    sends_before = len(stack.outbox())
    with counting(stack) as meter:
        for i in range(signups):
            doc = json.loads(sample.read_bytes())
            doc["id"] = 7_000_000 + i
            doc["email"] = f"welcome-bench-{i}@example.com"
            body = json.dumps(doc).encode()
            headers = shopify_headers(
                secret, "customers/create", "memberflow-demo.myshopify.com", body, f"wb-{i}"
            )
            response = stack.http("POST", "/webhooks/shopify", body=body, headers=headers)
            if response.status != 200:
                raise RuntimeError(f"sign-up refused: {response.status} {response.body}")
        stack.clock.wait_idle()
        stack.advance(days=3)  # onboarding after 2 days, then the close (exit window 0)
        journey = _calls_of(meter, "JourneyStepFunction")
        webhook = _calls_of(meter, "WebhookFunction")
    invocations = stack.invocations.get("JourneyStepFunction", 0) - before
    return {
        "signups": signups,
        "sends": len(stack.outbox()) - sends_before,
        "journey_function_calls": journey.total_calls / signups,
        "step_functions_invocations": invocations / signups,
        "welcome_execution": (journey.total_calls + invocations) / signups,
        "webhook_handler": webhook.total_calls / signups,
        "journey_calls_by_operation": {k: v / signups for k, v in sorted(journey.calls.items())},
    }


def cohort_step_calls(
    stack, members: int = 100, journey: str = "dormancy_recall", shop: str | None = None
) -> dict:
    """A sweep-sized cohort through every step of ``journey``: the calls of the step
    invocations (the Map's shards, or a one-shard cohort's passes, which also start the
    next pass and close the cohort) per member and step, and of the whole journey.
    ``shop``: the members are customers of that local Shopify shop, whose coupon codes
    the coupon steps create there (issue 14); its HTTP requests are counted apart."""
    from memberflow.journeys.entry import JourneyEntry
    from memberflow.runtime import app_context

    stage = {"activation": "new", "dormancy_recall": "at_risk", "winback": "lapsed"}[journey]
    ids = [f"step-bench-{i:05d}" for i in range(members)]
    _make_members(ids, stage, stack.clock.now(), shop=shop)
    shop_before = stack.shops.requests(shop) if shop else 0
    config = app_context().programme.journey(journey)
    before = stack.invocations.get("JourneyStepFunction", 0)
    with counting(stack) as meter:
        JourneyEntry(app_context()).enrol(journey, ids, cohort_id=f"{journey}-step-bench")
        stack.advance(days=_journey_days(config) + 1)
        # a cohort of one shard runs each pass as one task ("pass": the step, then the
        # advance's start of the next pass, and the close); larger ones as a Map of "step"
        steps = _calls_of(meter, "JourneyStepFunction:step")
        steps.add(_calls_of(meter, "JourneyStepFunction:pass"))
        whole = _calls_of(meter, "JourneyStepFunction")
    invocations = stack.invocations.get("JourneyStepFunction", 0) - before
    per_step = len(config["steps"])
    return {
        "journey": journey,
        "members": members,
        "steps": per_step,
        "sends": steps.calls.get("ses:SendEmail", 0),
        "cohort_step_per_member": steps.total_calls / (members * per_step),
        "journey_per_member": (whole.total_calls + invocations) / members,
        "shop_requests": (stack.shops.requests(shop) - shop_before) if shop else 0,
        "shop_codes": len(stack.shops.codes(shop)) if shop else 0,
        "step_calls_by_operation": {
            k: v / (members * per_step) for k, v in sorted(steps.calls.items())
        },
    }


def sweep_calls(stack) -> dict:
    """The daily sweep on a day when nobody is due: its AWS calls."""
    with counting(stack) as meter:
        result = stack.invoke("SweepFunction", {})
        sweep = _calls_of(meter, "SweepFunction")
    return {
        "swept": result.get("swept"),
        "sweep_nobody_due": sweep.calls.get("dynamodb:Query", 0),
        "sweep_calls": sweep.total_calls,
        "sweep_calls_by_operation": dict(sorted(sweep.calls.items())),
    }


def calls() -> dict:
    """`python -m bench.journeys --calls`: each figure against issue 13's and its target."""
    from memberflow_local.stack import LocalStack

    figures: dict = {}
    with LocalStack() as stack:
        figures.update(sweep_calls(stack))
        figures.update(welcome_calls(stack))
    with LocalStack() as stack:
        figures.update(cohort_step_calls(stack))
    with LocalStack() as stack:  # the same cohort, customers of a shop that creates codes
        shop = cohort_step_calls(stack, shop="memberflow-demo.myshopify.com")
        figures["with_shop_codes"] = {
            k: shop[k] for k in ("cohort_step_per_member", "shop_requests", "shop_codes", "sends")
        }
    print("\nAWS calls (botocore hook on every client), before -> now (target):")
    for key, before in CALLS_BEFORE.items():
        now = figures[key]
        mark = "met" if now <= CALLS_TARGET[key] else "NOT met"
        print(
            f"  {key:>24}: {before:g} -> {now:.2f} (target <= {CALLS_TARGET[key]}, {mark}; "
            f"{before / now if now else float('inf'):.1f}x fewer)"
        )
    print(
        f"  welcome: journey function {figures['journey_function_calls']:.2f} + Step Functions' "
        f"Lambda invocations {figures['step_functions_invocations']:.2f}; the sign-up's webhook "
        f"handler {figures['webhook_handler']:.2f}"
    )
    print(f"  {figures['journey']} journey, per member: {figures['journey_per_member']:.2f} calls")
    codes = figures["with_shop_codes"]
    print(
        f"  with its coupons created in a Shopify shop: {codes['cohort_step_per_member']:.2f} "
        f"AWS calls a member and step, plus {codes['shop_requests']} shop HTTP requests for "
        f"{codes['shop_codes']} codes"
    )
    print(json.dumps(figures, indent=1, sort_keys=True))
    return figures
