"""The local stack's SSM refuses what Parameter Store refuses for a value's size and tier
(local/memberflow_local/ssm.py): moto's own answer where it is within the limits, AWS's
ValidationException where moto would store it."""

from __future__ import annotations

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws

from memberflow_local import ssm as seam


@pytest.fixture
def client():
    seam.install()
    with mock_aws():
        yield boto3.client(
            "ssm", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x"
        )


def _answer(call):
    try:
        return call()["Version"]
    except ClientError as error:
        return error.response["Error"]["Code"], error.response["Error"]["Message"]


def _motos_own(call):
    seam._state["enabled"] = False
    try:
        return _answer(call)
    finally:
        seam._state["enabled"] = True


def _put(client, name, value, **kwargs):
    return lambda: client.put_parameter(
        Name=name, Value=value, Type="String", Overwrite=True, **kwargs
    )


@pytest.mark.parametrize(
    ("value", "tier"),
    [
        ("x" * 4096, "Standard"),
        ("x" * 4096, None),
        ("x" * 4097, "Advanced"),
        ("x" * 8192, "Advanced"),
        ("户" * 1365, "Standard"),  # 4,095 bytes
    ],
)
def test_within_the_limits_the_answer_is_motos_own(client, value, tier):
    kwargs = {"Tier": tier} if tier else {}
    assert _answer(_put(client, "/a", value, **kwargs)) == 1
    assert _motos_own(_put(client, "/b", value, **kwargs)) == 1


@pytest.mark.parametrize(
    ("value", "tier", "says"),
    [
        ("x" * 4097, "Standard", "Standard tier parameters support a maximum parameter value"),
        ("x" * 4097, None, "Standard tier parameters support a maximum parameter value"),
        # 2,000 characters, 6,000 bytes: counted in bytes, never more lenient than AWS
        ("户" * 2000, "Standard", "Standard tier parameters support a maximum parameter value"),
        ("x" * 8193, "Advanced", "Advanced tier parameters support a maximum"),
    ],
)
def test_a_value_over_its_tiers_size_is_refused_where_moto_stores_it(client, value, tier, says):
    kwargs = {"Tier": tier} if tier else {}
    code, message = _answer(_put(client, "/a", value, **kwargs))
    assert code == "ValidationException" and message.startswith(says)
    with pytest.raises(client.exceptions.ParameterNotFound):
        client.get_parameter(Name="/a")  # nothing stored
    assert _motos_own(_put(client, "/b", value, **kwargs)) == 1  # moto would store it


def test_an_advanced_parameter_is_not_moved_back_to_standard(client):
    assert _answer(_put(client, "/a", "x" * 5000, Tier="Advanced")) == 1
    code, message = _answer(_put(client, "/a", "small", Tier="Standard"))
    assert code == "ValidationException" and "can't downgrade" in message
    # Without a tier the parameter keeps its own: Advanced, so 5,000 bytes fit.
    assert _answer(_put(client, "/a", "y" * 5000)) == 2
    assert _motos_own(_put(client, "/a", "small", Tier="Standard")) == 3


def test_intelligent_tiering_is_held_to_the_advanced_limit():
    from memberflow_local.ssm import refusal

    assert refusal("x" * 8192, "Intelligent-Tiering", None) is None
    assert "8192" in refusal("x" * 8193, "Intelligent-Tiering", None)
