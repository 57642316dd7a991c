"""The embedded local stack: built from template.yaml, real handlers, virtual clock."""

import inspect
import json
from datetime import timedelta

import pytest

from memberflow import clock as memberflow_clock
from memberflow_local.clock import VirtualClock


def test_moto_seams_the_local_stack_relies_on_are_still_there():
    """Fails loudly when a moto upgrade moves a seam (pin moto; see docs/local-stack.md)."""
    from moto.awslambda_simple.models import LambdaSimpleBackend
    from moto.stepfunctions.parser.asl.component.state.wait.wait_function.wait_function import (
        WaitFunction,
    )
    from moto.stepfunctions.parser.backend.execution_worker import ExecutionWorker

    assert list(inspect.signature(LambdaSimpleBackend.invoke).parameters) == [
        "self",
        "function_name",
        "qualifier",
        "body",
        "headers",
        "response_headers",
    ]
    assert list(inspect.signature(WaitFunction._wait_interval).parameters) == [
        "self",
        "env",
        "wait_seconds",
    ]
    assert callable(ExecutionWorker._execution_logic) and callable(ExecutionWorker.start)
    from moto.stepfunctions.parser.asl.component.common.retry import retrier_decl

    assert "time.sleep(interval_seconds)" in inspect.getsource(retrier_decl.RetrierDecl)
    from moto.dynamodb import models
    from moto.dynamodb.responses import DynamoHandler

    # scans.py keeps projected answers: moto's Scan handler only converts them to wire dicts
    scan_answer = inspect.getsource(inspect.unwrap(DynamoHandler.scan))
    assert 'result["Items"] = [item.attrs for item in items]' in scan_answer
    source = inspect.getsource(models.DynamoDBBackend.transact_write_items)
    assert "copy.deepcopy(" in source and "self.tables[table_name] = original_table_state" in source
    from moto.dynamodb.models.table import Table

    query_parameters = list(inspect.signature(inspect.unwrap(Table.query)).parameters)
    assert query_parameters[:9] == [
        "self",
        "hash_key",
        "range_comparison",
        "range_objs",
        "limit",
        "exclusive_start_key",
        "scan_index_forward",
        "projection_expressions",
        "index_name",
    ]
    from moto.stepfunctions.parser.asl.parse.asl_parser import AmazonStateLanguageParser

    parse = getattr(
        AmazonStateLanguageParser, "_memberflow_original", AmazonStateLanguageParser.parse
    )
    assert "preprocessor.visit(tree)" in inspect.getsource(parse)
    import moto

    assert moto.__version__ == "5.2.5", "moto is pinned: re-check the seams before moving it"


def test_everything_the_template_declares_exists_on_moto(stack):
    tables = set(stack.client("dynamodb").list_tables()["TableNames"])
    assert {f"memberflow-local-{t}" for t in stack.template.tables} <= tables
    functions = {f["FunctionName"] for f in stack.client("lambda").list_functions()["Functions"]}
    assert {stack.physical[f]["Ref"] for f in stack.functions} <= functions  # FunctionName or
    assert "memberflow-local-WebhookFunction" in functions  # <stack>-<logical id>
    machines = {
        m["name"] for m in stack.client("stepfunctions").list_state_machines()["stateMachines"]
    }
    assert {stack.physical[k]["Name"] for k in stack.template.state_machines} <= machines
    schedules = {s["Name"] for s in stack.client("scheduler").list_schedules()["Schedules"]}
    assert {s.name for s in stack.template.schedules} <= schedules
    api_paths = {
        r["path"] for r in stack.client("apigateway").get_resources(restApiId=stack.api_id)["items"]
    }
    assert {r.path for r in stack.routes} <= api_paths


def test_every_handler_named_in_the_template_imports_and_runs(stack):
    for logical_id in stack.functions:
        assert callable(stack.handler(logical_id)), logical_id
    # And each runs on a real event shape of its own.
    assert stack.http("GET", "/members/mbr_missing").status == 404
    assert (
        stack.http(
            "POST", "/webhooks/events", body=b"{}", headers={"Content-Type": "application/json"}
        ).status
        == 401
    )
    assert stack.invoke("SweepFunction", {})["members_read"] == 0
    with pytest.raises(LookupError, match="cohort missing does not exist"):
        stack.invoke("JourneyStepFunction", {"action": "plan", "cohort_id": "missing"})


def test_handlers_read_the_virtual_clock(stack):
    before = memberflow_clock.now()
    assert before == stack.clock.now()
    stack.advance(hours=5)
    assert memberflow_clock.now() - before == timedelta(hours=5)


def test_wait_states_wait_on_the_virtual_clock_and_advance_returns_when_idle(stack):
    sfn = stack.client("stepfunctions")
    role = "arn:aws:iam::123456789012:role/x"
    definition = {
        "StartAt": "Wait",
        "States": {
            "Wait": {"Type": "Wait", "Seconds": 14 * 86400, "Next": "Done"},
            "Done": {"Type": "Succeed"},
        },
    }
    arn = sfn.create_state_machine(
        name="two-weeks", definition=json.dumps(definition), roleArn=role
    )["stateMachineArn"]
    execution = sfn.start_execution(stateMachineArn=arn, name="e1")["executionArn"]
    stack.clock.wait_idle()
    assert sfn.describe_execution(executionArn=execution)["status"] == "RUNNING"
    stack.advance(days=13)
    assert sfn.describe_execution(executionArn=execution)["status"] == "RUNNING"
    stack.advance(days=1)
    assert sfn.describe_execution(executionArn=execution)["status"] == "SUCCEEDED"


def test_scheduled_jobs_fire_as_the_clock_passes_them(stack):
    before = stack.invocations.get("SweepFunction", 0)
    # from 08:00 on day 0: 14:00 on days 0, 1 and 2, 02:00 on days 1, 2 and 3
    stack.advance(days=3)
    assert stack.invocations["SweepFunction"] - before == 6


def test_a_cancelled_transaction_changes_nothing_and_conditional_writes_are_atomic(stack):
    import threading

    client = stack.client("dynamodb")
    table = stack.physical["CouponsTable"]["Ref"]
    client.put_item(TableName=table, Item={"code": {"S": "A"}, "n": {"N": "1"}})
    try:
        client.transact_write_items(
            TransactItems=[
                {
                    "Update": {
                        "TableName": table,
                        "Key": {"code": {"S": "A"}},
                        "UpdateExpression": "SET n = :two",
                        "ExpressionAttributeValues": {":two": {"N": "2"}},
                    }
                },
                {
                    "Put": {
                        "TableName": table,
                        "Item": {"code": {"S": "B"}},
                        "ConditionExpression": "attribute_not_exists(code)",
                    }
                },
                {
                    "Put": {
                        "TableName": table,
                        "Item": {"code": {"S": "A2"}},
                        "ConditionExpression": "attribute_exists(code)",
                    }
                },
            ]
        )
    except client.exceptions.TransactionCanceledException:
        pass
    else:
        raise AssertionError("the transaction should have been cancelled")
    items = {i["code"]["S"]: i for i in client.scan(TableName=table)["Items"]}
    assert set(items) == {"A"} and items["A"]["n"]["N"] == "1"

    winners = []

    def claim(worker):
        try:
            client.put_item(
                TableName=table,
                Item={"code": {"S": "ONCE"}, "w": {"N": str(worker)}},
                ConditionExpression="attribute_not_exists(code)",
            )
            winners.append(worker)
        except client.exceptions.ConditionalCheckFailedException:
            pass

    threads = [threading.Thread(target=claim, args=(i,)) for i in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(winners) == 1


def test_virtual_clock_refuses_to_go_backwards():
    clock = VirtualClock(memberflow_clock.now())
    with pytest.raises(Exception, match="forward"):
        clock.advance(timedelta(seconds=-1))


# Requests that exercise the data-plane operations, their errors included.
def _dynamodb_requests(table: str) -> list[tuple[str, dict]]:
    key = {"code": {"S": "P1"}}
    return [
        (
            "PutItem",
            {"TableName": table, "Item": {**key, "n": {"N": "1"}, "b": {"B": b"\x00\xff"}}},
        ),
        ("GetItem", {"TableName": table, "Key": key}),
        (
            "UpdateItem",
            {
                "TableName": table,
                "Key": key,
                "UpdateExpression": "SET n = n + :one, tags = list_append(if_not_exists(tags, :e), :t)",
                "ExpressionAttributeValues": {
                    ":one": {"N": "1"},
                    ":e": {"L": []},
                    ":t": {"L": [{"S": "x"}]},
                },
                "ReturnValues": "ALL_NEW",
            },
        ),
        (
            "UpdateItem",
            {
                "TableName": table,
                "Key": {"code": {"S": "missing"}},
                "UpdateExpression": "SET n = :one",
                "ConditionExpression": "attribute_exists(code)",
                "ExpressionAttributeValues": {":one": {"N": "1"}},
            },
        ),
        (
            "Query",
            {
                "TableName": table,
                "KeyConditionExpression": "code = :c",
                "ExpressionAttributeValues": {":c": key["code"]},
            },
        ),
        ("Scan", {"TableName": table}),
        (
            "TransactWriteItems",
            {
                "TransactItems": [
                    {"Put": {"TableName": table, "Item": {"code": {"S": "P2"}}}},
                    {
                        "ConditionCheck": {
                            "TableName": table,
                            "Key": key,
                            "ConditionExpression": "n = :zero",
                            "ExpressionAttributeValues": {":zero": {"N": "0"}},
                        }
                    },
                ]
            },
        ),
        ("GetItem", {"TableName": "no-such-table", "Key": key}),
        ("DeleteItem", {"TableName": table, "Key": key, "ReturnValues": "ALL_OLD"}),
    ]


def _outcomes(client, requests):
    outcomes = []
    for operation, params in requests:
        method = client._make_api_call
        try:
            result = method(operation, params)
            result.pop("ResponseMetadata", None)
            outcomes.append(("ok", result))
        except client.exceptions.ClientError as error:
            response = dict(error.response)
            response.pop("ResponseMetadata", None)
            outcomes.append(("error", response))
    return outcomes


def test_the_dynamodb_fast_lane_answers_exactly_as_motos_http_path(stack):
    """Results, errors and modeled error fields (CancellationReasons) are the same."""
    from memberflow_local import lane

    table = stack.physical["CouponsTable"]["Ref"]
    client = stack.client("dynamodb")
    fast = _outcomes(client, _dynamodb_requests(table))
    lane.disable_fast_lane()
    try:
        slow = _outcomes(stack.client("dynamodb"), _dynamodb_requests(table))
    finally:
        lane.enable_fast_lane()
    assert fast == slow
    kinds = [kind for kind, _ in fast]
    assert kinds == ["ok", "ok", "ok", "error", "ok", "ok", "error", "error", "ok"]
    assert fast[6][1]["CancellationReasons"][1]["Code"] == "ConditionalCheckFailed"
    assert fast[1][1]["Item"]["b"] == {"B": b"\x00\xff"}


def test_queries_read_only_the_queried_partition_and_indexes_still_answer(stack):
    client = stack.client("dynamodb")
    table = stack.physical["EnrolmentsTable"]["Ref"]
    for member in ("m1", "m2", "m3"):
        for n in range(3):
            item = {"member_id": {"S": member}, "enrolment_key": {"S": f"e{n}"}}
            if n == 1:  # sparse index: only these carry the index key
                item["cohort_shard"] = {"S": "COHORT#c1#0"}
            client.put_item(TableName=table, Item=item)
    result = client.query(
        TableName=table,
        KeyConditionExpression="member_id = :m AND enrolment_key > :k",
        ExpressionAttributeValues={":m": {"S": "m2"}, ":k": {"S": "e0"}},
        ScanIndexForward=False,
    )
    assert [i["enrolment_key"]["S"] for i in result["Items"]] == ["e2", "e1"]
    assert (
        client.query(
            TableName=table,
            KeyConditionExpression="member_id = :m",
            ExpressionAttributeValues={":m": {"S": "nobody"}},
        )["Items"]
        == []
    )
    stack.advance(seconds=stack.index_lag)  # the index is eventually consistent
    pages = client.get_paginator("query").paginate(
        TableName=table,
        IndexName="by_cohort_shard",
        KeyConditionExpression="cohort_shard = :s",
        ExpressionAttributeValues={":s": {"S": "COHORT#c1#0"}},
        Limit=2,
    )
    members = [i["member_id"]["S"] for page in pages for i in page["Items"]]
    assert members == ["m1", "m2", "m3"]


def test_state_machine_parses_are_shared_but_executions_are_not(stack):
    from moto.stepfunctions.parser.asl.parse.asl_parser import AmazonStateLanguageParser

    from memberflow_local import asl

    definition = json.dumps(
        {
            "StartAt": "Each",
            "States": {
                "Each": {
                    "Type": "Map",
                    "ItemsPath": "$.items",
                    "ItemProcessor": {
                        "StartAt": "Double",
                        "States": {
                            "Double": {
                                "Type": "Pass",
                                "Parameters": {"id.$": "$.id", "tag.$": "$.tag"},
                                "End": True,
                            }
                        },
                    },
                    "ItemSelector": {"id.$": "$$.Map.Item.Value", "tag.$": "$.tag"},
                    "End": True,
                }
            },
        }
    )
    first, tree = AmazonStateLanguageParser.parse(definition)
    second, same_tree = AmazonStateLanguageParser.parse(definition)
    assert same_tree is tree and second is first  # components built once, then shared
    with asl.motos_own_states():
        assert AmazonStateLanguageParser.parse(definition)[0] is not first
    # Executions of the shared components share no state: each gets its own answer.
    sfn = stack.client("stepfunctions")
    machine = sfn.create_state_machine(
        name="shared-program",
        definition=definition,
        roleArn="arn:aws:iam::123456789012:role/parity",
    )["stateMachineArn"]
    runs = {
        tag: sfn.start_execution(
            stateMachineArn=machine,
            name=f"run-{tag}",
            input=json.dumps({"tag": tag, "items": [f"{tag}{n}" for n in range(5)]}),
        )["executionArn"]
        for tag in ("a", "b", "c")
    }
    stack.clock.wait_idle()
    for tag, arn in runs.items():
        run = sfn.describe_execution(executionArn=arn)
        assert run["status"] == "SUCCEEDED"
        assert json.loads(run["output"]) == [{"id": f"{tag}{n}", "tag": tag} for n in range(5)]


def test_what_survives_a_full_collection_is_frozen_until_the_stack_stops():
    """The stack's state outlives every collection: frozen after each full collection
    (the next one walks only what is newer); stop() hands everything back to the
    collector and removes the hook."""
    import gc

    from memberflow_local import stack as stack_module
    from memberflow_local.stack import LocalStack

    with LocalStack() as local:
        local.client("dynamodb")  # the running stack builds more
        gc.disable()  # no automatic collection may freeze them before the count is read
        try:
            survivors = [object() for _ in range(1000)]  # noqa: F841 - alive through it
            before = gc.get_freeze_count()
            gc.collect()  # a full collection: its survivors are frozen
            assert gc.get_freeze_count() > before
        finally:
            gc.enable()
        assert stack_module._freeze_survivors in gc.callbacks
    assert stack_module._freeze_survivors not in gc.callbacks
    assert gc.get_freeze_count() == 0
