"""Three fixes to moto's DynamoDB emulation that the local stack relies on.

1. Atomic writes. DynamoDB applies a conditional write or a transaction atomically;
   moto checks the condition and then writes, so two threads can both pass. Every
   write operation of the backend is serialised behind one lock here.
2. Transactions that cost O(items touched). moto backs up *whole tables* with
   ``copy.deepcopy`` before every ``TransactWriteItems`` (seconds per call once a table
   holds a few thousand items). Here only the items the transaction names are saved,
   and restored if it is cancelled.
3. Fast responses. moto 5.2 serialises every response by walking botocore's shape
   model (about 10 ms for a member item on these machines); data-plane results are
   already wire-format dicts, so they are written with ``json.dumps`` (a test checks
   both paths give the same body).

Seams (moto 5.2.5): ``DynamoDBBackend.{put_item, update_item, delete_item,
batch_write_item, transact_write_items}``, the module-level ``copy`` that
``transact_write_items`` uses, and ``DynamoHandler.serialized``; checked by
tests/integration/test_local_stack.py.
"""

from __future__ import annotations

import copy as _copy
import functools
import json
import threading
import uuid
from types import SimpleNamespace

_lock = threading.RLock()
WRITE_OPERATIONS = ("put_item", "update_item", "delete_item", "batch_write_item")
# Results of these operations are plain wire-format dicts (moto's DynamoResult).
FAST_RESPONSES = {
    "GetItem",
    "PutItem",
    "UpdateItem",
    "DeleteItem",
    "Query",
    "Scan",
    "BatchGetItem",
    "BatchWriteItem",
    "TransactGetItems",
    "TransactWriteItems",
}


def fast_serialized(handler, action_result):
    """``DynamoHandler.serialized`` for data-plane results: ``json.dumps`` of the dict."""
    result = action_result.result
    if isinstance(result, Exception) or handler._get_action() not in FAST_RESPONSES:
        return None
    headers = {
        "Content-Type": "application/x-amz-json-1.0",
        "server": "amazon.com",
        "x-amzn-requestid": uuid.uuid4().hex,
    }
    headers.update(handler.response_headers)
    return 200, headers, json.dumps(result, separators=(", ", ": "))


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
        def locked(self, *args, __original=original, **kwargs):
            with _lock:
                return __original(self, *args, **kwargs)

        setattr(DynamoDBBackend, name, locked)

    # moto snapshots whole tables with copy.deepcopy(table): hand it the table itself
    # (no copy); the items the transaction touches are saved and restored below.
    models.copy = SimpleNamespace(
        deepcopy=lambda value, memo=None: (
            value if isinstance(value, Table) else _copy.deepcopy(value, memo)
        )
    )
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

    from moto.dynamodb.responses import DynamoHandler

    original_serialized = DynamoHandler.serialized

    @functools.wraps(original_serialized)
    def serialized(self, action_result):
        return fast_serialized(self, action_result) or original_serialized(self, action_result)

    DynamoHandler.serialized = serialized
    DynamoHandler._memberflow_slow_serialized = original_serialized
    DynamoDBBackend._memberflow_patched = True
