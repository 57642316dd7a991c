"""Parity of ``memberflow_local/traversal.py`` (moto's UpdateExpression processors
walking the tree without per-node overhead) with moto's own walks: every kind of
action, function and refusal answers the same both ways."""

from __future__ import annotations

from memberflow_local import expressions
from tests.integration.test_local_fast_paths import _outcomes


def _updates(table: str) -> list:
    key = {"code": {"S": "W1"}}
    start = {
        **key,
        "n": {"N": "1"},
        "log": {"L": [{"S": "a"}]},
        "m": {"M": {"lvl": {"N": "1"}, "tags": {"SS": ["x"]}}},
        "tags": {"SS": ["a", "b"]},
    }

    def update(expression: str, values: dict | None = None, names: dict | None = None):
        params = {
            "TableName": table,
            "Key": key,
            "UpdateExpression": expression,
            "ReturnValues": "ALL_NEW",
        }
        if values:
            params["ExpressionAttributeValues"] = values
        if names:
            params["ExpressionAttributeNames"] = names
        return ("UpdateItem", params)

    one, two = {":one": {"N": "1"}}, {":two": {"N": "2"}}
    return [
        ("PutItem", {"TableName": table, "Item": start}),
        update(
            "SET n = n + :one, #l = list_append(#l, :more)",
            {**one, ":more": {"L": [{"S": "b"}]}},
            {"#l": "log"},
        ),
        update("SET m.lvl = if_not_exists(m.lvl, :two), fresh = if_not_exists(fresh, :two)", two),
        update("SET #l[0] = :s REMOVE m.tags", {":s": {"S": "z"}}, {"#l": "log"}),
        update(
            "ADD tags :t, n :one DELETE m.tags :d",
            {":t": {"SS": ["c"]}, ":d": {"SS": ["a"]}, **one},
        ),
        update("SET n = nothere + :one", one),  # a path that does not exist
        update("SET n = list_append(n, :one)", one),  # a function on the wrong type
        update("SET m.deep.er = :one", one),  # a nested path under nothing
        update("SET code = :s", {":s": {"S": "x"}}),  # a key attribute
        update("SET n = :s", {":s": {"S": ""}}),  # an empty string is fine off the key
        update("SET n = :one, n = :two", {**one, **two}),  # overlapping
        update("SET a = :one REMOVE a", one),  # overlapping, two clauses
        ("GetItem", {"TableName": table, "Key": key, "ConsistentRead": True}),
    ]


def test_update_expressions_walked_by_the_local_stack_answer_as_motos_own_walks(stack):
    client = stack.client("dynamodb")
    table = stack.physical["CouponsTable"]["Ref"]
    expressions.clear()
    ours = _outcomes(client, _updates(table) + _updates(table)[1:])
    client.delete_item(TableName=table, Key={"code": {"S": "W1"}})
    with expressions.motos_own_expressions():
        theirs = _outcomes(client, _updates(table) + _updates(table)[1:])
    assert ours == theirs
    assert [kind for kind, _ in ours[:13]] == ["ok"] * 5 + ["error"] * 4 + ["ok"] + [
        "error"
    ] * 2 + ["ok"]
