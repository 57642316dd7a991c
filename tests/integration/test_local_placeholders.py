"""The local stack refuses unused expression placeholders as DynamoDB does
(local/memberflow_local/placeholders.py): the same answer as moto's where moto refuses
them, a refusal where moto lets them through."""

from __future__ import annotations

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws

from memberflow_local import placeholders

KEY = {"k": {"S": "a"}}


@pytest.fixture
def table():
    placeholders.install()
    with mock_aws():
        client = boto3.client(
            "dynamodb", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x"
        )
        client.create_table(
            TableName="t",
            KeySchema=[{"AttributeName": "k", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "k", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
        client.put_item(TableName="t", Item={**KEY, "n": {"N": "1"}})
        yield client


def _answer(call) -> tuple[str, str] | None:
    try:
        call()
    except ClientError as error:
        return error.response["Error"]["Code"], error.response["Error"]["Message"]
    return None


def _motos_own(call):
    placeholders._state["enabled"] = False
    try:
        return _answer(call)
    finally:
        placeholders._state["enabled"] = True


@pytest.mark.parametrize(
    "kwargs",
    [
        {
            "UpdateExpression": "SET n = :v",
            "ExpressionAttributeValues": {":v": {"N": "2"}, ":unused": {"S": "x"}},
        },
        {
            "UpdateExpression": "SET n = :v",
            "ExpressionAttributeValues": {":v": {"N": "2"}},
            "ExpressionAttributeNames": {"#unused": "n"},
        },
    ],
)
def test_where_moto_refuses_an_unused_placeholder_the_answer_is_motos(table, kwargs):
    def call():
        return table.update_item(TableName="t", Key=KEY, **kwargs)

    def batch_get():
        return table.batch_get_item(
            RequestItems={
                "t": {
                    "Keys": [KEY],
                    "ProjectionExpression": "k",
                    "ExpressionAttributeNames": {"#unused": "n"},
                }
            }
        )

    for request in (call, batch_get):
        ours, motos = _answer(request), _motos_own(request)
        assert ours is not None and ours[0] == motos[0] == "ValidationException"
        # the same words (moto prefixes "1 validation error detected: " on updates)
        assert motos[1].endswith(ours[1]) and "unused in expressions: keys: {" in ours[1]


def test_where_moto_lets_unused_placeholders_through_they_are_refused_as_in_aws(table):
    unused_value = {":unused": {"S": "x"}}
    calls = {
        "PutItem": lambda: table.put_item(
            TableName="t",
            Item={**KEY, "n": {"N": "9"}},
            ConditionExpression="attribute_exists(k)",
            ExpressionAttributeValues=unused_value,
        ),
        "DeleteItem": lambda: table.delete_item(
            TableName="t",
            Key=KEY,
            ConditionExpression="n = :one",
            ExpressionAttributeValues={":one": {"N": "1"}, **unused_value},
        ),
        "Query": lambda: table.query(
            TableName="t",
            KeyConditionExpression="k = :k",
            ExpressionAttributeValues={":k": {"S": "a"}, **unused_value},
        ),
        "TransactWriteItems": lambda: table.transact_write_items(
            TransactItems=[
                {
                    "Update": {
                        "TableName": "t",
                        "Key": KEY,
                        "UpdateExpression": "SET n = :v",
                        "ExpressionAttributeValues": {":v": {"N": "5"}, **unused_value},
                    }
                }
            ]
        ),
    }
    for operation, call in calls.items():
        table.put_item(TableName="t", Item={**KEY, "n": {"N": "1"}})
        code, message = _answer(call)
        assert code == "ValidationException", operation
        assert message.endswith("unused in expressions: keys: {:unused}") or message.endswith(
            "unused in expressions: keys: {#unused}"
        ), operation
        # refused before anything was written
        assert table.get_item(TableName="t", Key=KEY)["Item"] == {**KEY, "n": {"N": "1"}}
        assert _motos_own(call) is None, operation  # moto accepts it (the gap)


def test_placeholders_that_are_used_pass_in_every_kind_of_expression(table):
    table.update_item(
        TableName="t",
        Key=KEY,
        UpdateExpression="SET #m = if_not_exists(#m, :empty), #l = list_append(:e, :t) ADD n :one",
        ConditionExpression="attribute_exists(#k) AND n < :ten",
        ExpressionAttributeNames={"#m": "m", "#l": "log", "#k": "k"},
        ExpressionAttributeValues={
            ":empty": {"M": {}},
            ":e": {"L": []},
            ":t": {"L": [{"S": "x"}]},
            ":one": {"N": "1"},
            ":ten": {"N": "10"},
        },
    )
    found = table.query(
        TableName="t",
        KeyConditionExpression="#k = :k",
        FilterExpression="#l[0] = :x",
        ProjectionExpression="#k, n",
        ExpressionAttributeNames={"#k": "k", "#l": "log"},
        ExpressionAttributeValues={":k": {"S": "a"}, ":x": {"S": "x"}},
    )
    assert found["Items"] == [{"k": {"S": "a"}, "n": {"N": "2"}}]


def test_the_local_stack_refuses_them(stack):
    client = stack.client("dynamodb")
    table = stack.physical["CouponsTable"]["Ref"]
    with pytest.raises(ClientError) as refused:
        client.put_item(
            TableName=table,
            Item={"code": {"S": "P1"}},
            ConditionExpression="attribute_not_exists(code)",
            ExpressionAttributeValues={":unused": {"S": "x"}},
        )
    assert "unused in expressions" in refused.value.response["Error"]["Message"]
