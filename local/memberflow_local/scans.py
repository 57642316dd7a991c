"""Scans and queries at the cost of what they return (moto 5 seams; parity:
tests/integration/test_local_scans.py).

A weekly KPI snapshot and the RFM job read whole tables; at the demo's size that was
two fifths of its CPU, most of it spent by moto copying and converting data nobody
reads:

1. ``Item.project`` converts the *whole* item to Python values once per projected
   path (nine paths: nine conversions of a member with its order, points and cap
   lists). Here each projected top-level attribute is converted once, through the same
   deserialise/serialise round trip moto uses, so the result is the same item. Nested
   paths and list indexes go to moto's own code.
2. ``Table.scan`` deep-copies every item it returns, then projects the copies. A
   projection builds new items of its own, so a projected Scan of the base table reads
   the stored items directly (it never writes them). An index Scan still copies:
   moto's index projection edits its item.
3. Every item's size (the 1 MB page limit, twice per returned item; the 400 KB item
   limit, on every attribute set) is summed by a direct walk of the attribute tree,
   the same arithmetic as moto's ``DynamoType.size`` without the wrapper objects it
   builds for every map value and set member (three quarters of a projected Scan),
   and once per item during a Scan or Query (which holds the backend's write lock, so no item
   changes between moto's two reads of its size).
4. A Scan page starts by sorting the whole table: the sorted list is kept per table
   until an item is put or deleted, and each item's sort key is kept on it
   (``scan_order.py``).
5. A new item (every PutItem, every Put of a transaction) is checked against the 400 KB
   item limit once, not once per attribute: moto's ``LimitedSizeDict`` re-sums the whole
   item at every attribute it sets, so building a member item summed it fifty times.
6. Every answer is converted to wire dicts (moto's ``dynamo_to_dict``, a generic walk
   that asks each node five questions) by a walk that knows moto's attribute values:
   the same dicts; binaries, timestamps and other objects still go to moto's own.
7. Every other copy of an item (``copy.deepcopy`` in ``models/table.py``) goes through
   a direct recursive copy of moto's attribute tree instead of the ``copy`` module's
   dispatch and memo: the same tree, fresh objects (sizes and copies: ``item_values.py``).
8. A projected Scan's answer for an item is kept on the stored item, per projection
   (the projected attribute values and their wire dicts), until the item changes: the
   weekly KPI snapshot re-reads tables whose items are nearly all unchanged (ledger,
   orders and messages are append-only). Items change in place only through moto's
   ``UpdateExpressionExecutor.execute`` and ``Item.update_with_attribute_updates``
   (UpdateItem, on its own or in a transaction), which drop it; PutItem and DeleteItem
   replace the item. The kept answer is used only while moto's ``DynamoHandler.scan``
   turns the Scan into its answer (it reads the projected items only to convert them to
   wire dicts, which the lane or the JSON serialiser copy out), so no caller is ever
   handed an object the next Scan reuses.
"""

from __future__ import annotations

import copy as _copy
import functools
import re
import threading
from types import SimpleNamespace

from memberflow_local import scan_order
from memberflow_local.item_values import bytesize, copy_item, value_size

_on = {"enabled": True}
_reading = threading.local()  # while a Scan runs: copies skipped? which table, from where
_SIZE = "_memberflow_size"  # an item's size, kept on it until it changes
_PROJECTED = "_memberflow_projected"  # {projected names: projected item}, until it changes
_KEPT_PROJECTIONS = 4  # distinct projections kept per item (a snapshot reads one per table)
_LIST_INDEX = re.compile(r".+\[\d+\]$")
# moto's classes and the backend's lock, bound once by install(): the functions below run
# for every item and attribute value, so they do not import on each call.
_moto = SimpleNamespace()


def install() -> None:
    from moto.dynamodb.models import table as table_module
    from moto.dynamodb.models.dynamo_type import (
        DynamoType,
        Item,
        LimitedSizeDict,
        deserializer,
        serializer,
    )

    from memberflow_local.tables import write_lock

    if getattr(Item, "_memberflow_project", None) is not None:
        return
    _moto.__dict__.update(
        DynamoType=DynamoType,
        Item=Item,
        LimitedSizeDict=LimitedSizeDict,
        deserializer=deserializer,
        serializer=serializer,
    )
    original_project = Item.project
    original_scan = table_module.Table.scan

    class ProjectedAttrs(LimitedSizeDict):
        """A kept projection of a stored item; ``wire``: its wire dicts, once made."""

        __slots__ = ("wire",)

    @functools.wraps(original_project)
    def project(self, projection_expressions):
        if projection_expressions is getattr(_reading, "projection", None):
            return _kept_projection(self, _reading.names, projection_expressions)
        if not _on["enabled"] or not all(_top_level(path) for path in projection_expressions):
            return original_project(self, projection_expressions)
        return _project_top_level(self, projection_expressions)

    @functools.wraps(original_scan)
    def scan(self, filters, limit, exclusive_start_key, *args, **kwargs):
        index_name = args[1] if len(args) > 1 else kwargs.get("index_name")
        projection = args[3] if len(args) > 3 else kwargs.get("projection_expression")
        uncopied = _on["enabled"] and bool(projection) and not index_name
        with write_lock():  # no write between the two size reads of an item
            _reading.uncopied, _reading.table = uncopied, self
            _reading.start = exclusive_start_key if not index_name else None
            if (
                uncopied
                and getattr(_reading, "answering", False)
                and all(_top_level(path) for path in projection)
            ):
                # the stored items themselves are projected: their kept answers serve
                _reading.projection = projection
                _reading.names = tuple(name for (name,) in projection)
            try:
                return original_scan(self, filters, limit, exclusive_start_key, *args, **kwargs)
            finally:
                _reading.uncopied, _reading.table = False, None
                _reading.start = _reading.projection = None

    original_item_size, original_value_size = Item.size, DynamoType.size

    @functools.wraps(original_item_size)
    def item_size(self):
        if not _on["enabled"]:
            return original_item_size(self)
        # Kept on the item until it changes: every Scan and Query page sizes each item it
        # reads against 1 MB, and most items are never written again (a weekly KPI
        # snapshot re-reads every table). Items change in place only in UpdateItem,
        # which drops it (forget_size, called by index_reads.IndexKeys.reindexed).
        size = self.__dict__.get(_SIZE)
        if size is None:
            size = sum(bytesize(key) + value_size(value) for key, value in self.attrs.items())
            self.__dict__[_SIZE] = size
        return size

    @functools.wraps(original_value_size)
    def dynamo_size(self):
        return value_size(self) if _on["enabled"] else original_value_size(self)

    original_query = table_module.Table.query

    @functools.wraps(original_query)
    def query(self, *args, **kwargs):
        with write_lock():  # as a Scan: no write in the middle of the items it reads
            return original_query(self, *args, **kwargs)

    table_module.Table._memberflow_query = original_query
    table_module.Table.query = query
    scan_order.sorted_once(table_module.Table, _on, _reading)
    original_init = Item.__init__

    @functools.wraps(original_init)
    def __init__(self, hash_key, range_key, attrs):
        if not _on["enabled"] or not attrs:
            return original_init(self, hash_key, range_key, attrs)
        self.hash_key, self.range_key = hash_key, range_key
        self.attrs = LimitedSizeDict()
        *first, (last_key, last_value) = attrs.items()
        for key, value in first:
            dict.__setitem__(self.attrs, key, DynamoType(value))
        # moto's own check, once, over the whole item (its running sum only grows, so it
        # fails here exactly when one of its per-attribute checks would have)
        self.attrs[last_key] = DynamoType(last_value)

    from moto.dynamodb import responses
    from moto.dynamodb.parsing.executors import UpdateExpressionExecutor

    original_answer_scan = responses.DynamoHandler.scan

    @functools.wraps(original_answer_scan)
    def answer_scan(self):
        # moto's handler reads the projected items only to convert them to wire dicts
        # (``dynamo_to_dict``), which the lane's parser or the JSON serialiser copy out:
        # kept projections may serve it (never a caller of ``Table.scan`` itself)
        before = getattr(_reading, "answering", False)
        _reading.answering = True
        try:
            return original_answer_scan(self)
        finally:
            _reading.answering = before

    original_execute = UpdateExpressionExecutor.execute
    original_attribute_updates = Item.update_with_attribute_updates

    @functools.wraps(original_execute)
    def execute(self, node=None):
        try:
            return original_execute(self, node)
        finally:
            forget_size(self.item)  # changed in place (UpdateItem, transactions)

    @functools.wraps(original_attribute_updates)
    def update_with_attribute_updates(self, attribute_updates):
        try:
            return original_attribute_updates(self, attribute_updates)
        finally:
            forget_size(self)  # changed in place (legacy AttributeUpdates)

    _moto.ProjectedAttrs = ProjectedAttrs
    responses.DynamoHandler._memberflow_scan = original_answer_scan
    responses.DynamoHandler.scan = answer_scan
    UpdateExpressionExecutor._memberflow_scans_execute = original_execute
    UpdateExpressionExecutor.execute = execute
    Item._memberflow_update_with_attribute_updates = original_attribute_updates
    Item.update_with_attribute_updates = update_with_attribute_updates
    Item._memberflow_init = original_init
    Item.__init__ = __init__
    Item._memberflow_project = original_project
    Item.project = project
    Item._memberflow_size, DynamoType._memberflow_size = original_item_size, original_value_size
    Item.size, DynamoType.size = item_size, dynamo_size
    table_module.Table._memberflow_scan = original_scan
    table_module.Table.scan = scan
    table_module.copy = SimpleNamespace(copy=_copy.copy, deepcopy=_table_deepcopy)
    original_to_dict = responses.dynamo_to_dict

    @functools.wraps(original_to_dict)
    def dynamo_to_dict(obj):
        if not _on["enabled"]:
            return original_to_dict(obj)
        return _to_dict(obj, original_to_dict, DynamoType)

    responses._memberflow_dynamo_to_dict = original_to_dict
    responses.dynamo_to_dict = dynamo_to_dict


_PLAIN = (str, int, float, bool, type(None))


def to_dict(obj):
    """``dynamo_to_dict`` as the local stack runs it (for the parity test)."""
    from moto.dynamodb.models.utilities import dynamo_to_dict

    return _to_dict(obj, dynamo_to_dict, _moto.DynamoType)


def _to_dict(obj, original, DynamoType):
    kind = type(obj)
    if kind is _moto.ProjectedAttrs:  # a kept projection: its wire dicts, made once
        wire = obj.wire
        if wire is None:
            wire = obj.wire = {k: _kept_wire(v, original, DynamoType) for k, v in obj.items()}
        return wire
    if kind is DynamoType:
        value_type, value = obj.type, obj.value
        if value_type == "L":
            return {"L": [_to_dict(v, original, DynamoType) for v in value]}
        if value_type == "M":
            return {"M": {k: _to_dict(v, original, DynamoType) for k, v in value.items()}}
        if value_type in ("SS", "NS"):
            return {value_type: list(value)}
        if value_type in ("S", "N", "BOOL", "NULL") and type(value) in _PLAIN:
            return {value_type: value}
        return original(obj)  # binaries: decoded by moto's own
    if kind in _PLAIN:
        return obj
    if kind is list:
        return [_to_dict(v, original, DynamoType) for v in obj]
    if isinstance(obj, dict) and not hasattr(obj, "to_json"):
        return {k: _to_dict(v, original, DynamoType) for k, v in obj.items()}
    return original(obj)  # timestamps, objects with to_json


_leaves: dict[tuple, dict] = {}  # (type, value) -> its wire dict, shared by kept answers
_SHARED_LEAF_MAX = 64  # longer strings rarely repeat: kept once, with their item


def _kept_wire(value, original, DynamoType):
    """``_to_dict`` of a kept value; strings, numbers and booleans repeat (kinds, stages,
    statuses, points), so kept answers share one read-only wire dict for each short one."""
    if type(value) is DynamoType:
        value_type, inner = value.type, value.value
        if value_type == "L":
            return {"L": [_kept_wire(v, original, DynamoType) for v in inner]}
        if value_type == "M":
            return {"M": {k: _kept_wire(v, original, DynamoType) for k, v in inner.items()}}
        short_text = type(inner) is str and len(inner) <= _SHARED_LEAF_MAX
        if short_text if value_type in ("S", "N") else type(inner) is bool:
            leaf = _leaves.get((value_type, inner))
            if leaf is None:
                if len(_leaves) >= 200_000:
                    _leaves.clear()
                leaf = _leaves[value_type, inner] = {value_type: inner}
            return leaf
    return _to_dict(value, original, DynamoType)


def forget_size(item) -> None:
    """An item changed in place: its size and projections are made again when next read."""
    if item is not None:
        item.__dict__.pop(_SIZE, None)
        item.__dict__.pop(_PROJECTED, None)


def _top_level(path) -> bool:
    return len(path) == 1 and not _LIST_INDEX.match(path[0])


def _kept_projection(item, names: tuple, paths):
    """The stored item's projection to ``names``, made once until the item changes."""
    kept = item.__dict__.get(_PROJECTED)
    if kept is None:
        kept = item.__dict__[_PROJECTED] = {}
    projected = kept.get(names)
    if projected is None:
        if len(kept) >= _KEPT_PROJECTIONS:
            kept.clear()
        projected = _project_top_level(item, paths, _moto.ProjectedAttrs)
        projected.attrs.wire = None
        kept[names] = projected  # complete before anyone can read it
    return projected


def _project_top_level(item, paths, attrs_class=None):
    projected = _moto.Item.__new__(_moto.Item)
    projected.hash_key, projected.range_key = item.hash_key, item.range_key
    attrs_class = attrs_class or _moto.LimitedSizeDict
    attrs = attrs_class.__new__(attrs_class)
    dict.__init__(attrs)
    for (name,) in paths:
        attribute = item.attrs.get(name)
        if attribute is not None and name not in attrs:
            dict.__setitem__(attrs, name, _round_trip(attribute))
    projected.attrs = attrs  # the stored item passed the 400 KB check; a part of it does
    return projected


def _round_trip(value):
    """What moto's projection makes of a value (deserialise to Python, serialise back):
    strings, booleans, NULL, lists and maps come back as they were, so they are copied;
    numbers, sets and binaries take the round trip itself (it may normalise them)."""
    DynamoType = _moto.DynamoType
    kind = value.type
    if kind in ("S", "BOOL", "NULL"):
        clone = DynamoType.__new__(DynamoType)
        clone.type, clone.value = kind, value.value
        return clone
    if kind == "L":
        clone = DynamoType.__new__(DynamoType)
        clone.type = kind
        clone.value = [_round_trip(v) for v in value.value]
        return clone
    if kind == "M":
        clone = DynamoType.__new__(DynamoType)
        clone.type = kind
        clone.value = {k: _round_trip(v) for k, v in value.value.items()}
        return clone
    if kind == "N" and type(value.value) is str:
        # numbers repeat (points, versions, counts): moto's own round trip, once each
        normal = _numbers.get(value.value)
        if normal is None:
            if len(_numbers) >= 100_000:
                _numbers.clear()
            python = _moto.deserializer.deserialize(value.to_regular_json())
            normal = _numbers[value.value] = DynamoType(_moto.serializer.serialize(python)).value
        clone = DynamoType.__new__(DynamoType)
        clone.type, clone.value = kind, normal
        return clone
    python = _moto.deserializer.deserialize(value.to_regular_json())
    return DynamoType(_moto.serializer.serialize(python))


_numbers: dict[str, str] = {}  # a number's text -> what moto's projection makes of it


def _table_deepcopy(value, memo=None):
    Item = _moto.Item
    if not _on["enabled"]:
        return _copy.deepcopy(value, memo)
    if type(value) is Item:
        return value if getattr(_reading, "uncopied", False) else copy_item(value)
    if type(value) is list and all(type(v) is Item for v in value):
        return [copy_item(v) for v in value]
    return _copy.deepcopy(value, memo)


def motos_own_scans():
    """moto's own projection, sizes and copies for a while (parity tests, bench)."""
    from memberflow_local.expressions import switched_off

    return switched_off(_on)
