"""Fixes to moto's DynamoDB emulation that the local stack relies on, installed here.

1. Atomic writes. DynamoDB applies a conditional write or a transaction atomically;
   moto checks the condition and then writes, so two threads can both pass. Every
   write operation of the backend is serialised behind one lock (``tables.write_lock``).
2. Transactions that cost O(items touched). moto backs up *whole tables* with
   ``copy.deepcopy`` before every ``TransactWriteItems`` (seconds per call once a table
   holds a few thousand items). Here only the items the transaction names are saved,
   and restored if it is cancelled.
3. Fast responses (``lane.fast_serialized``): data-plane results are already
   wire-format dicts, so they are written with ``json.dumps`` instead of moto's
   shape-walking serialiser (a test checks both paths give the same body).
4. Eventually consistent global secondary indexes (``tables.IndexLag``): every write
   records the item as it was; index reads (``index_reads``) see that image until the
   lag has passed on the virtual clock.

The rest lives beside it: ``tables`` (the lock, items, backends, index lag),
``index_reads`` (index key maps, key ranges), ``lane`` (the in-process fast lane and
its answers), ``expressions`` and ``scans``.

Seams (moto 5.2.5): ``DynamoDBBackend.{put_item, update_item, delete_item,
batch_write_item, transact_write_items}``, the module-level ``copy`` that
``transact_write_items`` uses and ``DynamoHandler.serialized``; checked by
tests/integration/test_local_stack.py.
"""

from __future__ import annotations

import copy as _copy
import functools
from types import SimpleNamespace

from memberflow_local.index_reads import _index_queries, index_keys
from memberflow_local.lane import fast_serialized
from memberflow_local.tables import _lock, index_lag

WRITE_OPERATIONS = ("put_item", "update_item", "delete_item", "batch_write_item")
_streams = {"enabled": False}


def keep_stream_images() -> None:
    """A table with a stream needs update_item's pre-image copies."""
    _streams["enabled"] = True


def _cache_update_expressions() -> None:
    """moto parses an UpdateExpression twice per call (responses and backend), a few
    ms each. The AST depends only on the text; callers read it, and the validator
    works on its own deep copy, so one parse per distinct expression serves all."""
    from moto.dynamodb.parsing.expressions import UpdateExpressionParser

    original = UpdateExpressionParser.make.__func__
    cache: dict[str, object] = {}

    def make(cls, expression_str):
        ast = cache.get(expression_str)
        if ast is None:
            ast = cache[expression_str] = original(cls, expression_str)
        return ast

    UpdateExpressionParser.make = classmethod(make)


def _lagged_write(backend, original, name, args, kwargs):
    if name == "batch_write_item" or not index_lag.active:
        return original(backend, *args, **kwargs)
    # The index keeps showing the item as it was before this write.
    before = index_lag.before_write(backend, name, args, kwargs)
    result = original(backend, *args, **kwargs)
    index_lag.written(before)
    return result


def _key_of(backend, op_type: str, op: dict) -> tuple[str, dict]:
    table_name = op["TableName"]
    if op_type == "Put":
        table = backend.get_table(table_name)
        key = {table.hash_key_attr: op["Item"][table.hash_key_attr]}
        if table.range_key_attr is not None:
            key[table.range_key_attr] = op["Item"][table.range_key_attr]
        return table_name, key
    return table_name, op["Key"]


def install() -> None:
    from moto.dynamodb import models
    from moto.dynamodb.models import DynamoDBBackend, Table

    if getattr(DynamoDBBackend, "_memberflow_patched", False):
        return

    for name in WRITE_OPERATIONS:
        original = getattr(DynamoDBBackend, name)

        @functools.wraps(original)
        def locked(self, *args, __original=original, __name=name, **kwargs):
            with _lock:
                if __name == "update_item":
                    # moto updates the item in place: its index keys may change.
                    with index_keys.reindexed(self, args, kwargs):
                        return _lagged_write(self, __original, __name, args, kwargs)
                return _lagged_write(self, __original, __name, args, kwargs)

        setattr(DynamoDBBackend, name, locked)

    # moto snapshots whole tables with copy.deepcopy(table): hand it the table itself
    # (no copy); the items the transaction touches are saved and restored below.
    # update_item deep-copies the item only as a stream pre-image: skipped while no
    # table has a stream (memberflow's have none).
    from moto.dynamodb.models.dynamo_type import Item

    def snapshot(value, memo=None):
        if isinstance(value, Table):
            return value
        if isinstance(value, Item) and not _streams["enabled"]:
            return value
        return _copy.deepcopy(value, memo)

    models.copy = SimpleNamespace(deepcopy=snapshot)
    _cache_update_expressions()
    from memberflow_local import expressions

    expressions.install()
    original_transact = DynamoDBBackend.transact_write_items

    @functools.wraps(original_transact)
    def transact_write_items(self, transact_items):
        with _lock:
            saved = []
            for entry in transact_items:
                try:
                    ((op_type, op),) = entry.items()
                    table_name, key = _key_of(self, op_type, op)
                    current = self.get_item(table_name, key)
                except Exception:  # noqa: BLE001 - moto reports malformed requests itself
                    continue
                saved.append(
                    (table_name, key, current.to_json()["Attributes"] if current else None)
                )
            try:
                return original_transact(self, transact_items)
            except Exception:
                for table_name, key, attributes in reversed(saved):
                    if attributes is None:
                        if self.get_item(table_name, key) is not None:
                            self.delete_item(table_name, key)
                    else:
                        self.put_item(table_name, attributes)
                raise

    DynamoDBBackend.transact_write_items = transact_write_items

    _index_queries(Table)
    from memberflow_local import item_json, scans

    scans.install()
    item_json.install()

    from moto.dynamodb.responses import DynamoHandler

    original_serialized = DynamoHandler.serialized

    @functools.wraps(original_serialized)
    def serialized(self, action_result):
        return fast_serialized(self, action_result) or original_serialized(self, action_result)

    DynamoHandler.serialized = serialized
    DynamoHandler._memberflow_slow_serialized = original_serialized
    DynamoDBBackend._memberflow_patched = True
