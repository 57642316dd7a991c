"""shop/redact: the webhook records the request and hands the erasure to the
shop-erasure function, which pages through the identities table within its budget."""

from __future__ import annotations

import json
import sys

import pytest

from memberflow.ingest import privacy
from memberflow.store import Member
from tests.integration.test_webhooks_support import SHOP, Platforms, doc, raw

CUSTOMERS = 4


def _customer(stack, n: int) -> str:
    customer = doc("shopify", "customers_create.json")
    customer.update(id=7_000_000 + n, email=f"shopper{n}@example.com", phone=None)
    if isinstance(customer.get("default_address"), dict):
        customer["default_address"].update(customer_id=7_000_000 + n, phone=None)
    response = Platforms(stack).shopify("customers/create", customer, f"sc-{n}")
    assert response.status == 200, response.body
    (member_id,) = response.json()["member_ids"]
    return member_id


@pytest.fixture
def shop_members(stack):
    members = [_customer(stack, n) for n in range(CUSTOMERS)]
    stack.clock.wait_idle()
    return members


def test_shop_redact_is_handed_to_the_async_function_which_erases_in_pages(
    stack, shop_members, monkeypatch
):
    monkeypatch.setattr(privacy, "SHOP_PAGE", 2)

    # Out of time after one page: what is left comes back as a cursor to go on from.
    erased, cursor = privacy.redact_shop(
        "shopify", SHOP, now=stack.clock.now(), has_time=lambda: False
    )
    assert cursor is not None and 0 < len(erased) < CUSTOMERS
    rest, done = privacy.redact_shop("shopify", SHOP, now=stack.clock.now(), cursor=cursor)
    assert done is None and sorted(erased + rest) == sorted(shop_members)

    # Through the webhook: recorded, and handed to the shop-erasure function, which reads
    # one page per invocation here (never time for a second) and hands on to itself.
    for n in range(CUSTOMERS, 2 * CUSTOMERS):
        shop_members.append(_customer(stack, n))
    erasure = sys.modules[stack.handler("ShopErasureFunction").__module__]
    timeout_ms = stack.functions["ShopErasureFunction"].timeout * 1000
    monkeypatch.setattr(erasure, "RESERVE_MS", timeout_ms)
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
