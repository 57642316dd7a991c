"""shop/redact: the webhook records the request and hands the erasure to the
shop-erasure function, which pages through the identities table within its budget."""

from __future__ import annotations

import json
import sys

import pytest

from memberflow.ingest import privacy
from memberflow.store import Member
from tests.integration.test_webhooks_support import SHOP, Platforms, doc, raw

CUSTOMERS = 5


@pytest.fixture
def shop_members(stack):
    send = Platforms(stack)
    members = []
    for n in range(CUSTOMERS):
        customer = doc("shopify", "customers_create.json")
        customer.update(id=7_000_000 + n, email=f"shopper{n}@example.com", phone=None)
        if isinstance(customer.get("default_address"), dict):
            customer["default_address"].update(customer_id=7_000_000 + n, phone=None)
        response = send.shopify("customers/create", customer, f"sc-{n}")
        assert response.status == 200, response.body
        members.extend(response.json()["member_ids"])
    stack.clock.wait_idle()
    assert len(set(members)) == CUSTOMERS
    return members


def test_shop_redact_hands_the_erasure_to_the_async_function_which_pages(
    stack, shop_members, monkeypatch
):
    # One page of two links per invocation: the function hands the rest to itself.
    monkeypatch.setattr(privacy, "SHOP_PAGE", 2)
    erasure = sys.modules[stack.handler("ShopErasureFunction").__module__]
    timeout_ms = stack.functions["ShopErasureFunction"].timeout * 1000
    monkeypatch.setattr(erasure, "RESERVE_MS", timeout_ms)  # never time for a second page
    before = stack.invocations.get("ShopErasureFunction", 0)

    response = Platforms(stack).shopify("shop/redact", raw("shopify", "shop_redact.json"), "sr-1")
    assert response.status == 200, response.body
    body = response.json()
    assert body["status"] == "applied" and body["member_ids"] == []  # nobody erased inline
    stack.clock.wait_idle()

    assert all(Member.get(m).erased for m in shop_members)
    assert stack.invocations["ShopErasureFunction"] - before >= CUSTOMERS // 2 + 1
    requests = [
        item
        for item in stack.client("dynamodb").scan(
            TableName=stack.physical["IdentitiesTable"]["Ref"]
        )["Items"]
        if "shop_redact" in json.dumps(item)
    ]
    assert requests, "the shop/redact request is recorded"


def test_an_erasure_out_of_time_returns_a_cursor_and_goes_on_from_it(
    stack, shop_members, monkeypatch
):
    monkeypatch.setattr(privacy, "SHOP_PAGE", 2)
    erased, cursor = privacy.redact_shop(
        "shopify", SHOP, now=stack.clock.now(), has_time=lambda: False
    )
    assert cursor is not None and len(erased) < CUSTOMERS
    rest, done = privacy.redact_shop("shopify", SHOP, now=stack.clock.now(), cursor=cursor)
    assert done is None
    assert sorted(erased + rest) == sorted(shop_members)
