"""The adapters against the local shops endpoint (memberflow_local.shops): real HTTP
over loopback, the real HTTP client, a clock the tests move instead of waiting."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from memberflow.shops import DiscountCode
from memberflow_local.shops import LocalShops

SHOP = "memberflow-demo.myshopify.com"
SITE = "https://shop.example.com/"
TOKEN = "shpat_test_token"
KEYS = {"consumer_key": "ck_test", "consumer_secret": "cs_test"}
START = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


class FakeTime:
    """Time for the endpoint's cost bucket and the adapters' waits: sleeping moves it."""

    def __init__(self):
        self.now = 0.0
        self.slept: list[float] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


@pytest.fixture
def fake_time() -> FakeTime:
    return FakeTime()


@pytest.fixture
def shops(fake_time):
    with LocalShops(clock=fake_time.clock) as local:
        local.add_shopify(SHOP, TOKEN)
        local.add_woocommerce(SITE, **KEYS)
        yield local


def code(i: int, *, kind: str = "percentage", value: str = "15", **changes) -> DiscountCode:
    fields = dict(
        key=f"coupon#activation#m-{i}",
        code=f"WELCOME15-{i:04d}",
        kind=kind,
        value=Decimal(value),
        starts_at=START,
        ends_at=START + timedelta(days=14),
        customer_id=str(7000 + i),
        email=f"member{i}@example.com",
        title="memberflow member offer",
    )
    fields.update(changes)
    return DiscountCode(**fields)
