"""Shared fixtures: a fresh embedded local stack built from template.yaml."""

from __future__ import annotations

import pytest

from memberflow.webhooks.signing import shopify_headers
from memberflow_local.stack import LocalStack

SHOP = "memberflow-demo.myshopify.com"


@pytest.fixture
def stack():
    with LocalStack() as local:
        yield local


def signed_shopify(stack: LocalStack, topic: str, body: bytes, event_id: str) -> dict:
    secret = stack.webhook_secrets["SHOPIFY_WEBHOOK_SECRET"]
    return shopify_headers(secret, topic, SHOP, body, event_id)


# Tests that run for minutes (measured with --durations), by name: the uplift-recovery
# simulations and the concurrency replay. With pytest-xdist (make pytest), each starts one
# worker's share of the suite, so they overlap with each other and with the rest instead
# of queueing on one worker. Only the order changes; a test not found here keeps its place.
LONG_RUNNING = (
    "test_report_recovers_each_journeys_planted_uplift",
    "test_no_uplift_is_reported_when_the_planted_effect_is_zero",
    "test_eight_threads_of_orders_and_refunds_equal_a_sequential_replay",
)


def pytest_collection_modifyitems(config, items):
    workerinput = getattr(config, "workerinput", None)
    if workerinput is None:  # one process: the usual order
        return
    workers = int(workerinput.get("workercount", 1))
    by_name = {item.name: item for item in items}
    long = [by_name[name] for name in LONG_RUNNING if name in by_name]
    if workers < 2 or not long:
        return
    # --dist worksteal first hands worker k the k-th of `workers` consecutive blocks.
    starts, start = [], 0
    for k in range(workers):
        starts.append(start)
        start += (len(items) - start) // (workers - k)
    placed = {starts[i % workers] + i // workers: item for i, item in enumerate(long)}
    rest = iter(item for item in items if all(item is not t for t in long))
    items[:] = [placed[p] if p in placed else next(rest) for p in range(len(items))]
