"""Step Functions' execution-name check through an index instead of a walk.

moto checks a new execution's name (``StateMachine._handle_name_input_idempotency``:
the same name and input while it runs is the same execution, any other reuse of the
name is ``ExecutionAlreadyExists``) by walking every execution the state machine ever
ran. memberflow runs one journey state machine for every cohort, so each start walked
all the starts before it: at the demo's full size that walk was 1.4 % of the run.
Here each state machine keeps a name -> execution index, filled from its executions
list as it grows (moto only appends to it), and answers exactly as moto's walk does.

Parity: ``tests/integration/test_local_executions.py``.
"""

from __future__ import annotations

import functools

from memberflow_local.expressions import switched_off

_on = {"enabled": True}
_INDEX = "_memberflow_names"


class _Names:
    """A state machine's executions by name, as far as its list has been read. moto
    copies state machines (``copy.deepcopy``) without their executions: a copy starts
    with an empty index of its own."""

    def __init__(self):
        self.list_id, self.seen, self.by_name = None, 0, {}

    def __deepcopy__(self, memo):
        return _Names()


def _first_named(state_machine, name: str):
    executions = state_machine.executions
    names = state_machine.__dict__.get(_INDEX)
    if names is None:
        names = state_machine.__dict__[_INDEX] = _Names()
    if names.list_id != id(executions) or names.seen > len(executions):
        names.list_id, names.seen, names.by_name = id(executions), 0, {}
    for execution in executions[names.seen :]:
        names.by_name.setdefault(execution.name, execution)  # the walk finds the first
    names.seen = len(executions)
    return names.by_name.get(name)


def install() -> None:
    from moto.stepfunctions.exceptions import ExecutionAlreadyExists
    from moto.stepfunctions.models import StateMachine

    if getattr(StateMachine, "_memberflow_name_check", None) is not None:
        return
    original = StateMachine._handle_name_input_idempotency

    @functools.wraps(original)
    def check(self, name: str, execution_input: str):
        if not _on["enabled"]:
            return original(self, name, execution_input)
        execution = _first_named(self, name)
        if execution is None:
            return None
        if execution_input == execution.execution_input and execution.status == "RUNNING":
            return execution
        raise ExecutionAlreadyExists("Execution Already Exists: '" + execution.execution_arn + "'")

    StateMachine._memberflow_name_check = original
    StateMachine._handle_name_input_idempotency = check


def motos_own_name_check():
    """moto's own walk over every execution for a while (parity tests, bench)."""
    return switched_off(_on)
