"""Parity of ``memberflow_local/item_json.py`` with moto's own ``Item.to_json`` and
UpdateItem's pre-image copy: the same dicts, and the same answers, both ways."""

from __future__ import annotations

import copy

import pytest

from memberflow_local import item_json
from tests.integration.test_local_scans import _items


def _item(n: int):
    from moto.dynamodb.models.dynamo_type import DynamoType, Item

    attrs = _items(n + 1)[n]
    attrs["set_of_bytes"] = {"BS": [b"\x00", b"\x01"]}
    # nested binaries as moto keeps them from the wire (base64 text) and as bytes
    attrs["nested_bytes"] = {"L": [{"B": "AAE="}, {"B": b"\x02"}, {"M": {"b": {"B": "Aw=="}}}]}
    attrs["empty_list"] = {"L": []}
    attrs["empty_map"] = {"M": {}}
    return Item(DynamoType(attrs["member_id"]), DynamoType(attrs["entry_key"]), attrs)


@pytest.mark.parametrize("n", [0, 1, 5])
def test_an_items_json_is_motos_own(stack, n):  # the stack installs the seam
    item = _item(n)
    ours = item.to_json()
    with item_json.motos_own_item_json():
        theirs = item.to_json()
        assert item.to_json("Item") == {"Item": theirs["Attributes"]}
    assert ours == theirs
    assert item.to_json("Item") == {"Item": theirs["Attributes"]}


def test_an_items_json_shares_nothing_that_a_write_could_change(stack):
    item = _item(2)
    before = copy.deepcopy(item.to_json())
    answer = item.to_json()
    answer["Attributes"]["history"]["L"][0]["M"]["to"]["S"] = "changed"
    answer["Attributes"]["profile"]["M"]["lots"]["L"].append({"N": "9"})
    answer["Attributes"]["labels"]["SS"].append("z")
    assert item.to_json() == before  # the stored item is untouched


def _table(client) -> None:
    client.create_table(
        TableName="parity",
        AttributeDefinitions=[{"AttributeName": "member_id", "AttributeType": "S"}],
        KeySchema=[{"AttributeName": "member_id", "KeyType": "HASH"}],
        BillingMode="PAY_PER_REQUEST",
    )


def _updates(client) -> list:
    """UpdateItems returning each kind of old and new values, a refused condition with
    the item in the answer, and a transaction that fails and restores what it touched."""
    answers = []
    client.put_item(
        TableName="parity",
        Item={
            "member_id": {"S": "m1"},
            "points": {"N": "5"},
            "history": {"L": [{"M": {"to": {"S": "new"}}}]},
            "tags": {"SS": ["a"]},
            "blob": {"B": b"\x00\x01"},
        },
    )
    for values in ("ALL_OLD", "UPDATED_OLD", "ALL_NEW", "UPDATED_NEW", "NONE"):
        answer = client.update_item(
            TableName="parity",
            Key={"member_id": {"S": "m1"}},
            UpdateExpression="SET points = points + :one, history = list_append(history, :h) ADD tags :t",
            ExpressionAttributeValues={
                ":one": {"N": "1"},
                ":h": {"L": [{"M": {"to": {"S": values}}}]},
                ":t": {"SS": [values]},
            },
            ReturnValues=values,
        )
        answers.append(answer.get("Attributes"))
    try:
        client.update_item(
            TableName="parity",
            Key={"member_id": {"S": "m1"}},
            UpdateExpression="SET points = :zero",
            ConditionExpression="points = :zero",
            ExpressionAttributeValues={":zero": {"N": "0"}},
            ReturnValuesOnConditionCheckFailure="ALL_OLD",
        )
    except client.exceptions.ConditionalCheckFailedException as refused:
        answers.append(refused.response.get("Item"))
    try:
        client.transact_write_items(
            TransactItems=[
                {
                    "Update": {
                        "TableName": "parity",
                        "Key": {"member_id": {"S": "m1"}},
                        "UpdateExpression": "SET points = :zero",
                        "ExpressionAttributeValues": {":zero": {"N": "0"}},
                    }
                },
                {
                    "Put": {
                        "TableName": "parity",
                        "Item": {"member_id": {"S": "m2"}},
                        "ConditionExpression": "attribute_exists(member_id)",
                    }
                },
            ]
        )
    except client.exceptions.TransactionCanceledException:
        answers.append("cancelled")
    answers.append(client.get_item(TableName="parity", Key={"member_id": {"S": "m1"}})["Item"])
    return answers


def test_updates_answer_as_with_motos_own_json_and_copies(stack):
    client = stack.client("dynamodb")
    _table(client)
    ours = _updates(client)
    client.delete_table(TableName="parity")
    _table(client)
    with item_json.motos_own_item_json():
        theirs = _updates(client)
    assert ours == theirs
    assert ours[-2] == "cancelled" and ours[-1]["points"] == {"N": "10"}  # restored
