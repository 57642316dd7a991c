"""Parity of ``memberflow_local/traversal.py`` (moto's UpdateExpression processors
walking the tree without per-node overhead) with moto's own walks: every kind of
action, function and refusal answers the same both ways."""

from __future__ import annotations

from memberflow_local import expressions, tree_copies
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


def _more_updates(table: str) -> list:
    """Functions nested and in arithmetic, paths read on the value side, and every
    refusal of the validator's passes, on a table whose index key has a type."""
    key = {"member_id": {"S": "m1"}, "enrolment_key": {"S": "welcome#c1"}}
    start = {
        **key,
        "n": {"N": "5"},
        "lst": {"L": [{"S": "a"}, {"S": "b"}]},
        "m": {"M": {"lvl": {"N": "1"}}},
        "tags": {"SS": ["a", "b"]},
    }
    values = {
        ":one": {"N": "1"},
        ":two": {"N": "2"},
        ":zero": {"N": "0"},
        ":s": {"S": "s"},
        ":empty": {"S": ""},
        ":none": {"L": []},
        ":more": {"L": [{"S": "c"}]},
        ":d": {"SS": ["a"]},
    }

    def update(expression: str, names: dict | None = None):
        used = {k: v for k, v in values.items() if k in expression}
        params = {
            "TableName": table,
            "Key": key,
            "UpdateExpression": expression,
            "ReturnValues": "ALL_NEW",
        }
        if used:
            params["ExpressionAttributeValues"] = used
        if names:
            params["ExpressionAttributeNames"] = names
        return ("UpdateItem", params)

    return [
        ("PutItem", {"TableName": table, "Item": start}),
        update("SET c = if_not_exists(c, :zero) + :one, n = n - :two"),
        update("SET #l = list_append(if_not_exists(#l, :none), :more)", {"#l": "lst"}),
        update("SET fresh = list_append(if_not_exists(fresh, :none), :more)"),
        update("SET dup = m, x = if_not_exists(nothere.deeper, :one)"),
        update("SET m.newkey = :one, lst[7] = :s REMOVE lst[0]"),
        update("REMOVE m.lvl DELETE tags :d ADD n :one, newnum :one, tags2 :d"),
        update("SET g = lst[0], h = m.newkey"),  # an index and a nested path read
        update("SET lst[0] = list_append(:more, :more)"),
        update("SET #a = :one, #b.#c = :two ADD tags2 :d", {"#a": "aa", "#b": "m", "#c": "cc"}),
        update("SET y = :undefined"),  # a value not given
        update("SET #l = :one, #undefined.x = :two", {"#l": "lst"}),  # a name not given
        update("SET cohort_shard = :one"),  # the index key's type
        update("SET cohort_shard = :empty"),  # an empty string for an index key
        update("SET member_id = :s"),  # a key attribute
        update("SET n = :one, n = :two"),  # the same path twice
        update("SET m.lvl = :one REMOVE m"),  # overlapping paths
        update("SET n = :one ADD n :one"),  # the same path in two clauses
        update("SET n = n + :s"),  # arithmetic on a string
        update("SET x = list_append(:one, :more)"),  # list_append of a number
        update("SET x = list_append(nothere, :more)"),  # list_append of nothing
        update("SET x = nothere"),  # a path that does not exist
        update("SET x = nothere + :one"),
        update("SET a.b.c = :one"),  # under nothing
        update("SET n[0] = :one"),  # an index into a number
        update("ADD n :s"),  # ADD of a string to a number
        update("DELETE n :d"),  # DELETE from a number
        update("SET select = :one"),  # a reserved word
        update("SET c = if_not_exists(c, :zero) + :one, cohort_shard = :s"),  # fine again
        ("GetItem", {"TableName": table, "Key": key, "ConsistentRead": True}),
    ]


def test_functions_value_paths_and_every_refusal_walk_as_motos_own(stack):
    client = stack.client("dynamodb")
    table = stack.physical["EnrolmentsTable"]["Ref"]
    key = {"member_id": {"S": "m1"}, "enrolment_key": {"S": "welcome#c1"}}
    expressions.clear()
    requests = _more_updates(table)
    ours = _outcomes(client, requests + requests)
    # the walks skipped by what the parse trees' copy plans hold (traversal.Walks)
    assert any(plan.shapes for plan in tree_copies.plans.values())
    client.delete_item(TableName=table, Key=key)
    with expressions.motos_own_expressions():
        theirs = _outcomes(client, requests + requests)
    assert ours == theirs
    kinds = [kind for kind, _ in ours[: len(requests)]]
    assert kinds == ["ok"] * 10 + ["error"] * 18 + ["ok"] * 2, [
        answer.get("Error", {}).get("Message") for _, answer in ours[: len(requests)]
    ]
    assert ours[len(requests) :] == ours[: len(requests)]  # again, from the caches


def test_the_resolving_pass_acts_only_for_an_actions_children():
    """traversal._pre_acts_on relies on it: the walk enters a subtree for the resolving
    pass only where it handles a node or its pre_processing_of_child acts."""
    import inspect

    from moto.dynamodb.parsing.validators import ExpressionAttributeResolvingProcessor

    source = inspect.getsource(ExpressionAttributeResolvingProcessor.pre_processing_of_child)
    body = source[source.index('"""', source.index('"""') + 3) + 3 :].split()
    assert " ".join(body) == (
        "if isinstance( parent_node, ( UpdateExpressionSetAction, UpdateExpressionRemoveAction,"
        " UpdateExpressionDeleteAction, UpdateExpressionAddAction, ), ): if child_id == 0:"
        " self.resolving = False else: self.resolving = True"
    )
