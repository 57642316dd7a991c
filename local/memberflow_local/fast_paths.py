"""The local stack's fast paths of issue 13, switched off together: moto's own code
paths (parity tests and ``bench/local_stack.py`` compare the two in one process).

- expressions parsed once (``expressions.py``);
- index queries through per-index key maps (``index_reads.IndexKeys``), off: every item
  of the table is read, as before;
- queries narrowed to their key condition's range before moto sizes each item
  (``index_reads.KeyRanges``);
- data-plane answers handed to botocore as moto's dicts (``lane.WireAnswers``);
- scans that copy and convert only what they return, item sizes kept until the item
  changes (``scans.py``);
- items' JSON built without deep copies (``item_json.py``);
- conditions parsed once per shape, update walks without per-node overhead
  (``conditions.py``, ``traversal.py``, switched with ``expressions.py``);
- Task, Map and program evaluation without a thread each (``asl.py``);
- execution names checked through an index (``executions.py``);
- the garbage collector's start-up freeze (``stack._collect_less``);
- SES SendEmail and SNS Publish through moto's handler in process (``provider_lane.py``).
"""

from __future__ import annotations

import contextlib

from memberflow_local import (
    asl,
    executions,
    expressions,
    index_reads,
    item_json,
    lane,
    provider_lane,
    scans,
    stack,
)


@contextlib.contextmanager
def motos_own_paths():
    """Run the block on moto's own paths (and the stack's previous ones)."""
    before = (
        index_reads.index_keys.enabled,
        index_reads.key_ranges.enabled,
        lane.wire_answers.enabled,
        stack.COLLECT_LESS["enabled"],
    )
    index_reads.index_keys.enabled = index_reads.key_ranges.enabled = False
    lane.wire_answers.enabled = False
    stack.COLLECT_LESS["enabled"] = False
    try:
        with (
            expressions.motos_own_expressions(),
            scans.motos_own_scans(),
            asl.motos_own_states(),
            executions.motos_own_name_check(),
            item_json.motos_own_item_json(),
            provider_lane.motos_own_provider_calls(),
        ):
            yield
    finally:
        (
            index_reads.index_keys.enabled,
            index_reads.key_ranges.enabled,
            lane.wire_answers.enabled,
            stack.COLLECT_LESS["enabled"],
        ) = before
