"""Condition and filter expressions parsed once per shape, whatever their values.

moto's ``ConditionExpressionParser.parse`` lexes and parses the expression on every
call and puts the values into the tree it returns (``AttributeValue`` operands). Most
of memberflow's conditions carry a value that changes on every call (the member's
version for the optimistic lock, a send's claim), so a cache keyed on the values
missed nearly always: parsing was 3 % of the demo. Here the parse is made once per
expression, names and value *types*, with a stand-in for each value
(:class:`_Slot`), and each call gets a copy of that tree with its own values in place.

Why that is the same tree: the parser reads a value only through its operand's type
(``BETWEEN`` refuses a NULL bound; everything else reads values when the tree is
evaluated, in ``Op.expr``), and the type is part of the key. Each call gets fresh
operand nodes, so nothing of one call's values is seen by another. A parse that fails
with the stand-ins is run again with the real values, so errors are moto's own.

Parity: ``tests/integration/test_local_conditions.py``.
"""

from __future__ import annotations

import copy as _copy

CACHE_MAX = 20_000
_templates: dict[tuple, tuple] = {}


class _Slot:
    """Stands for the value of one placeholder (``:v``) in a cached parse."""

    __slots__ = ("name",)

    def __init__(self, name: str):
        self.name = name


def _shape(values) -> tuple | None:
    shape = []
    for name, value in (values or {}).items():
        if type(value) is not dict or len(value) != 1:
            return None  # malformed: moto's own parse reports it
        shape.append((name, next(iter(value))))
    return tuple(sorted(shape))


def cached_parse(original, enabled):
    """``ConditionExpressionParser.parse`` through the shape cache while ``enabled()``."""
    from moto.dynamodb.comparisons import AttributeValue, Func, Op

    def filled(node, values, memo):
        kind = type(node)
        if kind is AttributeValue:
            slot = node.value
            if type(slot) is not _Slot:
                return node
            clone = memo.get(id(node))
            if clone is None:
                clone = memo[id(node)] = AttributeValue.__new__(AttributeValue)
                clone.type, clone.value = node.type, values[slot.name][node.type]
            return clone
        if kind is tuple or kind is list:
            items = [filled(item, values, memo) for item in node]
            if all(new is old for new, old in zip(items, node, strict=True)):
                return node
            return kind(items)
        if isinstance(node, Op | Func):
            clone = memo.get(id(node))
            if clone is None:
                clone = memo[id(node)] = _copy.copy(node)
                for name, value in node.__dict__.items():
                    new = filled(value, values, memo)
                    if new is not value:
                        setattr(clone, name, new)
            return clone
        return node

    def parse(self):
        shape = _shape(self.expression_attribute_values) if enabled() else None
        if shape is None or not self.condition_expression:
            return original(self)
        names = self.expression_attribute_names or {}
        key = (self.condition_expression, tuple(sorted(names.items())), shape)
        hit = _templates.get(key)
        if hit is None:
            real, found = self.expression_attribute_values, len(self.expr_attr_values_found)
            names_found = len(self.expr_attr_names_found)
            self.expression_attribute_values = {name: {t: _Slot(name)} for name, t in shape}
            try:
                template = original(self)
            except Exception:  # noqa: BLE001 - moto's own parse, with the values, reports it
                del self.expr_attr_values_found[found:], self.expr_attr_names_found[names_found:]
                self.expression_attribute_values = real
                return original(self)
            self.expression_attribute_values = real
            hit = (
                template,
                tuple(self.expr_attr_names_found[names_found:]),
                tuple(self.expr_attr_values_found[found:]),
            )
            if len(_templates) >= CACHE_MAX:
                _templates.clear()
            _templates[key] = hit
        else:
            self.expr_attr_names_found.extend(hit[1])
            self.expr_attr_values_found.extend(hit[2])
        return filled(hit[0], self.expression_attribute_values, {})

    return parse


def clear() -> None:
    _templates.clear()
