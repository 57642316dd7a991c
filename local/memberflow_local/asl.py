"""Two costs of moto's ASL engine that the local stack removes (moto 5.2.5 seams,
checked by tests/integration/test_local_stack.py).

1. Every execution re-parses its state machine definition with ANTLR (about 60 ms a
   journey on these machines, a fifth of a simulation's CPU). The parse tree depends
   only on the definition, so it is kept; each execution still gets fresh evaluation
   components from moto's own preprocessor, so executions share no state.
   Seam: ``AmazonStateLanguageParser.parse`` (static, returns (program, tree)).
2. Every Lambda task builds a new boto3 client (about 10 ms). Clients are thread-safe
   and moto's version ignores the execution's credentials, so one per region and
   service serves every execution. Seam: ``lambda_eval_utils.boto_client_for``.
3. Every JSONPath (InputPath, ResultPath, Parameters' ``.$`` fields) is compiled by
   jsonpath_ng, which builds its yacc parser each time. A compiled path is only read
   by ``find``, so one per path text serves all. Seams: ``parse`` as imported by
   ``asl.utils.json_path`` and ``component.common.path.result_path``.

And one quota moto does not enforce: an execution's history holds at most 25,000
events; AWS fails the execution that would add more (``States.Runtime``), and Catch
cannot stop it. Seam: ``EventManager.add_event`` (the execution's one event list;
inline Map iterations write to it too, as they count in AWS). The 256 KB state
input/output quota moto enforces itself (``States.DataLimitExceeded``).
"""

from __future__ import annotations

import threading

HISTORY_EVENTS_MAX = 25_000
# The events that end an execution are still recorded after the limit (so it can fail).
_TERMINAL = {"ExecutionFailed", "ExecutionAborted", "ExecutionTimedOut", "ExecutionSucceeded"}
_history = {"limit": HISTORY_EVENTS_MAX}
_trees: dict[str, object] = {}
_clients: dict[tuple[str, str], object] = {}
_lock = threading.Lock()


def install() -> None:
    from moto.stepfunctions.parser.asl.component.state.exec.state_task import (
        lambda_eval_utils,
    )
    from moto.stepfunctions.parser.asl.parse import asl_parser

    parser = asl_parser.AmazonStateLanguageParser
    if getattr(parser, "_memberflow_original", None) is None:
        original_parse = parser.parse

        def parse(definition: str):
            tree = _trees.get(definition)
            if tree is None:
                program, tree = original_parse(definition)
                _trees[definition] = tree
                return program, tree
            return asl_parser.Preprocessor().visit(tree), tree

        parser._memberflow_original = original_parse
        parser.parse = staticmethod(parse)

    if getattr(lambda_eval_utils, "_memberflow_original", None) is None:
        original_client = lambda_eval_utils.boto_client_for

        def boto_client_for(region, service, state_credentials=None):
            key = (region, service)
            with _lock:
                if key not in _clients:
                    _clients[key] = original_client(region, service)
                return _clients[key]

        lambda_eval_utils._memberflow_original = original_client
        lambda_eval_utils.boto_client_for = boto_client_for

    _limit_history()
    from moto.stepfunctions.parser.asl.component.common.path import result_path
    from moto.stepfunctions.parser.asl.utils import json_path

    for module in (json_path, result_path):
        if not hasattr(module.parse, "_memberflow_original"):
            module.parse = _cached(module.parse)


def history_limit(events: int) -> None:
    """The history quota (25,000 in AWS; tests may pass a smaller one)."""
    if events < 1:
        raise ValueError("history_limit must be >= 1 event")
    _history["limit"] = events


def history_error(limit: int) -> tuple[str, str]:
    return (
        "States.Runtime",
        f"The execution reached the maximum number of history events ({limit}).",
    )


def _limit_history() -> None:
    from moto.stepfunctions.parser.asl.eval.event import event_manager

    manager = event_manager.EventManager
    if getattr(manager, "_memberflow_original", None) is not None:
        return
    original = manager.add_event

    def add_event(self, context, event_type, *args, **kwargs):  # seam: EventManager.add_event
        limit = _history["limit"]
        kind = getattr(event_type, "value", str(event_type))
        if len(self._history_event_list) >= limit and kind not in _TERMINAL:
            # Every further event fails too, so neither Retry nor Catch gets past it.
            self._memberflow_history_full = limit
            raise HistoryLimitExceeded(limit)
        return original(self, context, event_type, *args, **kwargs)

    manager._memberflow_original = original
    manager.add_event = add_event

    from moto.stepfunctions.parser.api import ExecutionFailedEventDetails
    from moto.stepfunctions.parser.asl.eval.environment import Environment

    original_set_error = Environment.set_error

    def set_error(self, error):  # seam: Environment.set_error
        full = getattr(self.event_manager, "_memberflow_history_full", None)
        if full is not None:  # whatever state noticed it, the execution fails as AWS's does
            code, cause = history_error(full)
            error = ExecutionFailedEventDetails(error=code, cause=cause)
        return original_set_error(self, error)

    Environment.set_error = set_error


class HistoryLimitExceeded(Exception):
    def __init__(self, limit: int):
        self.limit = limit
        super().__init__(history_error(limit)[1])


def _cached(parse):
    compiled: dict[str, object] = {}

    def cached_parse(path: str):
        expression = compiled.get(path)
        if expression is None:
            expression = compiled[path] = parse(path)
        return expression

    cached_parse._memberflow_original = parse
    return cached_parse


def reset() -> None:
    """Clients belong to one mock; the next stack builds its own."""
    with _lock:
        _clients.clear()
