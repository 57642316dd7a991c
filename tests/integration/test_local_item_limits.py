"""Parity of ``memberflow_local/item_limits.py`` (UpdateItem's 400 KB check against a
running total) with moto's own ``LimitedSizeDict``, which re-sums the item at every
attribute it sets: the same refusals at the same action, with the same item left
behind, at the limit, when a large attribute is replaced (moto counts its old value
too), after nested growth, REMOVE and ADD in place, and inside a transaction."""

from __future__ import annotations

from memberflow_local import expressions
from tests.integration.test_local_fast_paths import _outcomes

LIMIT = 405_000  # moto's: key and value bytes of every attribute, summed per set


def _size(name: str, text: str) -> int:
    return len(name) + len(text)


def _requests(table: str) -> list:
    def put(code: str, **attributes) -> tuple:
        item = {"code": {"S": code}, **attributes}
        return ("PutItem", {"TableName": table, "Item": item})

    def update(code: str, expression: str, values: dict, **more) -> tuple:
        params = {
            "TableName": table,
            "Key": {"code": {"S": code}},
            "UpdateExpression": expression,
            "ExpressionAttributeValues": values,
            "ReturnValues": "ALL_NEW",
            **more,
        }
        return ("UpdateItem", params)

    def get(code: str) -> tuple:
        params = {"TableName": table, "Key": {"code": {"S": code}}, "ConsistentRead": True}
        return ("GetItem", params)

    def s(n: int, fill: str = "x") -> dict:
        return {"S": fill * n}

    base = _size("code", "L1")  # every item's key attribute
    kilo = {":v": s(1000, "y")}
    four = "SET a1 = :v, a2 = :v, a3 = :v, a4 = :v"
    # After the fourth SET the sum is exactly the limit (passes), or one byte more
    # (refused at the fourth action, the first three left written: moto's partial update).
    at_limit = LIMIT - base - _size("big", "") - 4 * _size("a1", "y" * 1000)
    # Replacing `big` (300,000) by 100,000: moto counts the old value too (400,012,
    # passes); the next SET (c) is then checked against the item without the old value.
    replace = "SET big = :w, c = :c"
    # Nested growth between two top-level SETs: the second must count it.
    nested = "SET z1 = :z, m.#i = :grow, z2 = :z"
    inner = {"#i": "inner"}  # reserved words, named through placeholders
    old = {"ExpressionAttributeNames": {"#o": "old"}}
    big = {"N": "9" * 38}  # 1 + this: 39 digits
    return [
        put("L1", big=s(at_limit)),
        update("L1", four, kilo),
        get("L1"),
        put("L1", big=s(at_limit + 1)),
        update("L1", four, kilo),  # refused at a4
        get("L1"),
        put("L1", big=s(300_000)),
        update("L1", replace, {":w": s(100_000), ":c": s(300_000)}),
        put("L1", big=s(300_000)),
        update("L1", replace, {":w": s(100_000), ":c": s(304_990)}),  # exactly the limit
        put("L1", big=s(300_000)),
        update("L1", replace, {":w": s(100_000), ":c": s(304_991)}),  # refused at c
        put("L1", big=s(250_000)),
        update("L1", "SET big = :w", {":w": s(200_000)}),  # refused: the old value counts
        get("L1"),
        put("L1", m={"M": {"inner": s(1)}}),
        update("L1", nested, {":z": s(10), ":grow": s(404_970)}, ExpressionAttributeNames=inner),
        get("L1"),
        put("L1", m={"M": {"inner": s(1)}}, old=s(300_000), n={"N": "1"}),
        # a written first, old removed, then n's ADD: fits only without old
        update("L1", "SET a = :a REMOVE #o ADD n :big", {":a": s(104_960), ":big": big}, **old),
        get("L1"),
        put("L1", m={"M": {"inner": s(1)}}, old=s(300_000)),
        update("L1", "REMOVE #o SET c = :c", {":c": s(200_000)}, **old),  # REMOVE first
        put("L1", m={"M": {"inner": s(1)}}, old=s(300_000)),
        update("L1", "SET c = :c REMOVE #o", {":c": s(200_000)}, **old),  # SET first: refused
        get("L1"),
        put("L1", tags={"SS": ["t"]}, n={"N": "1"}),
        # ADD of a set grows it in place; n's ADD after it must count that
        update(
            "L1",
            "SET z = :z ADD tags :many, n :big",
            {":many": {"SS": ["a" * 202_480, "b" * 202_480]}, ":big": big, ":z": s(10)},
        ),
        get("L1"),
        put("L1", big=s(at_limit + 1)),
        put("L2", big=s(1)),
        (
            "TransactWriteItems",
            {
                "TransactItems": [
                    {"Update": {**update("L2", "SET a1 = :v", kilo)[1], "ReturnValues": None}},
                    {"Update": {**update("L1", four, kilo)[1], "ReturnValues": None}},
                ]
            },
        ),  # refused at L1's fourth SET: nothing of it written
        get("L1"),
        get("L2"),
        put("L1", big=s(at_limit)),
        (
            "TransactWriteItems",
            {"TransactItems": [{"Update": {**update("L1", four, kilo)[1], "ReturnValues": None}}]},
        ),
        get("L1"),
    ]


def _clean(params: dict) -> dict:
    if "TransactItems" in params:
        for entry in params["TransactItems"]:
            for op in entry.values():
                op.pop("ReturnValues", None)
    return params


def _run(client, table: str) -> list:
    requests = [(operation, _clean(params)) for operation, params in _requests(table)]
    outcomes = _outcomes(client, requests)
    for code in ("L1", "L2"):
        client.delete_item(TableName=table, Key={"code": {"S": code}})
    return outcomes


def _summary(outcome) -> object:
    kind, answer = outcome
    if kind == "error":
        return answer["Error"]["Message"]
    item = answer.get("Attributes") or answer.get("Item") or {}
    return sorted((name, len(str(value))) for name, value in item.items())


def test_update_item_size_refusals_match_motos_own_per_set_sums(stack):
    client = stack.client("dynamodb")
    table = stack.physical["CouponsTable"]["Ref"]
    ours = _run(client, table)
    with expressions.motos_own_expressions():
        theirs = _run(client, table)
    assert [_summary(o) for o in ours] == [_summary(o) for o in theirs]
    assert ours == theirs
    too_large = "Item size to update has exceeded the maximum allowed size"
    refused = [i for i, outcome in enumerate(ours) if _summary(outcome) == too_large]
    # at a4; at c after big replaced; the old value counted; after nested growth; SET before REMOVE; after ADD of
    # a set; in the transaction
    assert refused == [4, 11, 13, 16, 24, 27, 31], [_summary(o) for o in ours]
    assert [kind for kind, _ in ours].count("error") == len(refused)
    assert "a4" in ours[2][1]["Item"]  # exactly at the limit: written
    # refused at a4: the first three SETs stay written, as moto leaves them
    assert {"a1", "a2", "a3"} <= set(ours[5][1]["Item"]) and "a4" not in ours[5][1]["Item"]
    assert "c" in ours[9][1]["Attributes"]  # exactly at the limit after the replacement
    assert "z1" in ours[17][1]["Item"] and "z2" not in ours[17][1]["Item"]
    assert "a1" not in ours[32][1]["Item"] and "a1" not in ours[33][1]["Item"]  # cancelled


def test_the_moto_code_item_limits_repeats_is_still_there():
    """item_limits.py repeats UpdateExpressionExecutor.execute's dispatch and compares
    against LimitedSizeDict's limit; a moto upgrade that changes either fails here."""
    import inspect

    from moto.dynamodb.models.dynamo_type import LimitedSizeDict
    from moto.dynamodb.parsing.executors import UpdateExpressionExecutor

    from memberflow_local import item_limits

    mine = getattr(LimitedSizeDict, "_memberflow_setitem", LimitedSizeDict.__setitem__)
    check = inspect.getsource(mine)  # moto's own, installed or not
    assert f"(current_item_size + new_item_size) > {item_limits.LIMIT}" in check
    assert "for item in (list(self.keys()) + list(self.values()))" in check
    theirs = getattr(
        UpdateExpressionExecutor, "_memberflow_execute", UpdateExpressionExecutor.execute
    )
    execute = " ".join(inspect.getsource(theirs).split())
    assert (
        "node_executor = self.get_specific_execution(node) if node_executor is None:"
        " for n in node.children: self.execute(n) else:"
        " node_executor(node, self.expression_attribute_names).execute(self.item)"
    ) in execute
