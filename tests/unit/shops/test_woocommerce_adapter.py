"""The WooCommerce adapter (REST wc/v3 coupons) against the local WooCommerce endpoint."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest

from memberflow.shops.transport import Backoff, Transport
from memberflow.shops.woocommerce import WooCommerceDiscounts
from memberflow_local.shops import CodeRefused
from tests.unit.shops.conftest import KEYS, SITE, START, code


def adapter(shops, fake_time, *, keys=KEYS, **kwargs) -> WooCommerceDiscounts:
    return WooCommerceDiscounts(
        SITE,
        **keys,
        title="memberflow member offer",
        endpoint=f"{shops.url}/woocommerce/shop.example.com/wp-json/wc/v3/",
        backoff=Backoff(sleep=fake_time.sleep),
        **kwargs,
    )


def test_a_cohort_goes_in_batches_of_100(shops, fake_time):
    codes = [code(i) for i in range(150)]
    result = adapter(shops, fake_time).create_codes(codes)

    assert len(result.created) == 150 and not result.refused
    assert shops.requests(SITE) == 2  # two batch requests, not 150 creations
    held = shops.codes(SITE)["WELCOME15-0007"]
    assert (held.kind, held.value, held.usage_limit) == ("percentage", Decimal(15), 1)
    assert held.emails == ("member7@example.com",)
    assert held.ends_at == START + timedelta(days=14)
    assert held.key == code(7).key
    assert result.created[code(7).key].shop_discount_id == held.discount_id


def test_the_coupon_carries_what_the_checkout_enforces(shops, fake_time):
    fixed = code(1, kind="fixed_amount", value="12.5")
    adapter(shops, fake_time, individual_use=True).create_codes([fixed])
    reply = Transport().request(
        "GET",
        f"{shops.url}/woocommerce/shop.example.com/wp-json/wc/v3/coupons?code=welcome15-0001",
        headers={"Authorization": adapter(shops, fake_time)._auth},
    )
    (coupon,) = reply.body
    assert coupon["discount_type"] == "fixed_cart" and coupon["amount"] == "12.50"
    assert coupon["usage_limit"] == 1 and coupon["usage_limit_per_user"] == 1
    assert coupon["individual_use"] is True
    assert coupon["date_expires_gmt"] == "2026-03-16T09:00:00"
    with pytest.raises(CodeRefused, match="e-mail"):
        shops.use(SITE, "WELCOME15-0001", email="someone@example.com", at=START)
    shops.use(SITE, "welcome15-0001", email="member1@example.com", at=START)


def test_a_retried_creation_makes_nothing_twice(shops, fake_time):
    codes = [code(i) for i in range(5)]
    first = adapter(shops, fake_time).create_codes(codes[:3])
    again = adapter(shops, fake_time).create_codes(codes)

    assert len(shops.codes(SITE)) == 5
    assert {k: again.created[k] for k in first.created} == first.created
    assert not again.refused


def test_a_code_another_coupon_holds_is_refused(shops, fake_time):
    adapter(shops, fake_time).create_codes([code(1)])
    clash = code(2, code="WELCOME15-0001")
    result = adapter(shops, fake_time).create_codes([clash, code(3)])

    assert set(result.created) == {code(3).key}
    refusal = result.refused[clash.key]
    assert not refusal.retryable and refusal.field == "code"
    assert shops.codes(SITE)["WELCOME15-0001"].emails == ("member1@example.com",)


def test_a_code_without_an_email_is_refused_before_any_request(shops, fake_time):
    result = adapter(shops, fake_time).create_codes([code(1, email=None)])
    assert result.refused[code(1).key].field == "email"
    assert shops.requests(SITE) == 0


def test_429_and_outages_are_retried(shops, fake_time):
    shops.fault(SITE, status=429, times=2, retry_after=3)
    result = adapter(shops, fake_time).create_codes([code(1)])
    assert set(result.created) == {code(1).key}
    assert fake_time.slept[:2] == [3.0, 3.0]

    shops.fault(SITE, status=502, times=1)
    assert set(adapter(shops, fake_time).create_codes([code(2)]).created) == {code(2).key}


def test_a_site_that_stays_down_defers_every_code_retryably(shops, fake_time):
    shops.fault(SITE, status=503)
    codes = [code(i) for i in range(120)]
    result = adapter(shops, fake_time).create_codes(codes)

    assert not result.created and len(result.refused) == 120
    assert all(r.retryable for r in result.refused.values())
    assert shops.requests(SITE) == Backoff().attempts  # the second batch is not tried


def test_wrong_keys_are_refused_for_good(shops, fake_time):
    keys = {"consumer_key": "ck_test", "consumer_secret": "cs_wrong"}
    result = adapter(shops, fake_time, keys=keys).create_codes([code(1), code(2)])

    assert not result.created
    assert all(not r.retryable and "401" in r.reason for r in result.refused.values())
    assert shops.requests(SITE) == 1 and shops.codes(SITE) == {}


def test_a_batch_over_100_is_refused_by_the_site(shops, fake_time):
    """The endpoint keeps WooCommerce's limit (the adapter never sends more)."""
    woo = adapter(shops, fake_time)
    coupons = [woo.coupon_for(code(i)) for i in range(101)]
    reply = Transport().request(
        "POST",
        woo.base + "coupons/batch",
        headers={"Authorization": woo._auth},
        body={"create": coupons},
    )
    assert reply.status == 413
    assert reply.body["code"] == "woocommerce_rest_request_entity_too_large"


def test_keys_go_over_https_only():
    with pytest.raises(ValueError, match="HTTPS"):
        WooCommerceDiscounts("http://shop.example.com/", **KEYS)
    woo = WooCommerceDiscounts(SITE, **KEYS)
    assert woo.base == "https://shop.example.com/wp-json/wc/v3/"
    assert "cs_test" not in repr(woo)
