"""GET /reports/kpis reads a precomputed KPI snapshot (one item), never the whole store;
the snapshot holds exactly what a full recomputation gives."""

from __future__ import annotations

import json
from collections import Counter
from datetime import UTC, datetime

from botocore.client import BaseClient

from memberflow.reports.kpis import compute_kpis
from memberflow.runtime import app_context
from tests.integration.test_webhooks_support import Platforms, raw


def _recomputed(stack) -> dict:
    return json.loads(json.dumps(compute_kpis(app_context().programme, stack.clock.now())))


def test_the_route_serves_a_snapshot_equal_to_a_full_recomputation_in_one_read(stack, monkeypatch):
    send = Platforms(stack)
    send.shopify("customers/create", raw("shopify", "customers_create.json"), "c-1")
    assert send.shopify("orders/paid", raw("shopify", "orders_paid.json"), "p-1").status == 200
    stack.clock.wait_idle()
    missing = stack.http("GET", "/reports/kpis")
    assert missing.status == 404 and missing.json()["error"]["field"] == "snapshot"

    requested = stack.http("POST", "/reports/kpis/snapshots")
    assert requested.status == 202, requested.body
    stack.clock.wait_idle()
    calls: Counter = Counter()
    original = BaseClient._make_api_call

    def counted(client, operation, params):
        if client.meta.service_model.service_name == "dynamodb":
            calls[operation] += 1
        return original(client, operation, params)

    monkeypatch.setattr(BaseClient, "_make_api_call", counted)
    response = stack.http("GET", "/reports/kpis")
    monkeypatch.setattr(BaseClient, "_make_api_call", original)
    assert response.status == 200, response.body
    assert dict(calls) == {"Query": 1}  # one bounded read, no Scan
    kpis = response.json()
    assert kpis == _recomputed(stack)
    assert kpis["members"]["live"] == 1 and kpis["revenue"] != "0"
    assert datetime.fromisoformat(kpis["generated_at"]) >= datetime.fromisoformat(
        requested.json()["requested_at"]
    )

    # The weekly job (Monday 04:00 UTC) writes a newer snapshot on its own.
    stack.advance(days=7)
    weekly = stack.http("GET", "/reports/kpis").json()
    assert weekly["generated_at"] == datetime(2026, 1, 12, 4, 0, tzinfo=UTC).isoformat()
    assert weekly != kpis
