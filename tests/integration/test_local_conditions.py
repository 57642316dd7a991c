"""Parity of ``memberflow_local/conditions.py`` (a condition parsed once per shape, each
call's values put into a copy of the tree) with moto's own parse of every call."""

from __future__ import annotations

from memberflow_local import conditions, expressions
from tests.integration.test_local_fast_paths import _outcomes


def _requests(table: str) -> list:
    """The same conditions with values that change from call to call: passing, failing,
    a wrong type and an unused value. (A missing value and a NULL bound of BETWEEN escape
    moto's handler as Python exceptions, with or without the cache.)"""
    key = {"code": {"S": "C1"}}
    requests = [
        (
            "PutItem",
            {
                "TableName": table,
                "Item": {**key, "n": {"N": "5"}, "tags": {"SS": ["a", "b"]}, "who": {"S": "ann"}},
            },
        )
    ]
    checks = [
        ("n = :v", {":v": {"N": "5"}}),
        ("n = :v", {":v": {"N": "6"}}),
        ("n = :v", {":v": {"S": "5"}}),
        ("n BETWEEN :lo AND :hi", {":lo": {"N": "1"}, ":hi": {"N": "9"}}),
        ("n BETWEEN :lo AND :hi", {":lo": {"N": "6"}, ":hi": {"N": "9"}}),
        ("n IN (:a, :b)", {":a": {"N": "4"}, ":b": {"N": "5"}}),
        ("n IN (:a, :b)", {":a": {"N": "4"}, ":b": {"N": "7"}}),
        ("contains(tags, :t) AND begins_with(#w, :p)", {":t": {"S": "a"}, ":p": {"S": "an"}}),
        ("contains(tags, :t) AND begins_with(#w, :p)", {":t": {"S": "z"}, ":p": {"S": "an"}}),
        ("NOT (n > :v) OR size(tags) = :s", {":v": {"N": "1"}, ":s": {"N": "2"}}),
        ("NOT (n > :v) OR size(tags) = :s", {":v": {"N": "1"}, ":s": {"N": "3"}}),
        ("attribute_type(n, :type)", {":type": {"S": "N"}}),
        ("attribute_type(n, :type)", {":type": {"S": "S"}}),
        ("n = :v", {":v": {"N": "5"}, ":unused": {"N": "1"}}),
    ]
    for n, (condition, values) in enumerate(checks):
        params = {
            "TableName": table,
            "Key": key,
            "UpdateExpression": "SET seen = :seen",
            "ConditionExpression": condition,
            "ExpressionAttributeValues": {**values, ":seen": {"N": str(n)}},
            "ReturnValues": "UPDATED_NEW",
        }
        if "#w" in condition:
            params["ExpressionAttributeNames"] = {"#w": "who"}
        requests.append(("UpdateItem", params))
    return requests


def test_conditions_parsed_once_per_shape_answer_as_motos_own_parse(stack):
    client = stack.client("dynamodb")
    table = stack.physical["CouponsTable"]["Ref"]
    conditions.clear()
    ours = _outcomes(client, _requests(table) + _requests(table)[1:])  # then from the cache
    client.delete_item(TableName=table, Key={"code": {"S": "C1"}})
    with expressions.motos_own_expressions():
        theirs = _outcomes(client, _requests(table) + _requests(table)[1:])
    assert ours == theirs
    kinds = [kind for kind, _ in ours[1:15]]
    assert kinds == ["ok", "error", "error", "ok", "error", "ok", "error"] + [
        "ok",
        "error",
        "ok",
        "error",
        "ok",
        "error",
        "error",
    ]
    assert ours[15:] == ours[1:15]


def test_conditions_moto_cannot_answer_fail_the_same_way_from_the_cache(stack):
    client = stack.client("dynamodb")
    table = stack.physical["CouponsTable"]["Ref"]
    key = {"code": {"S": "C1"}}
    client.put_item(TableName=table, Item={**key, "n": {"N": "5"}})

    def failure(condition: str, values: dict) -> str:
        try:
            client.update_item(
                TableName=table,
                Key=key,
                UpdateExpression="SET n = :n",
                ConditionExpression=condition,
                ExpressionAttributeValues={**values, ":n": {"N": "1"}},
            )
        except Exception as error:  # noqa: BLE001 - moto lets these escape its handler
            return f"{type(error).__name__}: {error}"
        return "accepted"

    cases = [
        ("n BETWEEN :lo AND :hi", {":lo": {"N": "1"}, ":hi": {"N": "9"}}),
        ("n BETWEEN :lo AND :hi", {":lo": {"NULL": True}, ":hi": {"N": "9"}}),
        ("n = :v", {}),
    ]
    conditions.clear()
    ours = [failure(*case) for case in cases + cases]
    with expressions.motos_own_expressions():
        theirs = [failure(*case) for case in cases + cases]
    assert ours == theirs
    assert ours[1].startswith("IncorrectOperandType") and ours[2].startswith("KeyError")
