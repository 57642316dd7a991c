"""The local stack's fast paths of issue 13, switched off together: moto's own code
paths (parity tests and ``bench/local_stack.py`` compare the two in one process).

- expressions parsed once (``expressions.py``);
- index queries through per-index key maps (``dynamodb.IndexKeys``), off: every item
  of the table is read, as before;
- queries narrowed to their key condition's range before moto sizes each item
  (``dynamodb.KeyRanges``);
- data-plane answers handed to botocore as moto's dicts (``dynamodb.WireAnswers``);
- scans that copy and convert only what they return (``scans.py``);
- Task, Map and program evaluation without a thread each (``asl.py``);
- the garbage collector's start-up freeze (``stack._collect_less``).
"""

from __future__ import annotations

import contextlib

from memberflow_local import asl, dynamodb, expressions, scans, stack


@contextlib.contextmanager
def motos_own_paths():
    """Run the block on moto's own paths (and the stack's previous ones)."""
    before = (
        dynamodb.index_keys.enabled,
        dynamodb.key_ranges.enabled,
        dynamodb.wire_answers.enabled,
        stack.COLLECT_LESS["enabled"],
    )
    dynamodb.index_keys.enabled = dynamodb.key_ranges.enabled = False
    dynamodb.wire_answers.enabled = False
    stack.COLLECT_LESS["enabled"] = False
    try:
        with (
            expressions.motos_own_expressions(),
            scans.motos_own_scans(),
            asl.motos_own_states(),
        ):
            yield
    finally:
        (
            dynamodb.index_keys.enabled,
            dynamodb.key_ranges.enabled,
            dynamodb.wire_answers.enabled,
            stack.COLLECT_LESS["enabled"],
        ) = before
