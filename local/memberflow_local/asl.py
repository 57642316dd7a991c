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
"""

from __future__ import annotations

import threading

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

    from moto.stepfunctions.parser.asl.component.common.path import result_path
    from moto.stepfunctions.parser.asl.utils import json_path

    for module in (json_path, result_path):
        if not hasattr(module.parse, "_memberflow_original"):
            module.parse = _cached(module.parse)


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
