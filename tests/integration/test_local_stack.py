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
    assert "swept" in stack.invoke("SweepFunction", {})
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


def test_virtual_clock_refuses_to_go_backwards():
    clock = VirtualClock(memberflow_clock.now())
    with pytest.raises(Exception, match="forward"):
        clock.advance(timedelta(seconds=-1))
