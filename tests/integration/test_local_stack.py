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

    source = inspect.getsource(models.DynamoDBBackend.transact_write_items)
    assert "copy.deepcopy(" in source and "self.tables[table_name] = original_table_state" in source
    import moto

    assert moto.__version__ == "5.2.5", "moto is pinned: re-check the seams before moving it"


def test_everything_the_template_declares_exists_on_moto(stack):
    tables = set(stack.client("dynamodb").list_tables()["TableNames"])
    assert {f"memberflow-local-{t}" for t in stack.template.tables} <= tables
    functions = {f["FunctionName"] for f in stack.client("lambda").list_functions()["Functions"]}
    assert {f"memberflow-local-{f}" for f in stack.functions} <= functions
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
    stack.advance(days=3)  # from 08:00 on day 0: 02:00 on days 1, 2 and 3
    assert stack.invocations["SweepFunction"] - before == 3


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
