"""Two costs of moto's ASL engine that the local stack removes (moto 5.2.5 seams,
checked by tests/integration/test_local_stack.py).

1. Every execution re-parses its state machine definition with ANTLR (about 60 ms a
   journey on these machines, a fifth of a simulation's CPU), then builds its
   evaluation components from the tree (a tenth of a simulation's CPU). Both depend
   only on the definition, so both are kept. The components are read-only once built:
   moto keeps an execution's state in its ``Environment`` and already evaluates one Map
   state's iteration program for every item, concurrently; the one value a component
   sets on itself later, its ``heap_key``, is set before the program is shared.
   (With ``motos_own_states`` each execution gets fresh components, as moto builds them.)
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

import contextlib
import threading

HISTORY_EVENTS_MAX = 25_000
# The events that end an execution are still recorded after the limit (so it can fail).
_TERMINAL = {"ExecutionFailed", "ExecutionAborted", "ExecutionTimedOut", "ExecutionSucceeded"}
_history = {"limit": HISTORY_EVENTS_MAX}
_trees: dict[str, object] = {}
_programs: dict[str, object] = {}
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
            shared = _inline["enabled"]
            if shared and definition in _programs:
                return _programs[definition], _trees[definition]
            tree = _trees.get(definition)
            if tree is None:
                program, tree = original_parse(definition)
                _trees[definition] = tree
            else:
                program = asl_parser.Preprocessor().visit(tree)
            if shared:
                _programs[definition] = _settled(program)
            return program, tree

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
    _install_inline_states()
    from memberflow_local import executions

    executions.install()
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


def _settled(program):
    """Give every component of ``program`` its ``heap_key`` now (moto sets it lazily, so
    two executions sharing the program could otherwise race to set different keys)."""
    from moto.stepfunctions.parser.asl.component.eval_component import EvalComponent

    seen: set[int] = set()
    pending = [program]
    while pending:
        value = pending.pop()
        if id(value) in seen:
            continue
        seen.add(id(value))
        if isinstance(value, EvalComponent):
            _ = value.heap_key
        if isinstance(value, (list, tuple)):
            pending.extend(value)
        elif isinstance(value, dict):
            pending.extend(value.values())
        elif hasattr(value, "__dict__") and type(value).__module__.startswith("moto."):
            pending.extend(vars(value).values())
    return program


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


# ------------------------------------------------------------ tasks and maps inline
# moto evaluates every Task (and Map) state on a thread of its own, only so that the
# calling thread can stop waiting after the state's TimeoutSeconds; and every inline
# Map starts a thread per worker (MaxConcurrency of them, or one per item). A 600 x 60
# demo started 66,000 threads, each fighting for the GIL. Here:
# - a state whose timeout is moto's default (no TimeoutSeconds, TimeoutSecondsPath or
#   HeartbeatSeconds: 99,999,999 s, which nothing reaches) runs on the thread that
#   evaluates it; one with a timeout still gets moto's thread, so it times out as in
#   AWS. Seams: ``ExecutionState._evaluate_with_timeout`` and the ``Thread`` it uses
#   (module ``execute_state``).
# - an inline Map's workers run one after another on the Map's thread: the first takes
#   the items in order, one at a time, the others find the pool empty. One at a time is
#   within every MaxConcurrency; the history holds the same events, iteration by
#   iteration, as moto's with MaxConcurrency 1. (Iterations do not overlap locally: a
#   failing iteration stops the Map before the next one starts.) Seams:
#   ``InlineIterationComponent._launch_worker``; ``IterationWorker._eval_pool``, moto's
#   one-call-per-item recursion written as the same steps in a loop, so a Map of
#   thousands of items does not reach Python's recursion limit on one thread.
#   Distributed Map workers (their own ``_eval_pool``) keep moto's threads.
# - a program (the execution's, and each Map iteration's) without TimeoutSeconds runs
#   on its caller's thread; moto starts one and joins it with no timeout. Seam:
#   ``Program.eval``.
# - ``moto.stepfunctions.parser.utils.TMP_THREADS``, a module list every thread moto
#   starts is appended to and never removed from, is pruned of finished threads.
_threads = threading.local()
_inline = {"enabled": True}


def _runs_inline(state) -> bool:
    from moto.stepfunctions.parser.asl.component.common.timeouts.timeout import TimeoutSeconds

    timeout = state.timeout
    return (
        _inline["enabled"]
        and state.heartbeat is None
        and type(timeout) is TimeoutSeconds
        and timeout.timeout_seconds == TimeoutSeconds.DEFAULT_TIMEOUT_SECONDS
    )


class _InlineThread:
    """What ``execute_state`` starts for a state without a timeout: runs it at once."""

    def __init__(self, target):
        self._target = target

    def start(self) -> None:
        self._target()

    def is_alive(self) -> bool:
        return False


def _task_thread(*args, **kwargs):
    if getattr(_threads, "inline", False):
        _threads.inline = False
        return _InlineThread(kwargs.get("target", args[0] if args else None))
    return threading.Thread(*args, **kwargs)


def _eval_pool(self, job, worker_frame) -> None:
    """moto 5.2.5's ``IterationWorker._eval_pool``, its tail call as a loop."""
    while True:
        if job is None:
            self._env.close_frame(worker_frame)
            return
        job_frame = worker_frame.open_inner_frame()
        self._eval_job(env=job_frame, job=job)
        worker_frame.close_frame(job_frame)
        if isinstance(job.job_output, Exception) or self.stopped():
            self._env.close_frame(worker_frame)
            self._job_pool.close_job(job)
            return
        next_job = self._job_pool.next_job()
        if next_job is None:
            worker_frame.event_history_context.source_event_id = (
                job_frame.event_history_context.last_published_event_id
            )
            self._env.close_frame(worker_frame)
            self._job_pool.close_job(job)
            return
        self._job_pool.close_job(job)
        job = next_job


def _prune_threads() -> None:
    from moto.stepfunctions.parser.utils import TMP_THREADS

    if len(TMP_THREADS) > 256:
        TMP_THREADS[:] = [thread for thread in TMP_THREADS if thread.is_alive()]


def _install_inline_states() -> None:
    from moto.stepfunctions.parser.asl.component.state.exec import execute_state
    from moto.stepfunctions.parser.asl.component.state.exec.state_map.iteration import (
        inline_iteration_component,
        iteration_worker,
    )

    state = execute_state.ExecutionState
    if "_memberflow_original" in state.__dict__:
        return
    original_evaluate = state._evaluate_with_timeout

    def _evaluate_with_timeout(self, env):  # seam: ExecutionState._evaluate_with_timeout
        _threads.inline = _runs_inline(self)
        try:
            return original_evaluate(self, env)
        finally:
            _threads.inline = False
            _prune_threads()

    state._memberflow_original = original_evaluate
    state._evaluate_with_timeout = _evaluate_with_timeout
    execute_state._memberflow_thread = execute_state.Thread
    execute_state.Thread = _task_thread

    worker = iteration_worker.IterationWorker
    worker._memberflow_original = worker._eval_pool
    worker._eval_pool = _eval_pool

    component = inline_iteration_component.InlineIterationComponent
    original_launch = component._launch_worker

    def _launch_worker(self, env, eval_input, job_pool):  # seam: _launch_worker
        if not _inline["enabled"]:
            return original_launch(self, env, eval_input, job_pool)
        created = self._create_worker(env=env, eval_input=eval_input, job_pool=job_pool)
        if type(created)._eval_pool is _eval_pool:
            created.eval()
        else:  # a distributed Map's worker: on its thread, as moto's _launch_worker does
            from moto.stepfunctions.parser.utils import TMP_THREADS

            thread = threading.Thread(target=created.eval, daemon=True)
            TMP_THREADS.append(thread)
            thread.start()
        return created

    component._memberflow_original = original_launch
    component._launch_worker = _launch_worker

    from moto.stepfunctions.parser.asl.component.eval_component import EvalComponent
    from moto.stepfunctions.parser.asl.component.program.program import Program

    original_program_eval = Program.eval

    def eval_program(self, env):  # seam: Program.eval
        if not _inline["enabled"] or self.timeout_seconds is not None:
            return original_program_eval(self, env)
        # moto's: start a thread running EvalComponent.eval, join it with no timeout.
        env.next_state_name = self.start_at.start_at_name
        EvalComponent.eval(self, env)

    Program._memberflow_original = original_program_eval
    Program.eval = eval_program


@contextlib.contextmanager
def motos_own_states():
    """moto's own thread per Task and per Map worker for a while (parity tests, bench)."""
    before = _inline["enabled"]
    _inline["enabled"] = False
    try:
        yield
    finally:
        _inline["enabled"] = before
