"""moto's ``Item.to_json`` without its deep copies, and no copy of UpdateItem's old item.

moto builds an item's JSON form (``Item.to_json``) with ``DynamoType.to_regular_json``,
which ``copy.deepcopy``s every nested value and then walks it again. Every UpdateItem
does it for the old item, after a ``copy.deepcopy`` of that whole item made only to read
its JSON before the update; the stack's transaction guard does it for each item a
transaction touches (``dynamodb.py``, to restore them on failure). Here the same dicts
are built in one walk that makes fresh containers, so the old item needs no copy first.
Values this walk does not know (none in memberflow's tables) take moto's own path.

Parity: ``tests/integration/test_local_item_json.py`` compares both paths on every
attribute type, nested and at the top level, and UpdateItem's answers for every
ReturnValues, a refused condition and a cancelled transaction.
"""

from __future__ import annotations

import base64
import copy as _copy
import functools
from types import SimpleNamespace

from memberflow_local.expressions import switched_off

_on = {"enabled": True}
_IMMUTABLE = (str, bytes, bool, int, float, type(None))


def _regular(value, DynamoType):
    """``value.to_regular_json()``: a fresh structure, nothing shared that could change."""
    kind, inner = value.type, value.value
    shape = type(inner)
    if shape is dict:
        return {
            kind: {
                k: _regular(v, DynamoType) if isinstance(v, DynamoType) else _copy.deepcopy(v)
                for k, v in inner.items()
            }
        }
    if shape is list:
        return {
            kind: [
                _regular(v, DynamoType) if isinstance(v, DynamoType) else _copy.deepcopy(v)
                for v in inner
            ]
        }
    if shape not in _IMMUTABLE:
        return value._memberflow_to_regular_json()
    if kind == "B" and shape is str:
        return {kind: base64.b64decode(inner)}
    return {kind: inner}


def item_json(item, root_attr_name: str = "Attributes") -> dict:
    """``Item.to_json`` as moto builds it (top-level values as they are stored)."""
    DynamoType = type(item).__memberflow_dynamo_type__
    attributes = {}
    for key, attribute in item.attrs.items():
        inner = attribute.value
        if isinstance(inner, dict):
            attributes[key] = {
                attribute.type: {k: _regular(v, DynamoType) for k, v in inner.items()}
            }
        elif isinstance(inner, list):
            attributes[key] = {
                attribute.type: [
                    _regular(v, DynamoType) if isinstance(v, DynamoType) else v for v in inner
                ]
            }
        else:
            attributes[key] = {attribute.type: inner}
    return {root_attr_name: attributes}


def install() -> None:
    from moto.dynamodb import responses
    from moto.dynamodb.models.dynamo_type import DynamoType, Item

    if getattr(Item, "_memberflow_to_json", None) is not None:
        return
    original_to_json = Item.to_json

    @functools.wraps(original_to_json)
    def to_json(self, root_attr_name: str = "Attributes"):
        if not _on["enabled"]:
            return original_to_json(self, root_attr_name)
        return item_json(self, root_attr_name)

    def pre_image(value, memo=None):
        # UpdateItem copies the old item only to read its to_json() before the update,
        # and the walk above builds fresh containers: no copy is needed at all
        if _on["enabled"] and type(value) is Item:
            return value
        return _copy.deepcopy(value, memo)

    Item.__memberflow_dynamo_type__ = DynamoType
    DynamoType._memberflow_to_regular_json = DynamoType.to_regular_json
    Item._memberflow_to_json = original_to_json
    Item.to_json = to_json
    # responses.py copies with copy.deepcopy only for UpdateItem's pre-image
    responses.copy = SimpleNamespace(deepcopy=pre_image, copy=_copy.copy)


def motos_own_item_json():
    """moto's own ``to_json`` and pre-image copy for a while (parity tests, bench)."""
    return switched_off(_on)
