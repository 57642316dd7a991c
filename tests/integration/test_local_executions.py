"""Parity of ``memberflow_local/executions.py`` with moto's own execution-name check:
the same starts give the same executions and the same refusals, both ways."""

from __future__ import annotations

import json

from botocore.exceptions import ClientError

from memberflow_local import executions

WAIT = {"StartAt": "Wait", "States": {"Wait": {"Type": "Wait", "Seconds": 60, "End": True}}}


def _starts(stack, machine_name: str) -> list:
    sfn = stack.client("stepfunctions")
    machine = sfn.create_state_machine(
        name=machine_name,
        roleArn="arn:aws:iam::123456789012:role/probe",
        definition=json.dumps(WAIT),
    )["stateMachineArn"]

    def start(name: str, payload: str):
        try:
            arn = sfn.start_execution(stateMachineArn=machine, name=name, input=payload)
            return arn["executionArn"].rsplit(":", 1)[1]
        except ClientError as refused:
            return refused.response["Error"]["Code"]

    outcomes = [start(f"cohort-{n}", json.dumps({"n": n})) for n in range(30)]
    outcomes.append(start("cohort-7", '{"n": 7}'))  # same name and input, running: same one
    outcomes.append(start("cohort-7", '{"n": 8}'))  # same name, other input: refused
    outcomes.append(start("cohort-30", '{"n": 30}'))
    stack.clock.wait_idle()
    stack.advance(seconds=61)
    stack.clock.wait_idle()
    outcomes.append(start("cohort-7", '{"n": 7}'))  # finished: its name is taken for good
    outcomes.append(start("cohort-31", '{"n": 31}'))
    statuses = [e["status"] for e in sfn.list_executions(stateMachineArn=machine)["executions"]]
    return outcomes + sorted(statuses)


def test_execution_names_are_checked_as_motos_own_walk_checks_them(stack):
    ours = _starts(stack, "names-ours")
    with executions.motos_own_name_check():
        theirs = _starts(stack, "names-theirs")
    assert ours == theirs
    assert ours[30] == "cohort-7" and ours[31] == "ExecutionAlreadyExists"
    assert ours[33] == "ExecutionAlreadyExists" and ours[34] == "cohort-31"
