"""The Shopify adapter (Admin GraphQL) against the local Shopify endpoint."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from graphql import parse, validate

from memberflow.shops import ShopRefused
from memberflow.shops.shopify import CREATE_DOCUMENT, LOOKUP_DOCUMENT, ShopifyDiscounts
from memberflow.shops.transport import Backoff, Transport
from memberflow_local.shopify_admin_schema import admin_schema
from memberflow_local.shops import CodeRefused
from tests.unit.shops.conftest import SHOP, START, TOKEN, code


def adapter(shops, fake_time, *, token=TOKEN, **kwargs) -> ShopifyDiscounts:
    return ShopifyDiscounts(
        SHOP,
        token=token,
        api_version="2025-10",
        title="memberflow member offer",
        combines_with={"shipping_discounts": True},
        endpoint=f"{shops.url}/shopify/{SHOP}/admin/api/2025-10/graphql.json",
        backoff=Backoff(sleep=fake_time.sleep),
        **kwargs,
    )


# ---------------------------------------------------------------------- the documents
@pytest.mark.parametrize("document", [CREATE_DOCUMENT, LOOKUP_DOCUMENT])
def test_the_documents_validate_against_the_admin_schema(document):
    assert validate(admin_schema(), parse(document)) == []


def test_the_schema_refuses_a_field_shopify_does_not_have():
    """The check can fail: a misspelt field (customerSelections) is an error."""
    wrong = CREATE_DOCUMENT.replace("userErrors { field code message }", "userErrors { fields }")
    assert validate(admin_schema(), parse(wrong))


def test_a_variable_shopify_would_refuse_is_refused_locally(shops, fake_time):
    """Input fields are checked too: an input field Shopify does not list fails the
    request, and the adapter reports it as a refusal a retry will not change."""
    shop = adapter(shops, fake_time)
    bad = shop.input_for(code(1)) | {"customerSelections": {"all": True}}
    reply = Transport().request(
        "POST",
        shop.url,
        headers={"X-Shopify-Access-Token": TOKEN},
        body={"query": CREATE_DOCUMENT, "variables": {"basicCodeDiscount": bad}},
    )
    assert reply.status == 200 and "data" not in reply.body
    assert "customerSelections" in reply.body["errors"][0]["message"]
    with pytest.raises(ShopRefused) as refused:
        shop._graphql(CREATE_DOCUMENT, {"basicCodeDiscount": bad})
    assert not refused.value.retryable
    assert shops.codes(SHOP) == {}


# ---------------------------------------------------------------------- creating
def test_each_code_becomes_a_discount_for_that_customer_only(shops, fake_time):
    codes = [code(1), code(2, kind="fixed_amount", value="5")]
    result = adapter(shops, fake_time).create_codes(codes)

    assert set(result.created) == {c.key for c in codes} and not result.refused
    held = shops.codes(SHOP)
    first, second = held["WELCOME15-0001"], held["WELCOME15-0002"]
    assert result.created[codes[0].key].shop_discount_id == first.discount_id
    assert (first.kind, first.value, first.usage_limit) == ("percentage", Decimal(15), 1)
    assert (second.kind, second.value) == ("fixed_amount", Decimal(5))
    assert first.customer_ids == ("gid://shopify/Customer/7001",)
    assert (first.starts_at, first.ends_at) == (START, START + timedelta(days=14))
    assert first.title == "memberflow member offer"
    # the checkout takes it from that customer, once, within its dates
    with pytest.raises(CodeRefused, match="not eligible"):
        shops.use(SHOP, "WELCOME15-0001", customer_id="7002", at=START + timedelta(days=1))
    shops.use(SHOP, "WELCOME15-0001", customer_id="7001", at=START + timedelta(days=1))
    with pytest.raises(CodeRefused, match="usage limit"):
        shops.use(SHOP, "WELCOME15-0001", customer_id="7001", at=START + timedelta(days=2))
    with pytest.raises(CodeRefused, match="expired"):
        shops.use(SHOP, "WELCOME15-0002", customer_id="7002", at=START + timedelta(days=15))


def test_a_retried_creation_makes_nothing_twice(shops, fake_time):
    codes = [code(i) for i in range(3)]
    first = adapter(shops, fake_time).create_codes(codes)
    again = adapter(shops, fake_time).create_codes(codes)

    assert len(shops.codes(SHOP)) == 3
    assert again.created == first.created and not again.refused


def test_a_code_another_customer_holds_is_refused_not_taken_over(shops, fake_time):
    adapter(shops, fake_time).create_codes([code(1)])
    clash = code(2, code="WELCOME15-0001")
    result = adapter(shops, fake_time).create_codes([clash])

    refusal = result.refused[clash.key]
    assert not result.created and not refusal.retryable and refusal.field == "code"
    assert shops.codes(SHOP)["WELCOME15-0001"].customer_ids == ("gid://shopify/Customer/7001",)


def test_a_user_error_refuses_that_code_only(shops, fake_time):
    too_long = code(1, code="X" * 300)
    result = adapter(shops, fake_time).create_codes([too_long, code(2)])

    assert set(result.created) == {code(2).key}
    refusal = result.refused[too_long.key]
    assert not refusal.retryable and refusal.field == "code" and "TOO_LONG" in refusal.reason


def test_an_invalid_code_is_refused_before_any_request(shops, fake_time):
    result = adapter(shops, fake_time).create_codes([code(1, customer_id="someone@example.com")])
    assert result.refused[code(1).key].field == "customer_id"
    assert shops.requests(SHOP) == 0


# ---------------------------------------------------------------------- rate limits
def test_throttled_answers_are_waited_out_and_retried(shops, fake_time):
    shops.fault(SHOP, throttle=True, times=2)
    result = adapter(shops, fake_time).create_codes([code(1)])

    assert set(result.created) == {code(1).key}
    assert shops.requests(SHOP) == 3
    # the waits come from throttleStatus: 10 points missing at 100 points a second
    assert fake_time.slept[:2] == [pytest.approx(0.1), pytest.approx(0.1)]


def test_the_cost_bucket_paces_a_cohort_without_being_throttled(fake_time):
    from memberflow_local.shops import LocalShops

    with LocalShops(clock=fake_time.clock, bucket_size=30, restore_rate=10) as small:
        small.add_shopify(SHOP, TOKEN)
        result = adapter(small, fake_time).create_codes([code(i) for i in range(8)])
        assert len(result.created) == 8 and not result.refused
        # 3 fit in the bucket, the other 5 wait for 10 points each at 10 a second
        assert sum(fake_time.slept) == pytest.approx(5.0)
        assert small.requests(SHOP) == 8  # never throttled: waited before sending


def test_http_429_and_outages_are_retried_with_backoff(shops, fake_time):
    shops.fault(SHOP, status=429, times=1, retry_after=2)
    shops_result = adapter(shops, fake_time).create_codes([code(1)])
    assert set(shops_result.created) == {code(1).key}
    assert fake_time.slept[0] == 2.0  # Retry-After honoured

    shops.fault(SHOP, status=503, times=2)
    assert set(adapter(shops, fake_time).create_codes([code(2)]).created) == {code(2).key}


def test_a_shop_that_stays_down_defers_every_code_retryably(shops, fake_time):
    shops.fault(SHOP, status=503)
    codes = [code(i) for i in range(4)]
    result = adapter(shops, fake_time).create_codes(codes)

    assert not result.created and set(result.refused) == {c.key for c in codes}
    assert all(r.retryable for r in result.refused.values())
    assert shops.requests(SHOP) == Backoff().attempts  # bounded, and not once per code
    assert shops.codes(SHOP) == {}


def test_a_wrong_token_is_refused_for_good(shops, fake_time):
    codes = [code(i) for i in range(3)]
    result = adapter(shops, fake_time, token="shpat_wrong").create_codes(codes)

    assert not result.created
    assert all(not r.retryable for r in result.refused.values())
    assert "401" in result.refused[codes[0].key].reason
    assert shops.requests(SHOP) == 1 and fake_time.slept == []


def test_an_unreachable_shop_is_retryable(fake_time):
    shop = ShopifyDiscounts(
        SHOP,
        token=TOKEN,
        api_version="2025-10",
        endpoint="http://127.0.0.1:9/shopify/x/admin/api/2025-10/graphql.json",
        backoff=Backoff(attempts=2, sleep=fake_time.sleep),
    )
    result = shop.create_codes([code(1)])
    assert result.refused[code(1).key].retryable


def test_the_token_is_never_printed():
    shop = ShopifyDiscounts(SHOP, token="shpat_secret_value", api_version="2025-10")
    assert "shpat_secret_value" not in repr(shop)
    assert shop.url == f"https://{SHOP}/admin/api/2025-10/graphql.json"


def test_the_adapter_sends_no_deprecated_input_field(shops, fake_time):
    """customerSelection was replaced by context in 2025-10: what is sent is current."""
    from graphql import GraphQLInputObjectType, get_named_type

    def walk(type_, value, path):
        named = get_named_type(type_)
        if not isinstance(named, GraphQLInputObjectType) or not isinstance(value, dict):
            return
        for name, given in value.items():
            field = named.fields[name]  # KeyError: a field Shopify does not have
            assert field.deprecation_reason is None, f"{path}.{name} is deprecated"
            walk(field.type, given, f"{path}.{name}")

    schema = admin_schema()
    argument = schema.mutation_type.fields["discountCodeBasicCreate"].args["basicCodeDiscount"]
    for sample in (code(1), code(2, kind="fixed_amount", value="10")):
        walk(argument.type, adapter(shops, fake_time).input_for(sample), "basicCodeDiscount")


def test_shop_time_follows_the_virtual_clock_and_real_waits_without_counting_twice():
    from datetime import datetime

    from memberflow_local.shops import ShopTime

    virtual = [datetime(2026, 1, 5, tzinfo=START.tzinfo)]
    real = [100.0]
    shop_time = ShopTime(lambda: virtual[0], lambda: real[0])
    virtual[0] += timedelta(days=1)  # a simulated day
    assert shop_time() == 86400.0
    real[0] += 2.5  # an adapter sleeping while the virtual clock stands still
    assert shop_time() == 86402.5
    virtual[0] += timedelta(seconds=3)  # serve: both move together
    real[0] += 3.0
    assert shop_time() == 86405.5
