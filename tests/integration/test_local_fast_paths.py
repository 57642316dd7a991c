"""Parity of the local stack's fast paths with moto's own code paths (docs/local-stack.md):
each request or execution runs with the seam and through moto's own path, and the
answers are compared whole."""

from __future__ import annotations

import json
import re
import threading
from collections import Counter

import pytest

from memberflow_local import asl, expressions, index_reads
from memberflow_local.stack import LocalStack


def _coupon_requests(table: str) -> list[tuple[str, dict]]:
    """Condition, update, key-condition, projection and filter expressions, their
    errors included; each twice, so the second runs from the caches."""
    key = {"code": {"S": "C1"}}
    once = [
        (
            "PutItem",
            {
                "TableName": table,
                "Item": {**key, "n": {"N": "1"}, "tags": {"SS": ["a", "b"]}, "m": {"M": {}}},
                "ConditionExpression": "attribute_not_exists(code)",
            },
        ),
        (
            "UpdateItem",
            {
                "TableName": table,
                "Key": key,
                "UpdateExpression": "SET n = n + :one, #l = list_append(if_not_exists(#l, :e), :t), "
                "m.lvl = :one ADD visits :one DELETE tags :a",
                "ConditionExpression": "n < :ten AND (attribute_exists(code) OR size(code) > :one)",
                "ExpressionAttributeNames": {"#l": "log"},
                "ExpressionAttributeValues": {
                    ":one": {"N": "1"},
                    ":ten": {"N": "10"},
                    ":e": {"L": []},
                    ":t": {"L": [{"S": "x"}]},
                    ":a": {"SS": ["a"]},
                },
                "ReturnValues": "ALL_NEW",
            },
        ),
        (
            "UpdateItem",
            {
                "TableName": table,
                "Key": key,
                "UpdateExpression": "REMOVE m.lvl, #l[0] SET n = n - :one",
                "ExpressionAttributeNames": {"#l": "log"},
                "ExpressionAttributeValues": {":one": {"N": "1"}},
                "ReturnValues": "UPDATED_OLD",
            },
        ),
        (  # type mismatch: ValidationException
            "UpdateItem",
            {
                "TableName": table,
                "Key": key,
                "UpdateExpression": "SET n = n + :s",
                "ExpressionAttributeValues": {":s": {"S": "x"}},
            },
        ),
        (  # a key attribute cannot be updated
            "UpdateItem",
            {
                "TableName": table,
                "Key": key,
                "UpdateExpression": "SET code = :s",
                "ExpressionAttributeValues": {":s": {"S": "x"}},
            },
        ),
        (  # overlapping paths
            "UpdateItem",
            {
                "TableName": table,
                "Key": key,
                "UpdateExpression": "SET m = :m, m.lvl = :one",
                "ExpressionAttributeValues": {":m": {"M": {}}, ":one": {"N": "1"}},
            },
        ),
        (  # a name the expression does not use
            "PutItem",
            {
                "TableName": table,
                "Item": {"code": {"S": "C2"}},
                "ConditionExpression": "attribute_not_exists(code)",
                "ExpressionAttributeNames": {"#unused": "n"},
            },
        ),
        (  # the condition fails, with the old item returned
            "PutItem",
            {
                "TableName": table,
                "Item": {**key},
                "ConditionExpression": "attribute_not_exists(code)",
                "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
            },
        ),
        (
            "Query",
            {
                "TableName": table,
                "KeyConditionExpression": "#c = :c",
                "FilterExpression": "n BETWEEN :zero AND :ten AND NOT contains(tags, :z)",
                "ProjectionExpression": "code, n, #l",
                "ExpressionAttributeNames": {"#c": "code", "#l": "log"},
                "ExpressionAttributeValues": {
                    ":c": key["code"],
                    ":zero": {"N": "0"},
                    ":ten": {"N": "10"},
                    ":z": {"S": "z"},
                },
            },
        ),
        (
            "Scan",
            {
                "TableName": table,
                "FilterExpression": "n IN (:one, :two)",
                "ExpressionAttributeValues": {":one": {"N": "1"}, ":two": {"N": "2"}},
            },
        ),
        (  # a transaction that cancels: nothing of it is written
            "TransactWriteItems",
            {
                "TransactItems": [
                    {
                        "Update": {
                            "TableName": table,
                            "Key": key,
                            "UpdateExpression": "SET n = :ten",
                            "ExpressionAttributeValues": {":ten": {"N": "10"}},
                        }
                    },
                    {
                        "ConditionCheck": {
                            "TableName": table,
                            "Key": {"code": {"S": "nobody"}},
                            "ConditionExpression": "attribute_exists(code)",
                        }
                    },
                ]
            },
        ),
        ("GetItem", {"TableName": table, "Key": key, "ProjectionExpression": "n, tags"}),
        (
            "DeleteItem",
            {
                "TableName": table,
                "Key": key,
                "ConditionExpression": "n = :one",
                "ExpressionAttributeValues": {":one": {"N": "1"}},
            },
        ),
    ]
    return once + once


def _outcomes(client, requests):
    outcomes = []
    for operation, params in requests:
        try:
            result = client._make_api_call(operation, params)
            result.pop("ResponseMetadata", None)
            outcomes.append(("ok", result))
        except client.exceptions.ClientError as error:
            response = dict(error.response)
            response.pop("ResponseMetadata", None)
            outcomes.append(("error", response))
    return outcomes


def test_parsed_once_expressions_answer_exactly_as_motos_own_parses(stack):
    client = stack.client("dynamodb")
    table = stack.physical["CouponsTable"]["Ref"]
    expressions.clear()
    ours = _outcomes(client, _coupon_requests(table))
    _empty(client, table)
    with expressions.motos_own_expressions():
        theirs = _outcomes(client, _coupon_requests(table))
    assert ours == theirs
    kinds = [kind for kind, _ in ours[:13]]
    assert kinds == ["ok", "ok", "ok"] + ["error"] * 5 + ["ok", "ok", "error", "ok", "ok"]
    assert ours[1][1]["Attributes"]["log"] == {"L": [{"S": "x"}]}
    assert ours[1][1]["Attributes"]["tags"] == {"SS": ["b"]}
    assert ours[7][1]["Item"]["code"] == {"S": "C1"}  # ALL_OLD on the failed condition
    assert ours[13:] == ours[:13]  # the second round, from the caches, is the same


def _empty(client, table) -> None:
    for item in client.scan(TableName=table)["Items"]:
        client.delete_item(TableName=table, Key={"code": item["code"]})


@pytest.mark.parametrize("copies", [1, 3])  # the first copy learns the tree's plan
def test_the_update_tree_copy_is_a_deep_copy_with_the_same_sharing(copies):
    import copy as copy_module

    from moto.dynamodb.parsing.expressions import UpdateExpressionParser

    tree = UpdateExpressionParser.make("SET a.b[1] = if_not_exists(a, :v) + :w REMOVE c, d[2]")
    for _ in range(copies):
        copied = expressions.tree_copy(tree)

    def shape(node, seen):
        seen.append(node)
        for child in getattr(node, "children", None) or ():
            if hasattr(child, "children"):
                shape(child, seen)
        return seen

    def described(root):
        found = shape(root, [])
        return [
            (
                type(n).__name__,
                n.type,
                [found.index(c) if hasattr(c, "children") else c for c in n.children or ()],
                None if n.parent is None else found.index(n.parent),
            )
            for n in found
        ]

    assert described(copied) == described(copy_module.deepcopy(tree)) == described(tree)

    def nodes(node, seen):
        seen.append(node)
        for child in getattr(node, "children", None) or ():
            if hasattr(child, "children"):
                nodes(child, seen)
        return seen

    originals, copies = nodes(tree, []), nodes(copied, [])
    assert len(originals) == len(copies) > 10
    for original, copy in zip(originals, copies, strict=True):
        assert type(copy) is type(original) and copy is not original
        assert copy.children is not original.children or original.children is None
        if original.parent is None:
            assert copy.parent is None
        else:  # parents point inside the copy, as copy.deepcopy's memo makes them
            assert copy.parent is copies[originals.index(original.parent)]


# ------------------------------------------------------------------- index key maps
def _enrolment(member: str, shard: str | None, status: str = "open") -> dict:
    item = {
        "member_id": {"S": member},
        "enrolment_key": {"S": "welcome#c1"},
        "status": {"S": status},
    }
    if shard is not None:
        item["cohort_shard"] = {"S": shard}
    return item


def _shards(client, table) -> list:
    answer = []
    for shard in ("COHORT#c1#0", "COHORT#c1#1", "COHORT#c1#2"):
        pages = client.get_paginator("query").paginate(
            TableName=table,
            IndexName="by_cohort_shard",
            KeyConditionExpression="cohort_shard = :s",
            ExpressionAttributeValues={":s": {"S": shard}},
            Limit=2,
        )
        answer.append(
            [(i["member_id"]["S"], i.get("status", {}).get("S")) for p in pages for i in p["Items"]]
        )
    return answer


def _index_history(stack, client, table) -> list:
    """Writes that move items between index keys, delete them, and a transaction that
    cancels; the index as read before and after the lag passes, at each step."""
    seen = []

    def look():
        seen.append(_shards(client, table))
        stack.advance(seconds=2)
        seen.append(_shards(client, table))

    for n in range(6):
        client.put_item(TableName=table, Item=_enrolment(f"m{n}", f"COHORT#c1#{n % 2}"))
    look()
    key = {"member_id": {"S": "m2"}, "enrolment_key": {"S": "welcome#c1"}}
    client.update_item(  # the index key changes
        TableName=table,
        Key=key,
        UpdateExpression="SET cohort_shard = :s, #st = :done",
        ExpressionAttributeNames={"#st": "status"},
        ExpressionAttributeValues={":s": {"S": "COHORT#c1#2"}, ":done": {"S": "done"}},
    )
    client.update_item(  # the index key goes: out of the sparse index
        TableName=table,
        Key={"member_id": {"S": "m3"}, "enrolment_key": {"S": "welcome#c1"}},
        UpdateExpression="REMOVE cohort_shard",
    )
    client.put_item(TableName=table, Item=_enrolment("m4", "COHORT#c1#2"))  # replaced
    client.delete_item(
        TableName=table, Key={"member_id": {"S": "m1"}, "enrolment_key": {"S": "welcome#c1"}}
    )
    look()
    try:
        client.transact_write_items(
            TransactItems=[
                {"Put": {"TableName": table, "Item": _enrolment("m0", "COHORT#c1#2", "moved")}},
                {"Delete": {"TableName": table, "Key": key}},
                {
                    "ConditionCheck": {
                        "TableName": table,
                        "Key": {"member_id": {"S": "nobody"}, "enrolment_key": {"S": "x"}},
                        "ConditionExpression": "attribute_exists(member_id)",
                    }
                },
            ]
        )
    except client.exceptions.TransactionCanceledException:
        seen.append("cancelled")
    look()
    client.transact_write_items(
        TransactItems=[
            {"Put": {"TableName": table, "Item": _enrolment("m0", "COHORT#c1#2", "moved")}},
            {"Delete": {"TableName": table, "Key": key}},
        ]
    )
    look()
    return seen


@pytest.mark.parametrize("lag", [0.0, 1.0])
def test_index_key_maps_answer_as_a_walk_of_every_item(lag):
    """With and without index lag: the map gives what reading every item gives."""
    answers = {}
    for mode in ("map", "walk"):
        with LocalStack(index_lag=lag) as local:
            index_reads.index_keys.enabled = mode == "map"
            try:
                client = local.client("dynamodb")
                table = local.physical["EnrolmentsTable"]["Ref"]
                answers[mode] = _index_history(local, client, table)
            finally:
                index_reads.index_keys.enabled = True
    assert answers["map"] == answers["walk"]
    history = answers["map"]
    assert "cancelled" in history
    # After the lag: m2 moved to shard 2 (done), m3 left the index, m1 deleted, m4 moved.
    assert history[3] == [[("m0", "open")], [("m5", "open")], [("m2", "done"), ("m4", "open")]]
    assert history[-1][2] == [("m0", "moved"), ("m4", "open")]
    if lag:  # right after the writes the index still showed them as they were
        assert history[2] == history[1]


def test_with_no_lag_index_key_maps_answer_as_motos_own_query():
    with LocalStack(index_lag=0) as local:
        client = local.client("dynamodb")
        table = local.physical["EnrolmentsTable"]["Ref"]
        ours = _index_history(local, client, table)
        with index_reads.motos_own_reads():
            theirs = [_shards(client, table)]
        assert ours[-1] == theirs[0]


def _ranged_table(client) -> str:
    client.create_table(
        TableName="ranged",
        AttributeDefinitions=[
            {"AttributeName": k, "AttributeType": t}
            for k, t in (("pk", "S"), ("sk", "N"), ("shard", "S"), ("due", "S"))
        ],
        KeySchema=[
            {"AttributeName": "pk", "KeyType": "HASH"},
            {"AttributeName": "sk", "KeyType": "RANGE"},
        ],
        GlobalSecondaryIndexes=[
            {
                "IndexName": "by_due",
                "KeySchema": [
                    {"AttributeName": "shard", "KeyType": "HASH"},
                    {"AttributeName": "due", "KeyType": "RANGE"},
                ],
                "Projection": {"ProjectionType": "ALL"},
            }
        ],
        BillingMode="PAY_PER_REQUEST",
    )
    for n in range(60):
        item = {"pk": {"S": "p"}, "sk": {"N": str(n)}, "shard": {"S": f"s{n % 2}"}}
        if n % 7:  # some items stay out of the index
            item["due"] = {"S": f"2026-01-{1 + n % 28:02d}"}
        item["blob"] = {"S": "x" * (20_000 if n % 5 == 0 else 10)}  # pages end by size
        client.put_item(TableName="ranged", Item=item)
    return "ranged"


_RANGED_QUERIES = [
    (
        "shard = :s AND due BETWEEN :a AND :b",
        {":a": {"S": "2026-01-05"}, ":b": {"S": "2026-01-12"}},
    ),
    ("shard = :s AND due < :a", {":a": {"S": "2026-01-09"}}),
    ("shard = :s AND due <= :a", {":a": {"S": "2026-01-09"}}),
    ("shard = :s AND due > :a", {":a": {"S": "2026-01-20"}}),
    ("shard = :s AND due >= :a", {":a": {"S": "2026-01-20"}}),
    ("shard = :s AND due = :a", {":a": {"S": "2026-01-03"}}),
    ("shard = :s AND begins_with(due, :a)", {":a": {"S": "2026-01-1"}}),
    ("shard = :s", {}),
]


def _ranged_answers(client, table) -> list:
    answers = []
    for expression, values in _RANGED_QUERIES:
        for forward in (True, False):
            for limit in (None, 3):
                pages, start = [], None
                while True:
                    request = {
                        "TableName": table,
                        "IndexName": "by_due",
                        "KeyConditionExpression": expression,
                        "ExpressionAttributeValues": {":s": {"S": "s1"}, **values},
                        "ScanIndexForward": forward,
                        "ProjectionExpression": "sk, due",
                    }
                    if limit:
                        request["Limit"] = limit
                    if start:
                        request["ExclusiveStartKey"] = start
                    answer = client.query(**request)
                    pages.append((answer["Items"], answer["Count"], answer["ScannedCount"]))
                    start = answer.get("LastEvaluatedKey")
                    if not start:
                        break
                answers.append(pages)
        # the base table's own range key
        answer = client.query(
            TableName=table,
            KeyConditionExpression="pk = :p AND sk BETWEEN :a AND :b",
            ExpressionAttributeValues={":p": {"S": "p"}, ":a": {"N": "10"}, ":b": {"N": "25"}},
            ProjectionExpression="sk",
        )
        answers.append((answer["Items"], answer["Count"]))
    return answers


def test_queries_read_only_their_key_range_and_answer_as_motos_own():
    """Narrowing a query to its key condition's range before moto walks the items
    changes no answer, page or count (index and base table, both directions, with and
    without Limit, paged by Limit and by size)."""
    with LocalStack(index_lag=0) as local:
        client = local.client("dynamodb")
        table = _ranged_table(client)
        ours = _ranged_answers(client, table)
        index_reads.key_ranges.enabled = False
        try:
            theirs = _ranged_answers(client, table)
        finally:
            index_reads.key_ranges.enabled = True
    assert ours == theirs
    between = ours[0][0][0]  # BETWEEN, forward, one page: in index order (due, then sk)
    due = {n: f"2026-01-{1 + n % 28:02d}" for n in range(1, 60, 2) if n % 7}
    wanted = [n for n in due if "2026-01-05" <= due[n] <= "2026-01-12"]
    assert [int(i["sk"]["N"]) for i in between] == sorted(wanted, key=lambda n: (due[n], n))


def test_a_key_range_query_sizes_only_the_items_in_its_range(monkeypatch):
    """What the seam is for: moto sized every item of the index value against the 1 MB
    page limit before applying the range; now only the items in the range are sized."""
    from moto.dynamodb.models.dynamo_type import Item

    with LocalStack(index_lag=0) as local:
        client = local.client("dynamodb")
        table = _ranged_table(client)
        sized = []
        size = Item.size
        monkeypatch.setattr(Item, "size", lambda item: sized.append(item) or size(item))
        answer = client.query(
            TableName=table,
            IndexName="by_due",
            KeyConditionExpression="shard = :s AND due = :a",
            ExpressionAttributeValues={":s": {"S": "s0"}, ":a": {"S": "2026-01-03"}},
        )
    assert answer["Count"] == 3  # sk 2, 30 and 58
    assert sized and {item.attrs["due"].value for item in sized} == {"2026-01-03"}


# ------------------------------------------------------------- Task and Map states
def _machine(table: str, concurrency: int) -> str:
    read = {
        "Type": "Task",
        "Resource": "arn:aws:states:::dynamodb:getItem",
        "Parameters": {"TableName": table, "Key": {"code": {"S.$": "$.code"}}},
        "ResultSelector": {"found.$": "$.Item.code.S"},
        "End": True,
    }
    return json.dumps(
        {
            "StartAt": "Look",
            "States": {
                "Look": {  # fails: retried twice, then caught
                    "Type": "Task",
                    "Resource": "arn:aws:states:::dynamodb:getItem",
                    "Parameters": {"TableName": "no-such-table", "Key": {"code": {"S": "x"}}},
                    "Retry": [{"ErrorEquals": ["States.ALL"], "MaxAttempts": 2}],
                    "Catch": [
                        {"ErrorEquals": ["States.ALL"], "ResultPath": "$.error", "Next": "Each"}
                    ],
                    "Next": "Each",
                },
                "Each": {
                    "Type": "Map",
                    "ItemsPath": "$.items",
                    "MaxConcurrency": concurrency,
                    "ItemProcessor": {
                        "ProcessorConfig": {"Mode": "INLINE"},
                        "StartAt": "Which",
                        "States": {
                            "Which": {
                                "Type": "Choice",
                                "Choices": [
                                    {"Variable": "$.code", "StringEquals": "bad", "Next": "Bad"}
                                ],
                                "Default": "Read",
                            },
                            "Bad": {"Type": "Fail", "Error": "Item.Bad", "Cause": "a bad item"},
                            "Read": read,
                        },
                    },
                    "ResultPath": "$.found",
                    "Catch": [
                        {"ErrorEquals": ["Item.Bad"], "ResultPath": "$.failed", "Next": "Done"}
                    ],
                    "Next": "Done",
                },
                "Done": {"Type": "Succeed"},
            },
        }
    )


def _run(stack, name: str, definition: str, items: list[str]) -> tuple[dict, list]:
    sfn = stack.client("stepfunctions")
    arn = sfn.create_state_machine(
        name=name, definition=definition, roleArn="arn:aws:iam::123456789012:role/parity"
    )["stateMachineArn"]
    execution = sfn.start_execution(
        stateMachineArn=arn, name="run", input=json.dumps({"items": [{"code": c} for c in items]})
    )["executionArn"]
    stack.clock.wait_idle()
    described = sfn.describe_execution(executionArn=execution)
    outcome = {k: described.get(k) for k in ("status", "output", "error", "cause")}
    events = sfn.get_execution_history(executionArn=execution, maxResults=1000)["events"]
    for event in events:
        event.pop("timestamp")
    # Request ids are unique per call: the same answer has another one each run.
    same = re.sub(r"memberflow-local-\d+", "memberflow-local-N", json.dumps([outcome, events]))
    return tuple(json.loads(same))


@pytest.mark.parametrize("items", [["C1", "C2", "C3"], ["C1", "bad", "C3"]])
def test_tasks_and_maps_without_threads_run_as_motos_own(stack, items, monkeypatch):
    """Retries, a catch, Map iterations (one failing) and the history, event by event:
    the same as moto's thread per task and per worker (MaxConcurrency 1: one order)."""
    table = stack.physical["CouponsTable"]["Ref"]
    client = stack.client("dynamodb")
    for code in ("C1", "C2", "C3"):
        client.put_item(TableName=table, Item={"code": {"S": code}})
    started = {"threads": 0}
    original_start = threading.Thread.start

    def start(thread):
        started["threads"] += 1
        return original_start(thread)

    results, threads = {}, {}
    for mode, concurrency in (("ours", 1), ("ours40", 40), ("moto", 1), ("moto40", 40)):
        definition = _machine(table, concurrency)
        started["threads"] = 0
        monkeypatch.setattr(threading.Thread, "start", start)
        try:
            if mode.startswith("moto"):
                with asl.motos_own_states():
                    results[mode] = _run(stack, f"parity-{mode}", definition, items)
            else:
                results[mode] = _run(stack, f"parity-{mode}", definition, items)
        finally:
            monkeypatch.setattr(threading.Thread, "start", original_start)
        threads[mode] = started["threads"]
    assert results["ours"] == results["moto"]
    ours40, moto40 = results["ours40"], results["moto40"]
    assert ours40[0] == moto40[0]
    ours_types = Counter(e["type"] for e in ours40[1])
    moto_types = Counter(e["type"] for e in moto40[1])
    if "bad" in items:  # moto's concurrent iterations may run past the failing one
        assert ours_types <= moto_types
    else:
        assert ours_types == moto_types
    assert ours40 == results["ours"]  # locally one iteration at a time, whatever the cap
    outcome, events = results["ours"]
    types = [e["type"] for e in events]
    assert types.count("TaskFailed") == 3  # the first try and two retries, then the catch
    if "bad" in items:
        assert "MapIterationFailed" in types and json.loads(outcome["output"])["failed"]
    else:
        assert json.loads(outcome["output"])["found"] == [{"found": c} for c in items]
    assert outcome["status"] == "SUCCEEDED"
    # One thread: the execution's. moto's: one more per task try, per Map worker, per Map.
    assert threads["ours"] == threads["ours40"] == 1
    assert threads["moto40"] > threads["moto"] > 5


def test_a_task_with_a_timeout_keeps_its_own_thread_and_times_out(stack, monkeypatch):
    """TimeoutSeconds needs moto's thread (the caller stops waiting): kept, and a task
    that overruns fails States.Timeout and is caught, with the seam as without."""
    import time

    def slow(logical_id, payload):
        time.sleep(1.5)
        return {}

    monkeypatch.setattr(stack, "invoke", slow)
    function = stack.physical["ReportFunction"]["Arn"]
    definition = json.dumps(
        {
            "StartAt": "Slow",
            "States": {
                "Slow": {
                    "Type": "Task",
                    "Resource": "arn:aws:states:::lambda:invoke",
                    "Parameters": {"FunctionName": function, "Payload": {}},
                    "TimeoutSeconds": 1,
                    "Catch": [{"ErrorEquals": ["States.Timeout"], "Next": "TimedOut"}],
                    "End": True,
                },
                "TimedOut": {"Type": "Pass", "End": True},
            },
        }
    )
    ours = _run(stack, "timeout-ours", definition, [])
    with asl.motos_own_states():
        theirs = _run(stack, "timeout-moto", definition, [])
    assert ours == theirs
    assert ours[0]["status"] == "SUCCEEDED"
    assert "TaskTimedOut" in [e["type"] for e in ours[1]]


def test_the_moto_code_the_fast_paths_stand_in_for_is_unchanged():
    """Fails loudly when a moto upgrade changes the code a fast path replaces or relies
    on (moto is pinned; see docs/local-stack.md)."""
    import inspect

    from moto.dynamodb import responses
    from moto.dynamodb.parsing import validators
    from moto.stepfunctions.parser.asl.component.program.program import Program
    from moto.stepfunctions.parser.asl.component.state.exec import execute_state
    from moto.stepfunctions.parser.asl.component.state.exec.state_map.iteration import (
        inline_iteration_component,
        iteration_worker,
    )

    asl.install()  # idempotent: what LocalStack.start() installs
    source = inspect.getsource
    pool = source(iteration_worker.IterationWorker._memberflow_original)
    assert "self._eval_pool(job=next_job, worker_frame=worker_frame)" in pool
    assert pool.count("self._env.close_frame(worker_frame)") == 3
    timeout = source(execute_state.ExecutionState._memberflow_original)
    assert "Thread(target=_exec_and_notify, daemon=True)" in timeout
    assert "terminated_event.wait(timeout_seconds)" in timeout
    program = source(Program._memberflow_original)
    assert "worker_thread.join(timeout=timeout)" in program
    assert "threading.Thread(target=super().eval, args=(env,), daemon=True)" in program
    launch = source(inline_iteration_component.InlineIterationComponent._memberflow_original)
    assert "threading.Thread(target=worker.eval, daemon=True)" in launch
    assert "self.node_to_validate = deepcopy(expression)" in source(validators.Validator)
    query = source(responses.DynamoHandler.query)
    assert "= parse_expression(\n                key_condition_expression=" in query
    assert "parser.expr_attr_names_found" in source(responses.DynamoHandler.put_item)
    # conditions.py: values are read at parse time only through their operand's type
    from moto.dynamodb import comparisons

    operand = source(comparisons.ConditionExpressionParser._make_operand)
    assert "return AttributeValue(node.value)" in operand
    value = source(comparisons.AttributeValue.__init__)
    assert "self.type = list(value.keys())[0]" in value and "self.value = value[self.type]" in value
    assert 'if bound.get_type(None) == "NULL":' in source(comparisons.FuncBetween.__init__)
