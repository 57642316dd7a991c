"""moto's attribute values walked directly (moto 5.2.5; parity:
tests/integration/test_local_scans.py): an item's size with ``DynamoType.size``'s
arithmetic, and an item's copy as its ``__deepcopy__`` builds it, without the wrapper
objects and the ``copy`` module's dispatch and memo."""

from __future__ import annotations

import copy as _copy


def bytesize(text) -> int:
    return len(text if isinstance(text, bytes) else text.encode("utf-8"))


def value_size(value) -> int:
    """moto's ``DynamoType.size`` of an attribute value: numbers by their text, sets,
    lists and maps by their members (map keys included), booleans and NULL 1 byte,
    strings and binaries by their bytes."""
    kind, inner = value.type, value.value
    if kind == "N":
        return len(str(inner))
    if kind in ("SS", "NS", "BS"):
        if kind == "NS":
            return sum(len(str(v)) for v in inner)
        return sum(1 if isinstance(v, bool) else bytesize(v) for v in inner)
    if kind == "L":
        return sum(value_size(v) for v in inner)
    if kind == "M":
        return sum(bytesize(k) + value_size(v) for k, v in inner.items())
    if isinstance(inner, bool):
        return 1
    return bytesize(inner)


def copy_item(item):
    """A fresh copy of a moto ``Item`` (what its ``__deepcopy__`` builds, directly)."""
    from moto.dynamodb.models.dynamo_type import Item, LimitedSizeDict

    clone = Item.__new__(Item)
    clone.hash_key = _copy_value(item.hash_key)
    clone.range_key = None if item.range_key is None else _copy_value(item.range_key)
    attrs = LimitedSizeDict.__new__(LimitedSizeDict)
    dict.__init__(attrs)
    for key, value in item.attrs.items():
        dict.__setitem__(attrs, key, _copy_value(value))  # no size re-check, as moto's copy
    clone.attrs = attrs
    return clone


def _copy_value(value):
    kind = type(value)
    if not hasattr(value, "type"):  # not an attribute value: as moto's copy would
        return _copy.deepcopy(value)
    clone = kind.__new__(kind)
    clone.type = value.type
    inner = value.value
    if value.type == "L":
        clone.value = [_copy_value(v) for v in inner]
    elif value.type == "M":
        clone.value = {k: _copy_value(v) for k, v in inner.items()}
    elif value.type in ("SS", "NS", "BS"):
        clone.value = list(inner)
    else:
        clone.value = inner
    return clone
