"""Parity of index range keys kept in order (``index_ranges.py`` under ``index_reads``,
docs/local-stack.md) with moto's own query path: random items with S and N index range
keys, equal values, items outside the index, writes that move items between hash values
and ranges (UpdateItem, PutItem replacing, DeleteItem, batch writes, transactions, one
cancelled), every key condition operator, Limit and ExclusiveStartKey paging, both
directions, with and without the index lag. Every query runs with the seams and with
them off (moto's query over every item, the lag applied), and with no lag through
moto's own ``Table.query`` too; the answers, pages and errors must be the same."""

from __future__ import annotations

import inspect
import random

import pytest
from botocore.exceptions import ClientError

from memberflow_local import index_ranges, index_reads
from memberflow_local.stack import LocalStack

TABLE = "ordered"
_DUES = [f"2026-0{m}-{d:02d}" for m in (1, 2) for d in (1, 5, 9, 10, 19, 28)]
_SCORES = ["-3", "0", "0.5", "2.5", "7", "10", "1e2", "100", "100.0"]  # 1e2 == 100 == 100.0
_SHARDS = ["s0", "s1", "s2"]


def _table(client, rng) -> None:
    client.create_table(
        TableName=TABLE,
        AttributeDefinitions=[
            {"AttributeName": k, "AttributeType": t}
            for k, t in (
                ("pk", "S"),
                ("sk", "N"),
                ("review_shard", "S"),
                ("due_at", "S"),
                ("score_n", "N"),
            )
        ],
        KeySchema=[
            {"AttributeName": "pk", "KeyType": "HASH"},
            {"AttributeName": "sk", "KeyType": "RANGE"},
        ],
        GlobalSecondaryIndexes=[
            {
                "IndexName": "by_due",
                "KeySchema": [
                    {"AttributeName": "review_shard", "KeyType": "HASH"},
                    {"AttributeName": "due_at", "KeyType": "RANGE"},
                ],
                "Projection": {"ProjectionType": "ALL"},
            },
            {
                "IndexName": "by_score",
                "KeySchema": [
                    {"AttributeName": "review_shard", "KeyType": "HASH"},
                    {"AttributeName": "score_n", "KeyType": "RANGE"},
                ],
                "Projection": {"ProjectionType": "KEYS_ONLY"},
            },
        ],
        BillingMode="PAY_PER_REQUEST",
    )
    for n in range(90):
        client.put_item(TableName=TABLE, Item=_item(rng, n))


def _item(rng, n: int) -> dict:
    item = {
        "pk": {"S": f"p{n % 7}"},
        "sk": {"N": str(n)},
        "review_shard": {"S": rng.choice(_SHARDS)},
    }
    if rng.random() < 0.85:  # the rest are not in the index
        item["due_at"] = {"S": rng.choice(_DUES)}
    if rng.random() < 0.85:
        item["score_n"] = {"N": rng.choice(_SCORES)}
    if rng.random() < 0.1:  # pages end by size; a Limit page near 1 MB is moto's own
        item["blob"] = {"S": "x" * 200_000}
    return item


def _key(n: int) -> dict:
    return {"pk": {"S": f"p{n % 7}"}, "sk": {"N": str(n)}}


def _requests(rng, count: int) -> list[dict]:
    """Random queries of both indexes: every operator, both directions, Limit or none."""
    requests = []
    for _ in range(count):
        index, attribute = rng.choice([("by_due", "due_at"), ("by_score", "score_n")])
        kind, pool = ("S", _DUES) if attribute == "due_at" else ("N", _SCORES + ["5", "-10"])
        values = {":h": {"S": rng.choice(_SHARDS + ["s9"])}}
        values[":a"], values[":b"] = ({kind: rng.choice(pool)} for _ in range(2))
        operator = rng.choice(["=", "<", "<=", ">", ">=", "BETWEEN", "begins_with", "none"])
        condition = {
            "BETWEEN": f"{attribute} BETWEEN :a AND :b",  # :a > :b at times
            "begins_with": f"begins_with({attribute}, :a)",
            "none": None,
        }.get(operator, f"{attribute} {operator} :a")
        if operator == "begins_with" and kind == "S":
            values[":a"] = {"S": rng.choice(["2026-01", "2026-01-1", "2026-02-2", "2027"])}
        if condition is None or "BETWEEN" not in condition:
            del values[":b"]
        if condition is None:
            del values[":a"]
        request = {
            "TableName": TABLE,
            "IndexName": index,
            "KeyConditionExpression": "review_shard = :h"
            + (f" AND {condition}" if condition else ""),
            "ExpressionAttributeValues": values,
            "ScanIndexForward": rng.random() < 0.5,
        }
        if index == "by_due":  # the blobs stay out of the answers (still sized by moto)
            request["ProjectionExpression"] = "pk, sk, review_shard, due_at, score_n"
        if rng.random() < 0.6:
            request["Limit"] = rng.choice([1, 2, 5])
        requests.append(request)
    return requests


def _pages(client, request) -> list:
    pages, start = [], None
    while len(pages) < 40:
        try:
            page = client.query(**request, **({"ExclusiveStartKey": start} if start else {}))
        except ClientError as error:
            return [
                *pages,
                ("error", error.response["Error"]["Code"], error.response["Error"]["Message"]),
            ]
        except Exception as error:  # noqa: BLE001 - moto's own failures must match too
            return [*pages, ("error", type(error).__name__)]
        start = page.get("LastEvaluatedKey")
        pages.append((page["Items"], page["Count"], page["ScannedCount"], start))
        if not start:
            break
    return pages


def _modes(lag: float) -> list[str]:
    return ["ours", "walk"] + (["moto"] if lag == 0 else [])


def _answer(client, request, mode: str) -> list:
    if mode == "moto":  # moto's own Table.query (no index lag: only with none)
        with index_reads.motos_own_reads():
            return _pages(client, request)
    index_reads.index_keys.enabled = index_reads.key_ranges.enabled = mode == "ours"
    try:
        return _pages(client, request)
    finally:
        index_reads.index_keys.enabled = index_reads.key_ranges.enabled = True


def _same_in_every_mode(client, requests, lag: float) -> list:
    answers = []
    for request in requests:
        modes = {mode: _answer(client, request, mode) for mode in _modes(lag)}
        for mode, answer in modes.items():
            assert answer == modes["ours"], (mode, request)
        answers.append(modes["ours"])
    return answers


def _writes(client, rng, step: int) -> None:
    """Writes that move items between shards and ranges, or out of the index."""
    if step == 0:  # UpdateItem in place
        for n in rng.sample(range(90), 12):
            client.update_item(
                TableName=TABLE,
                Key=_key(n),
                UpdateExpression="SET review_shard = :h, due_at = :d, score_n = :s",
                ExpressionAttributeValues={
                    ":h": {"S": rng.choice(_SHARDS)},
                    ":d": {"S": rng.choice(_DUES)},
                    ":s": {"N": rng.choice(_SCORES)},
                },
            )
        for n in rng.sample(range(90), 4):
            client.update_item(TableName=TABLE, Key=_key(n), UpdateExpression="REMOVE due_at")
    elif step == 1:  # PutItem replacing, DeleteItem, a batch
        for n in rng.sample(range(90), 8):
            client.put_item(TableName=TABLE, Item=_item(rng, n))
        for n in rng.sample(range(90), 5):
            client.delete_item(TableName=TABLE, Key=_key(n))
        client.batch_write_item(
            RequestItems={
                TABLE: [{"PutRequest": {"Item": _item(rng, n)}} for n in range(90, 96)]
                + [{"DeleteRequest": {"Key": _key(n)}} for n in rng.sample(range(90), 3)]
            }
        )
    else:  # a transaction, then one that cancels
        moved = rng.sample(range(96), 3)
        update = {
            "TableName": TABLE,
            "Key": _key(moved[1]),
            "UpdateExpression": "SET due_at = :d, review_shard = :h",
            "ExpressionAttributeValues": {":d": {"S": "2026-01-10"}, ":h": {"S": "s2"}},
        }
        client.transact_write_items(
            TransactItems=[
                {"Put": {"TableName": TABLE, "Item": _item(rng, moved[0])}},
                {"Update": update},
                {"Delete": {"TableName": TABLE, "Key": _key(moved[2])}},
            ]
        )
        with pytest.raises(client.exceptions.TransactionCanceledException):
            client.transact_write_items(
                TransactItems=[
                    {
                        "Update": {
                            **update,
                            "ExpressionAttributeValues": {
                                ":d": {"S": "2026-02-28"},
                                ":h": {"S": "s0"},
                            },
                        }
                    },
                    {"Put": {"TableName": TABLE, "Item": _item(rng, 200)}},
                    {
                        "ConditionCheck": {
                            "TableName": TABLE,
                            "Key": _key(999),
                            "ConditionExpression": "attribute_exists(pk)",
                        }
                    },
                ]
            )


@pytest.mark.parametrize("lag", [0.0, 1.0])
def test_index_range_queries_answer_as_motos_own_through_writes(lag):
    """Every answer, page, LastEvaluatedKey and error the same with the seams and without
    (and, with no lag, as moto's own Table.query), before and after each round of writes
    and, with lag, both while it has not passed (the index still shows the items as
    they were) and after."""
    rng = random.Random(13 + int(lag))
    with LocalStack(index_lag=lag) as local:
        client = local.client("dynamodb")
        _table(client, rng)
        local.advance(seconds=2)
        seen = [_same_in_every_mode(client, _requests(rng, 30), lag)]
        for step in range(3):
            _writes(client, rng, step)
            requests = _requests(rng, 25)
            seen.append(_same_in_every_mode(client, requests, lag))
            local.advance(seconds=2)
            after = _same_in_every_mode(client, requests, lag)
            if lag and step < 2:  # the index showed the writes only once the lag passed
                assert after != seen[-1]
            seen.append(after)
    answers = [pages for round_ in seen for pages in round_]
    assert any(len(pages) > 2 for pages in answers)  # paged by Limit
    assert any(p[-1][0] == "error" for p in answers)  # begins_with on a number
    assert sum(1 for p in answers if len(p) == 1 and p[0][1] == 0) < len(answers) / 2


def test_a_query_reads_only_the_items_in_its_range(monkeypatch):
    """What the ordered keys are for: the sweep's shape of query (one hash value, a range
    of its sort key) reads the items in its range, not every item of the hash value;
    with a Limit, also the one item each side of the range."""
    rng = random.Random(5)
    with LocalStack(index_lag=0) as local:
        client = local.client("dynamodb")
        _table(client, rng)
        request = {
            "TableName": TABLE,
            "IndexName": "by_score",
            "KeyConditionExpression": "review_shard = :h AND score_n BETWEEN :a AND :b",
            "ExpressionAttributeValues": {":h": {"S": "s1"}, ":a": {"N": "0"}, ":b": {"N": "2.5"}},
        }
        client.query(**request)  # the maps are built by a first query
        read = []
        stored = index_reads._stored
        monkeypatch.setattr(index_reads, "_stored", lambda *a: read.append(a) or stored(*a))
        answer = client.query(**request)
        in_range = answer["Count"]
        assert 0 < in_range == len(read)
        held = sum(
            1 for p in client.scan(TableName=TABLE)["Items"] if p["review_shard"]["S"] == "s1"
        )
        assert held > 3 * in_range  # the walk read every one of them
        read.clear()
        client.query(**request, Limit=100)
        assert len(read) == in_range + 2


def _filed(ordered, keys, rng, kinds):
    from moto.dynamodb.models.dynamo_type import DynamoType

    values = {}
    filed = {}
    for n in keys:
        kind, pool = rng.choice(kinds)
        values[n] = DynamoType({kind: rng.choice(pool)})
        filed[n] = ordered.add("h", values[n], n)
    return values, filed


@pytest.mark.parametrize("kinds", ["S", "N", "mixed"])
def test_the_ordered_range_keys_select_what_motos_comparison_selects(kinds):
    """``index_ranges.Ordered`` against moto's ``DynamoType.compare`` and sort over random
    values with many equal ones, after removals: the same items in the same order; for
    values moto could not compare (mixed kinds, begins_with on numbers) it declines."""
    from moto.dynamodb.models.dynamo_type import DynamoType

    rng = random.Random(kinds)
    strings, numbers = ("S", ["a", "ab", "abc", "b", "ba", "B", "", "é"]), ("N", _SCORES)
    pools = {"S": [strings], "N": [numbers], "mixed": [strings, numbers]}[kinds]
    ordered = index_ranges.Ordered()
    values, filed = _filed(ordered, range(300), rng, pools)
    for n in rng.sample(range(300), 120):
        ordered.remove(filed.pop(n))
        del values[n]
    for _ in range(200):
        kind, pool = rng.choice(pools)
        operator = rng.choice(["=", "<", "<=", ">", ">=", "BETWEEN", "BEGINS_WITH"])
        query = [
            DynamoType({kind: rng.choice(pool)}) for _ in range(2 if operator == "BETWEEN" else 1)
        ]
        chosen = ordered.select("h", operator, query)
        if kinds == "mixed" or (operator == "BEGINS_WITH" and kind == "N"):
            assert chosen is None
            continue
        entries, lo, hi = chosen
        wanted = sorted(
            (n for n, value in values.items() if value.compare(operator, query)),
            key=lambda n: (values[n], n),
        )
        assert [entry[2] for entry in entries[lo:hi]] == wanted
    assert ordered.select("nobody", "=", [DynamoType({"S": "a"})]) == ([], 0, 0)


def test_the_moto_query_code_the_ordered_keys_rely_on_is_unchanged():
    """moto sorts the candidates itself, by ``cast_value``; ends a page at Limit when any
    candidate follows, or at 1 MB; caps an item at 405,000 bytes (moto is pinned)."""
    from moto.dynamodb.models import dynamo_type
    from moto.dynamodb.models.table import Table

    query = inspect.getsource(Table.query)
    assert "possible_results = self.sorted_items(" in query
    assert "reached_length_limit = len(results) == limit" in query
    assert "reached_size_limit = (result_size + result.size()) > RESULT_SIZE_LIMIT" in query
    assert "return self.cast_value < other.cast_value" in inspect.getsource(
        dynamo_type.DynamoType.__lt__
    )
    assert "return Decimal(self.value)" in inspect.getsource(dynamo_type.DynamoType.cast_value.fget)
    assert "> 405000" in inspect.getsource(dynamo_type.LimitedSizeDict.__setitem__)


def _review_table(client, projection: str = "ALL") -> None:
    names = (("pk", "S"), ("sk", "N"), ("h", "S"), ("r", "S"))
    client.create_table(
        TableName="t",
        AttributeDefinitions=[{"AttributeName": a, "AttributeType": t} for a, t in names],
        KeySchema=[
            {"AttributeName": "pk", "KeyType": "HASH"},
            {"AttributeName": "sk", "KeyType": "RANGE"},
        ],
        GlobalSecondaryIndexes=[
            {
                "IndexName": "gsi",
                "KeySchema": [
                    {"AttributeName": "h", "KeyType": "HASH"},
                    {"AttributeName": "r", "KeyType": "RANGE"},
                ],
                "Projection": {"ProjectionType": projection},
            }
        ],
        BillingMode="PAY_PER_REQUEST",
    )


def _ours_and_motos(client, request) -> tuple[list, list]:
    ours = _pages(client, request)
    with index_reads.motos_own_reads():
        return ours, _pages(client, request)


def _gsi(condition: str, values: dict, **extra) -> dict:
    return {
        "TableName": "t",
        "IndexName": "gsi",
        "KeyConditionExpression": f"h = :h AND {condition}",
        "ExpressionAttributeValues": {":h": {"S": "x"}, **values},
        **extra,
    }


def test_queries_moto_answers_from_outside_the_range_are_not_narrowed():
    """moto's own answers that depend on items outside the key range: a legacy
    QueryFilter (moto keeps items it passes from outside the range), an index range value
    of another type (moto's comparison fails), an item grown past moto's size check by a
    nested SET (outside the range, it ends moto's page)."""
    with LocalStack(index_lag=0) as local:
        client = local.client("dynamodb")
        _review_table(client)
        for n in range(10):
            item = {"pk": {"S": "p"}, "sk": {"N": str(n)}, "h": {"S": "x"}}
            flag = {"S": "y" if n % 2 else "n"}
            client.put_item(TableName="t", Item={**item, "r": {"S": chr(97 + n)}, "f": flag})
        legacy = {
            "TableName": "t",
            "IndexName": "gsi",
            "KeyConditions": {
                "h": {"ComparisonOperator": "EQ", "AttributeValueList": [{"S": "x"}]},
                "r": {
                    "ComparisonOperator": "BETWEEN",
                    "AttributeValueList": [{"S": "c"}, {"S": "e"}],
                },
            },
            "QueryFilter": {"f": {"ComparisonOperator": "EQ", "AttributeValueList": [{"S": "y"}]}},
        }
        for extra in ({}, {"Limit": 2}):
            ours, motos = _ours_and_motos(client, {**legacy, **extra})
            assert ours == motos
        wrong_type = {"pk": {"S": "p"}, "sk": {"N": "99"}, "h": {"S": "x"}, "r": {"N": "5"}}
        client.put_item(TableName="t", Item=wrong_type)  # moto does not check GSI key types
        for condition in ("r = :a", "begins_with(r, :a)", "r <= :a"):
            ours, motos = _ours_and_motos(client, _gsi(condition, {":a": {"S": "b"}}))
            assert ours == motos
    with LocalStack(index_lag=0) as local:
        client = local.client("dynamodb")
        _review_table(client, "KEYS_ONLY")
        big = "x" * 250_000
        for n, r in ((1, "a"), (2, "b")):
            item = {"pk": {"S": "p"}, "sk": {"N": str(n)}, "h": {"S": "x"}, "r": {"S": r}}
            client.put_item(TableName="t", Item={**item, "b": {"S": big}})
        grown = {"pk": {"S": "p"}, "sk": {"N": "3"}, "h": {"S": "x"}, "r": {"S": "c"}}
        client.put_item(TableName="t", Item={**grown, "m": {"M": {"a": {"S": big}}}})
        client.update_item(
            TableName="t",
            Key={"pk": {"S": "p"}, "sk": {"N": "3"}},
            UpdateExpression="SET m.b = :v",  # moto accepts it: about 500 KB
            ExpressionAttributeValues={":v": {"S": big}},
        )
        for extra in ({}, {"Limit": 5}):
            ours, motos = _ours_and_motos(client, _gsi("r <= :a", {":a": {"S": "b"}}, **extra))
            assert ours == motos
