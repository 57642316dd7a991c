"""The local stack's shops: started with the stack, credentials in the secret template.yaml
names, readable by the functions that create codes only (docs/local-stack.md, "Local shops")."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from aws_lambda_powertools.utilities import parameters
from aws_lambda_powertools.utilities.parameters.exceptions import GetParameterError

from memberflow import runtime
from memberflow.shops import DiscountCode
from memberflow_local import iam

SHOP = "memberflow-demo.myshopify.com"
SITE = "https://shop.example.com/"


def _codes(stack, n: int) -> list[DiscountCode]:
    start = stack.clock.now()
    return [
        DiscountCode(
            key=f"coupon#activation#m-{i}",
            code=f"ACT15-{i:03d}",
            kind="percentage",
            value=Decimal(15),
            starts_at=start,
            ends_at=start + timedelta(days=14),
            customer_id=str(500 + i),
            email=f"m{i}@example.com",
        )
        for i in range(n)
    ]


@pytest.mark.parametrize("function", ["JourneyStepFunction", "MemberApiFunction"])
def test_the_functions_that_create_codes_reach_both_shops(stack, function):
    with iam.acting_as(stack.iam.of_function(function)):
        shops = runtime.app_context().discount_shops()
        assert set(shops) == {SHOP, SITE}
        for name, shop in shops.items():
            first = shop.create_codes(_codes(stack, 3))
            again = shop.create_codes(_codes(stack, 3))
            assert len(first.created) == 3 and again.created == first.created
            assert sorted(stack.shops.codes(name)) == ["ACT15-000", "ACT15-001", "ACT15-002"]


def test_other_functions_cannot_read_the_shop_credentials(stack):
    name = stack.function_environment["SHOP_CREDENTIALS_SECRET_NAME"]
    with iam.acting_as(stack.iam.of_function("ReportFunction")), pytest.raises(GetParameterError):
        parameters.get_secret(name, transform="json", max_age=300)
    with iam.acting_as(stack.iam.of_function("WebhookFunction")), pytest.raises(GetParameterError):
        parameters.get_secret(name, transform="json", max_age=300)


def test_a_refusing_shop_is_reported_per_code(stack):
    stack.shops.fault(SHOP, status=401)
    with iam.acting_as(stack.iam.of_function("JourneyStepFunction")):
        result = runtime.app_context().discount_shops()[SHOP].create_codes(_codes(stack, 2))
    assert not result.created and all(not r.retryable for r in result.refused.values())
    assert stack.shops.codes(SHOP) == {}
