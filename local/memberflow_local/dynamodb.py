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

4. Eventually consistent global secondary indexes (:class:`IndexLag`): an index query
   shows a write only once a lag has passed on the virtual clock; base-table reads see
   it at once, as in DynamoDB.

Seams (moto 5.2.5): ``DynamoDBBackend.{put_item, update_item, delete_item,
batch_write_item, transact_write_items}``, the module-level ``copy`` that
``transact_write_items`` uses, ``Table.{query, all_items, has_idx_items}`` and
``DynamoHandler.serialized``; checked by tests/integration/test_local_stack.py.
"""

from __future__ import annotations

import contextlib
import copy as _copy
import functools
import itertools
import json
import os
import threading
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from types import SimpleNamespace

_lock = threading.RLock()
# Request ids only need to be unique; uuid4 reads os.urandom, slow on these machines.
_request_ids = itertools.count(1)
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


def _data_plane_headers(handler) -> dict:
    headers = {
        "Content-Type": "application/x-amz-json-1.0",
        "server": "amazon.com",
        "x-amzn-requestid": f"memberflow-local-{next(_request_ids):012d}",
    }
    headers.update(handler.response_headers)
    return headers


def fast_serialized(handler, action_result):
    """``DynamoHandler.serialized`` for data-plane results: ``json.dumps`` of the dict."""
    result = action_result.result
    if isinstance(result, Exception) or handler._get_action() not in FAST_RESPONSES:
        return None
    headers = _data_plane_headers(handler)
    try:
        body = json.dumps(result, separators=(", ", ": "))
    except TypeError:  # binary attributes: moto's own serialiser base64-encodes them
        return None
    return 200, headers, body


_streams = {"enabled": False}


def write_lock():
    """The lock each DynamoDB request holds while it runs (requests apply whole)."""
    return _lock


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
    from memberflow_local import scans

    scans.install()

    from moto.dynamodb.responses import DynamoHandler

    original_serialized = DynamoHandler.serialized

    @functools.wraps(original_serialized)
    def serialized(self, action_result):
        return fast_serialized(self, action_result) or original_serialized(self, action_result)

    DynamoHandler.serialized = serialized
    DynamoHandler._memberflow_slow_serialized = original_serialized
    DynamoDBBackend._memberflow_patched = True


def _items_of(table, partitions=None):
    """Every item of a moto table (partitions map to an item, or to a range map)."""
    for partition in table.items.values() if partitions is None else partitions:
        yield from partition.values() if table.range_key_attr else (partition,)


# ---------------------------------------------------------------------- index lag
# DynamoDB propagates a write to a table's global secondary indexes asynchronously
# (usually within a second): an index query right after a write may still show the
# item as it was, or not at all, and ConsistentRead is refused on a GSI (moto already
# refuses it with DynamoDB's ValidationException). moto updates indexes at once, so code
# that reads an index right after writing passes locally and fails in AWS.
#
# Model: every write to a table with a GSI records the item as it was just before
# (a copy, or None when absent) and when that write becomes visible (now + lag). An
# index query sees, for each item with a write still in flight, the state before the
# *oldest* invisible write; every other item as it is. Writes become visible in order,
# so a cancelled transaction (written, then restored) shows the original throughout.
# "Now" is the virtual clock, which stands still while a request or a journey step
# runs: a write is never visible to an index in the same instant, only after the
# clock has moved (advance(), a Wait state). With ``real_time`` (``memberflow serve``,
# where requests arrive in real time and nobody may advance the clock) the lag also
# passes on the wall clock.
_PENDING = "_memberflow_index_pending"


class IndexLag:
    def __init__(self):
        self.seconds = 0.0
        self._writes = 0
        self.real_time = False
        self.now: Callable[[], datetime] | None = None

    @property
    def active(self) -> bool:
        return self.seconds > 0 and self.now is not None

    def configure(
        self, seconds: float, now: Callable[[], datetime] | None, *, real_time: bool = False
    ) -> None:
        if seconds < 0:
            raise ValueError("index_lag must be >= 0 seconds")
        self.seconds, self.now, self.real_time = float(seconds), now, real_time

    # writes (called holding _lock) ------------------------------------------
    def before_write(self, backend, operation: str, args: tuple, kwargs: dict):
        table_name = args[0] if args else kwargs.get("table_name")
        try:
            table = backend.get_table(table_name)
            if not table.global_indexes:
                return None
            if operation == "put_item":
                attrs = args[1] if len(args) > 1 else kwargs["item_attrs"]
                key = {table.hash_key_attr: attrs[table.hash_key_attr]}
                if table.range_key_attr:
                    key[table.range_key_attr] = attrs[table.range_key_attr]
            else:
                key = args[1] if len(args) > 1 else kwargs["key"]
            hash_key, range_key = backend.get_keys_value(table, key)
        except Exception:  # noqa: BLE001 - moto reports malformed requests itself
            return None
        from moto.dynamodb.models.dynamo_type import Item

        current = table.get_item(hash_key, range_key)
        projected = _projected(table)
        if current is None or projected is None:
            return table, (hash_key, range_key), _copy.deepcopy(current), projected
        # Indexes that project a few attributes only need those (members: keys only).
        attrs = {name: current.attrs[name] for name in projected if name in current.attrs}
        image = Item(current.hash_key, current.range_key, {})
        image.attrs.update(_copy.deepcopy(attrs))
        return table, (hash_key, range_key), image, projected

    def written(self, before) -> None:
        if before is None:
            return
        table, key, image, projected = before
        if projected is not None:
            # Nothing an index holds changed: nothing for the indexes to catch up on.
            now = table.get_item(*key)
            if (image is None) == (now is None) and (
                image is None or all(_same(image.attrs.get(n), now.attrs.get(n)) for n in projected)
            ):
                return
        pending = table.__dict__.setdefault(_PENDING, {})
        self._writes += 1
        if self._writes % 1024 == 0:  # forget what every index shows by now
            self.index_view(table)
        real = time.monotonic() + self.seconds if self.real_time else None
        visible_at = self.now() + timedelta(seconds=self.seconds)
        pending.setdefault(key, []).append((visible_at, real, image))

    # index reads ---------------------------------------------------------------
    def _visible(self, entry, now: datetime, mono: float) -> bool:
        visible_at, real, _ = entry
        return visible_at <= now or (real is not None and real <= mono)

    def index_view(self, table) -> dict | None:
        """{(hash, range): item as the index still shows it, or None} for the items
        whose last writes the table's GSIs do not show yet; None when there are none."""
        pending = table.__dict__.get(_PENDING)
        if not pending:
            return None
        now, mono = self.now() if self.now else datetime.max, time.monotonic()
        view = {}
        for key in list(pending):
            entries = pending[key]
            while entries and self._visible(entries[0], now, mono):
                entries.pop(0)
            if entries:
                view[key] = entries[0][2]
            else:
                del pending[key]
        return view or None

    def clear(self) -> None:
        self.seconds, self.now, self.real_time = 0.0, None, False


index_lag = IndexLag()


def _same(a, b) -> bool:
    return a is b or (a is not None and b is not None and a == b)


def _projected(table) -> set[str] | None:
    """The attributes the table's GSIs hold, or None when one projects ALL."""
    cached = table.__dict__.get("_memberflow_projected", False)
    if cached is not False:
        return cached
    names = {table.hash_key_attr} | ({table.range_key_attr} if table.range_key_attr else set())
    for index in table.global_indexes or ():
        projection = index.projection or {}
        kind = projection.get("ProjectionType", "ALL")
        if kind == "ALL":
            names = None
            break
        names |= set(index.schema_key_attrs)
        if kind == "INCLUDE":
            names |= set(projection.get("NonKeyAttributes", []))
    table.__dict__["_memberflow_projected"] = names
    return names


def _lagged_items(table, items):
    """``items`` (of ``table``) as its global secondary indexes show them now."""
    view = index_lag.index_view(table) if index_lag.now is not None else None
    if view is None:
        return items
    out = [item for item in items if (item.hash_key, item.range_key) not in view]
    out.extend(image for image in view.values() if image is not None)
    return out


# ---------------------------------------------------------------------- queries
# moto's Table.query starts from ``all_items()``, which walks *and sorts* every item
# of the table (DynamoType comparisons, about 15 ms a query on a 2,000-item table),
# then keeps those with the queried key and sorts them again. A table query only
# needs the queried partition; an index query needs the items with the queried index
# key, in no particular order.
# While a query runs, ``all_items`` answers from that (per thread).
_query_items = threading.local()


def _index_queries(Table) -> None:
    original_all_items = Table.all_items
    original_query = Table.query
    original_has_idx_items = Table.has_idx_items

    @functools.wraps(original_all_items)
    def all_items(self):
        scoped = getattr(_query_items, "scope", None)
        if scoped is not None and scoped[0] is self:
            return scoped[1]
        return original_all_items(self)

    @functools.wraps(original_query)
    def query(self, hash_key, *args, **kwargs):
        # moto's backend passes index_name as the 8th positional argument.
        index_name = args[6] if len(args) > 6 else kwargs.get("index_name")
        if index_name is None and hash_key is not None:
            partition = self.items.get(hash_key)
            if partition is None:
                items = []
            elif self.range_key_attr:
                items = list(partition.values())
            else:
                items = [partition]
        else:
            items = _index_candidates(self, index_name, kwargs.get("hash_key_conditions"))
        if key_ranges.enabled and len(args) > 2 and args[0] and not args[2]:
            items = key_ranges.within(self, index_name, items, args[0], args[1], kwargs)
        _query_items.scope = (self, items)
        try:
            return original_query(self, hash_key, *args, **kwargs)
        finally:
            _query_items.scope = None

    @functools.wraps(original_has_idx_items)
    def has_idx_items(self, index_name):
        # A Scan with IndexName reads an index: eventually consistent as well.
        if not any(i.name == index_name for i in self.global_indexes or ()):
            return original_has_idx_items(self, index_name)
        names = {part["AttributeName"] for part in self.get_index(index_name).schema}
        items = _lagged_items(self, list(_items_of(self)))
        return [item for item in items if names <= set(item.attrs)]

    Table.all_items = all_items
    Table.query = query
    _index_key_writes(Table)
    Table.has_idx_items = has_idx_items
    Table._memberflow_originals = {
        "all_items": original_all_items,
        "query": original_query,
        "has_idx_items": original_has_idx_items,
    }


def _index_candidates(table, index_name, hash_key_conditions):
    """The items an index query may return: those whose index hash key equals the
    queried value (plain type-and-value comparison; moto re-checks what is left)."""
    conditions = [(name, value.type, value.value) for name, value in hash_key_conditions or ()]
    is_global = index_name is not None and any(
        i.name == index_name for i in table.global_indexes or ()
    )
    candidates = None
    if is_global and index_keys.enabled:
        candidates = index_keys.items_with(table, index_name, conditions)
    if candidates is None:
        candidates = list(_items_of(table))
    if is_global:
        candidates = _lagged_items(table, candidates)
    return [
        item
        for item in candidates
        if all(
            (found := item.attrs.get(name)) is not None
            and found.type == kind
            and found.value == value
            for name, kind, value in conditions
        )
    ]


class KeyRanges:
    """A query reads only the items its key condition's range selects, as DynamoDB does.

    moto walks every item of the partition (or index value) and sizes each one against
    the 1 MB page limit before it applies the range condition, so a sweep query for one
    day of ``review_at`` sized every member of its shard. The candidates are narrowed
    here by moto's own comparison (``DynamoType.compare``) on the attribute moto would
    compare; moto then applies the condition again to what is left.

    Only without ``Limit``: with one, moto returns a LastEvaluatedKey when any item,
    in the range or not, follows the last one it returns, and that answer is kept. A
    page still ends at 1 MB of the items in the range, as in DynamoDB (moto would also
    end one early at an item outside the range)."""

    def __init__(self):
        self.enabled = True

    @staticmethod
    def _attribute(table, index_name, kwargs) -> str | None:
        conditions = kwargs.get("range_key_conditions")
        if conditions:
            return conditions[-1][0]
        if index_name is None:
            return table.range_key_attr
        index = next((i for i in table.all_indexes() if i.name == index_name), None)
        ranges = [k for k in (index.schema if index else ()) if k["KeyType"] == "RANGE"]
        return ranges[0]["AttributeName"] if ranges else None

    def within(self, table, index_name, items, comparison, values, kwargs):
        attribute = self._attribute(table, index_name, kwargs)
        if attribute is None:
            return items  # moto refuses or handles this itself
        return [
            item
            for item in items
            if (found := item.attrs.get(attribute)) and found.compare(comparison, values)
        ]


key_ranges = KeyRanges()


# --------------------------------------------------------------- index key maps
# An index query used to walk every item of the table (0.5 ms at 300 items, 5.6 ms at
# 4,000). Each table keeps, per global secondary index, a map from index hash key to
# the keys of the items holding it, built on the first query and kept up to date by
# every write: ``Table.put_item`` / ``Table.delete_item`` (backend puts and deletes,
# transactions and their roll-back, batch writes) and ``DynamoDBBackend.update_item``
# (moto updates an item in place). The map holds the *current* items: the index lag
# (above) is applied to its answer as to a full walk.
_INDEX_KEYS = "_memberflow_index_keys"


def _index_value(found):
    """A hashable form of an index key value, equal where DynamoDB's are equal."""
    if found.type == "N":
        from decimal import Decimal, InvalidOperation

        try:
            return ("N", Decimal(found.value))
        except (InvalidOperation, TypeError):
            return ("N", found.value)
    value = found.value
    return (found.type, value if isinstance(value, str | bytes) else repr(value))


class IndexKeys:
    def __init__(self):
        self.enabled = True

    def _maps(self, table):
        """{index: (attribute, {value: {item key: None}}, {item key: value})}, built once."""
        indexes = {}
        for index in table.global_indexes or ():
            hashes = [k["AttributeName"] for k in index.schema if k["KeyType"] == "HASH"]
            if len(hashes) == 1:
                indexes[index.name] = hashes[0]
        maps = table.__dict__.get(_INDEX_KEYS)
        # Built again when the table's indexes change (UpdateTable).
        if maps is None or {name: entry[0] for name, entry in maps.items()} != indexes:
            maps = {name: (attribute, {}, {}) for name, attribute in indexes.items()}
            for item in _items_of(table):
                self._place(maps, item.hash_key, item.range_key, item)
            table.__dict__[_INDEX_KEYS] = maps
        return maps

    @staticmethod
    def _place(maps, hash_key, range_key, item) -> None:
        key = (hash_key, range_key)
        for attribute, by_value, of_item in maps.values():
            old = of_item.pop(key, None)
            if old is not None:
                holders = by_value.get(old)
                if holders is not None:
                    holders.pop(key, None)
                    if not holders:
                        del by_value[old]
            found = item.attrs.get(attribute) if item is not None else None
            if found is not None:
                value = _index_value(found)
                of_item[key] = value
                by_value.setdefault(value, {})[key] = None

    def refresh(self, table, hash_key, range_key) -> None:
        """Re-read one item's index keys after a write (no-op until a map exists)."""
        maps = table.__dict__.get(_INDEX_KEYS)
        if maps:
            self._place(maps, hash_key, range_key, _stored(table, hash_key, range_key))

    def items_with(self, table, index_name, conditions):
        """The current items holding the queried index hash key, or None (walk)."""
        with _lock:
            entry = self._maps(table).get(index_name)
            if entry is None:
                return None
            attribute, by_value, _ = entry
            wanted = [c for c in conditions if c[0] == attribute]
            if not wanted:
                return None
            from moto.dynamodb.models.dynamo_type import DynamoType

            _, kind, value = wanted[0]
            holders = by_value.get(_index_value(DynamoType({kind: value})), ())
            return [item for key in holders if (item := _stored(table, *key)) is not None]

    @contextlib.contextmanager
    def reindexed(self, backend, args, kwargs):
        """Around an in-place write: the item's index keys are re-read after it."""
        try:
            table = backend.get_table(args[0] if args else kwargs.get("table_name"))
            hash_key, range_key = backend.get_keys_value(
                table, args[1] if len(args) > 1 else kwargs["key"]
            )
        except Exception:  # noqa: BLE001 - moto reports malformed requests itself
            yield
            return
        try:
            yield
        finally:
            self.refresh(table, hash_key, range_key)


index_keys = IndexKeys()


def _stored(table, hash_key, range_key):
    partition = table.items.get(hash_key)
    if partition is None:
        return None
    if table.range_key_attr:
        return partition.get(range_key)
    return partition


def _index_key_writes(Table) -> None:
    """Table.put_item / delete_item keep the index key maps current."""
    original_put, original_delete = Table.put_item, Table.delete_item

    @functools.wraps(original_put)
    def put_item(self, *args, **kwargs):
        item = original_put(self, *args, **kwargs)
        index_keys.refresh(self, item.hash_key, item.range_key)
        return item

    @functools.wraps(original_delete)
    def delete_item(self, hash_key, range_key, *args, **kwargs):
        try:
            return original_delete(self, hash_key, range_key, *args, **kwargs)
        finally:
            index_keys.refresh(self, hash_key, range_key)

    Table.put_item, Table.delete_item = put_item, delete_item


@contextlib.contextmanager
def motos_own_reads():
    """moto's own Table.query/all_items/has_idx_items for a while (parity tests)."""
    from moto.dynamodb.models import Table

    patched = {name: getattr(Table, name) for name in Table._memberflow_originals}
    for name, original in Table._memberflow_originals.items():
        setattr(Table, name, original)
    try:
        yield
    finally:
        for name, function in patched.items():
            setattr(Table, name, function)


def table_items(table_name: str, region: str, *, at_least: tuple[str, str] | None = None):
    """Items of an emulated table as wire-format attribute maps, read in place (local
    views of a test stack only; the functions use the DynamoDB API). ``at_least``:
    (attribute, text) keeps items whose string attribute is >= text."""
    from moto.core import DEFAULT_ACCOUNT_ID

    account = os.environ.get("MOTO_ACCOUNT_ID", DEFAULT_ACCOUNT_ID)
    table = _backend(account, region).get_table(table_name)
    with _lock:
        partitions = list(table.items.values())
    for item in _items_of(table, partitions):
        if at_least is not None:
            value = item.attrs.get(at_least[0])
            if value is None or value.value < at_least[1]:
                continue
        yield item.to_json()["Attributes"]


# ---------------------------------------------------------------------- fast lane
# moto answers an SDK call by turning it into an HTTP request, routing it by URL and
# header, re-parsing it, finding the handler method by introspection and serialising
# an HTTP response: about 1.5 ms of a 1.7 ms GetItem. The lane hands data-plane calls
# from botocore's ``before-call`` event straight to moto's DynamoDB handler method,
# with moto's own request parser and botocore's own response parser, so results and
# errors are the ones the HTTP path gives (tests/integration/test_local_stack.py).
# Seams (moto 5.2.5): ``moto.core.parse.PROTOCOL_PARSERS``, ``DynamoHandler`` methods
# reading ``self.body``/``self.params``, ``ActionResult``, ``ServiceException``.
_lane = {"enabled": False}
_backends: dict[tuple[str, str], object] = {}


@functools.cache
def _handler_class():
    """moto's DynamoHandler with its backend set once per call, not looked up on every
    access (``dynamodb_backends[account][region]`` takes a global lock each time)."""
    from moto.dynamodb.responses import DynamoHandler

    class LaneHandler(DynamoHandler):
        dynamodb_backend = None

    return LaneHandler


def _backend(account: str, region: str):
    key = (account, region)
    if key not in _backends:
        from moto.dynamodb.models import dynamodb_backends

        _backends[key] = dynamodb_backends[account][region]
    return _backends[key]


def _request_params(operation_model, body: bytes) -> dict:
    from moto.core.parse import PROTOCOL_PARSERS
    from moto.dynamodb.responses import DynamoHandler

    parser = PROTOCOL_PARSERS["json"](
        operation_model, map_type=DynamoHandler.PROTOCOL_PARSER_MAP_TYPE
    )
    return parser.parse(
        {
            "method": "POST",
            "values": {},
            "headers": {},
            "body": body,
            "url_path": "/",
            "url_params": {},
        }
    )


def _respond(handler, operation_name: str, *, direct: bool = False) -> tuple[int, dict, object]:
    """moto's answer: (status, headers, body). ``direct``: a data-plane result's body is
    moto's result dict itself, not its JSON (:class:`WireParser` reads it)."""
    from moto.core.exceptions import HTTPException, ServiceException
    from moto.core.responses import ActionResult
    from moto.core.utils import camelcase_to_underscores

    method = getattr(handler, camelcase_to_underscores(operation_name))
    try:
        result = method()
    except ServiceException as error:
        return handler.serialized(ActionResult(error))
    except HTTPException as error:
        return error.code, dict(error.get_headers() or []), error.description
    if isinstance(result, ActionResult):
        if direct and isinstance(result.result, dict):
            return 200, _data_plane_headers(handler), result.result
        return handler.serialized(result)
    if isinstance(result, str):
        return 200, {}, result
    status, headers, body = handler._transform_response({}, result)
    return status, headers, body


def fast_lane(model, params, context, **_kwargs):
    """botocore ``before-call.dynamodb`` handler: ``(http response, parsed)`` or None."""
    if not _lane["enabled"] or model.name not in FAST_RESPONSES:
        return None
    from botocore.awsrequest import AWSResponse
    from botocore.parsers import create_parser
    from moto.core import DEFAULT_ACCOUNT_ID

    handler = _handler_class()()
    handler.region = context.get("client_region") or "us-east-1"
    handler.current_account = os.environ.get("MOTO_ACCOUNT_ID", DEFAULT_ACCOUNT_ID)
    handler.dynamodb_backend = _backend(handler.current_account, handler.region)
    handler.headers = {"X-Amz-Target": f"DynamoDB_20120810.{model.name}"}
    handler.querystring = {}
    handler.response_headers = {}
    handler.uri_match = {}
    handler.params = _request_params(model, params["body"])
    handler.body = handler.params
    # DynamoDB applies each request atomically, reads included: a read never sees an
    # update_item half-applied (moto mutates items in place), so the whole call holds
    # the lock that already serialises writes.
    direct = wire_answers.enabled
    with _lock:
        status, headers, body = _respond(handler, model.name, direct=direct)
    if isinstance(body, str):
        body = body.encode("utf-8")
    headers = {"content-type": "application/x-amz-json-1.0", **headers}
    # DynamoDB names a request id on every answer, errors included (moto's error
    # serialiser leaves it out; the Step Functions DynamoDB integration reads it).
    if not any(name.lower() == "x-amzn-requestid" for name in headers):
        headers["x-amzn-requestid"] = f"memberflow-local-{next(_request_ids):012d}"
    if isinstance(body, dict):
        http = _lazy_body_class()(params.get("url", ""), status, headers, None)
        http._answer = body
        response = {"status_code": status, "headers": http.headers, "body": body}
        return http, wire_answers.parser().parse(response, model.output_shape)
    http = AWSResponse(params.get("url", ""), status, headers, None)
    http._content = body
    response = {"status_code": status, "headers": http.headers, "body": body}
    parser = create_parser("json")
    parsed = parser.parse(response, model.output_shape)
    if status >= 300:
        # botocore's endpoint parses modeled error fields (CancellationReasons, ...)
        # in a second pass; so does the lane.
        code = parsed.get("Error", {}).get("Code")
        error_shape = model.service_model.shape_for_error_code(code) if code else None
        if error_shape is not None:
            parsed.update(parser.parse(response, error_shape))
    return http, parsed


class WireAnswers:
    """A data-plane answer handed to botocore as moto's result dict, not as JSON.

    The lane serialised moto's result to JSON and botocore parsed it back, walking the
    output shape down to every attribute value of every item (a Scan page of members is
    thousands of nodes). Here botocore's own JSON parser reads the dict (no JSON text in
    between) and each ``AttributeValue`` is converted by a walk that does what botocore's
    does to one: binaries decoded, every other member kept, containers rebuilt. Errors
    still go through JSON and botocore's parser. The HTTP response's bytes are made only
    if something reads them."""

    def __init__(self):
        self.enabled = True
        self._parser = None

    def parser(self):
        if self._parser is None:
            self._parser = _wire_parser_class()()
        return self._parser


wire_answers = WireAnswers()


def _wire_parser_class():
    import base64

    from botocore.parsers import JSONParser

    def blob(value):
        return value if isinstance(value, bytes | bytearray) else base64.b64decode(value)

    def attribute_value(node: dict) -> dict:
        parsed = {}
        for kind, value in node.items():
            if value is None:
                continue
            if kind == "M":
                parsed[kind] = {name: attribute_value(v) for name, v in value.items()}
            elif kind == "L":
                parsed[kind] = [attribute_value(v) for v in value]
            elif kind == "B":
                parsed[kind] = blob(value)
            elif kind == "BS":
                parsed[kind] = [blob(v) for v in value]
            elif kind in ("SS", "NS"):
                parsed[kind] = list(value)
            elif kind in _SCALAR_KINDS:
                parsed[kind] = value
            else:  # not an AttributeValue member: botocore's own handling
                return None
        return parsed

    class WireParser(JSONParser):
        def _parse_body_as_json(self, body_contents):
            if isinstance(body_contents, dict):
                return body_contents
            return super()._parse_body_as_json(body_contents)

        def _handle_double(self, shape, value):
            # moto's serialiser writes a double as one (5.0), and JSON reads it back so
            return float(value) if type(value) is int else value

        _handle_float = _handle_double

        def _parse_shape(self, shape, node):
            if shape.name == "AttributeValue" and type(node) is dict:
                parsed = attribute_value(node)
                if parsed is not None:
                    return parsed
            return super()._parse_shape(shape, node)

    return WireParser


_SCALAR_KINDS = frozenset(("S", "N", "NULL", "BOOL"))


@functools.cache
def _lazy_body_class():
    from botocore.awsrequest import AWSResponse

    class LazyBody(AWSResponse):
        """An AWSResponse whose JSON body is written when first read."""

        @property
        def content(self):
            if self._content is None:
                self._content = json.dumps(self._answer, default=_json_default).encode()
            return self._content

    return LazyBody


def _json_default(value):
    import base64

    if isinstance(value, bytes | bytearray):
        return base64.b64encode(value).decode()
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def enable_fast_lane() -> None:
    """Route DynamoDB data-plane calls of every client created from now on."""
    from botocore.handlers import BUILTIN_HANDLERS

    if ("before-call.dynamodb", fast_lane) not in BUILTIN_HANDLERS:
        BUILTIN_HANDLERS.append(("before-call.dynamodb", fast_lane))
    _lane["enabled"] = True


def disable_fast_lane() -> None:
    _lane["enabled"] = False
    # The next mock starts with fresh backends.
    _backends.clear()
