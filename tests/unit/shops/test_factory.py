"""The configured discount shops: which sources create codes, with which credentials,
and configuration errors that name the field."""

from __future__ import annotations

import copy

import pytest

from memberflow.config import ConfigError
from memberflow.config.programme import default_document, validate_document
from memberflow.shops.factory import (
    ShopConfigError,
    dev_credentials_map,
    discount_shops,
    local_endpoint,
)
from memberflow.shops.shopify import ShopifyDiscounts
from memberflow.shops.woocommerce import WooCommerceDiscounts


def programme(**changes):
    doc = copy.deepcopy(default_document())
    for path, value in changes.items():
        kind, index, *rest = path.split("__")
        target = doc["sources"][kind][int(index)]
        for part in rest[:-1]:
            target = target[part]
        if value is None:
            target.pop(rest[-1], None)
        else:
            target[rest[-1]] = value
    return validate_document(doc)


def test_the_default_programme_creates_codes_in_both_demo_shops():
    p = programme()
    shops = discount_shops(p, dev_credentials_map(p.sources))
    shopify, woo = shops["memberflow-demo.myshopify.com"], shops["https://shop.example.com/"]
    assert isinstance(shopify, ShopifyDiscounts) and isinstance(woo, WooCommerceDiscounts)
    assert shopify.url == "https://memberflow-demo.myshopify.com/admin/api/2025-10/graphql.json"
    assert shopify.combines_with == {
        "orderDiscounts": False,
        "productDiscounts": False,
        "shippingDiscounts": True,
    }
    assert shopify.title == woo.title == "memberflow member offer"
    assert woo.base == "https://shop.example.com/wp-json/wc/v3/"


def test_a_source_without_create_keeps_todays_behaviour():
    p = programme(shopify__0__discounts__create=False, woocommerce__0__discounts=None)
    assert discount_shops(p, dev_credentials_map(p.sources)) == {}


def test_the_local_endpoint_replaces_the_platforms_urls():
    p = programme()
    shops = discount_shops(p, dev_credentials_map(p.sources), endpoint="http://127.0.0.1:8123")
    assert shops["memberflow-demo.myshopify.com"].url == (
        "http://127.0.0.1:8123/shopify/memberflow-demo.myshopify.com/admin/api/2025-10/graphql.json"
    )
    assert shops["https://shop.example.com/"].base == (
        "http://127.0.0.1:8123/woocommerce/shop.example.com/wp-json/wc/v3/"
    )
    assert local_endpoint("http://h:1/", "woocommerce", "https://Example.com/shop") == (
        "http://h:1/woocommerce/example.com/shop/wp-json/wc/v3/"
    )


@pytest.mark.parametrize(
    ("credentials", "field"),
    [
        ({"woocommerce-rest": {"consumer_key": "ck", "consumer_secret": "cs"}}, "token"),
        ({"shopify-admin": "shpat_x"}, "credentials"),
        ({"shopify-admin": "shpat_x", "woocommerce-rest": {"consumer_key": "ck"}}, "credentials"),
        ({"shopify-admin": " ", "woocommerce-rest": {}}, "token"),
    ],
)
def test_a_missing_credential_names_the_field(credentials, field):
    with pytest.raises(ShopConfigError) as error:
        discount_shops(programme(), credentials)
    kind = "shopify" if field == "token" else "woocommerce"
    assert error.value.field == f"$.sources.{kind}[0].discounts.{field}"


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"shopify__0__discounts__token": None}, "$.sources.shopify[0].discounts"),
        (
            {"shopify__0__discounts__api_version": "2025-7"},
            "$.sources.shopify[0].discounts.api_version",
        ),
        (
            {"shopify__0__discounts__api_version": "2025-04"},
            "$.sources.shopify[0].discounts.api_version",
        ),
        (
            {"shopify__0__discounts__combines_with": {"orders": True}},
            "$.sources.shopify[0].discounts.combines_with",
        ),
        ({"shopify__0__discounts__title": ""}, "$.sources.shopify[0].discounts.title"),
        ({"woocommerce__0__discounts__credentials": None}, "$.sources.woocommerce[0].discounts"),
        ({"woocommerce__0__discounts__coupon": "x"}, "$.sources.woocommerce[0].discounts"),
        ({"woocommerce__0__site": "http://shop.example.com/"}, "$.sources.woocommerce[0].site"),
    ],
)
def test_configuration_errors_name_the_field(change, field):
    with pytest.raises(ConfigError) as error:
        programme(**change)
    assert error.value.field == field


def test_a_source_that_does_not_create_needs_no_credentials():
    p = programme(
        shopify__0__discounts={"create": False},
        woocommerce__0__discounts={"create": False},
        woocommerce__0__site="http://shop.example.com/",
    )
    assert discount_shops(p, {}) == {}


def test_the_retry_budget_is_the_callers():
    """The member API answers inside API Gateway's 29 s: it asks for fewer, shorter waits."""
    p = programme()
    for shop in discount_shops(
        p, dev_credentials_map(p.sources), attempts=2, max_wait=1.5
    ).values():
        assert (shop.backoff.attempts, shop.backoff.cap) == (2, 1.5)
    with pytest.raises(ValueError):
        discount_shops(p, dev_credentials_map(p.sources), attempts=0)


def _environ(**extra) -> dict:
    from memberflow.store.models import MODELS_BY_TABLE_VARIABLE

    return {v: f"t-{v.lower()}" for v in MODELS_BY_TABLE_VARIABLE} | extra


def test_only_the_local_stack_points_the_adapters_elsewhere():
    from memberflow.runtime import Settings, SettingsError

    settings = Settings.from_environ(_environ())
    assert settings.local_shops_url == ""
    assert settings.shop_credentials_secret_name == "memberflow/shop-credentials"
    local = Settings.from_environ(_environ(MEMBERFLOW_LOCAL_SHOPS_URL="http://127.0.0.1:4100"))
    assert local.local_shops_url == "http://127.0.0.1:4100"
    with pytest.raises(SettingsError) as error:
        Settings.from_environ(_environ(MEMBERFLOW_LOCAL_SHOPS_URL="https://evil.example.com"))
    assert error.value.variable == "MEMBERFLOW_LOCAL_SHOPS_URL"


def test_no_secret_is_read_when_no_source_creates_codes(monkeypatch):
    from memberflow.runtime import AppContext, Settings
    from memberflow.shops import factory

    def unreadable(name):
        raise AssertionError("the shop-credentials secret was read")

    monkeypatch.setattr(factory, "load_credentials", unreadable)
    off = programme(shopify__0__discounts__create=False, woocommerce__0__discounts=None)
    assert AppContext(Settings.from_environ(_environ()), off).discount_shops() == {}
    with pytest.raises(AssertionError):
        AppContext(Settings.from_environ(_environ()), programme()).discount_shops()
