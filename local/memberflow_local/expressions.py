"""DynamoDB expressions parsed once, not on every call (moto 5.2.5 seams).

moto re-parses every expression of every request, often twice (once in the response
handler to check the names used, once in the backend), and validates an
UpdateExpression on a ``copy.deepcopy`` of its parse tree (a generic deep copy walks
every node through ``__reduce_ex__``: a sixth of the demo's DynamoDB time).

1. Condition and filter expressions (``ConditionExpressionParser.parse``): parsed once
   per expression, names and value types, each call's values put into a copy of the
   tree (``conditions.py``). The names and values it found are replayed onto each
   parser, as moto reads them afterwards (``validate_attributes_used``).
2. UpdateExpression validation (module ``deepcopy`` of ``moto.dynamodb.parsing.validators``,
   and its processors' walks, ``traversal.py``):
   the copy of the parse tree is made by a copier that knows moto's tree nodes (a node
   is its ``__dict__``: children, parent, values), with the same sharing as
   ``copy.deepcopy``; any other object is deep-copied as before. (The parse itself is
   cached in dynamodb.py, ``UpdateExpressionParser.make``.) The copy's plan also tells
   the processors' walks which subtrees can matter to them (``traversal.Walks``), and
   UpdateItem's item-size check keeps a running total (``item_limits.py``).
3. The response handler's scans of an UpdateExpression for the name and value
   placeholders it uses (``UpdateExpressionParser`` as imported by
   ``moto.dynamodb.responses``): once per expression text.
4. KeyConditionExpression (``parse_expression`` as imported by ``moto.dynamodb.responses``)
   and ProjectionExpression (``ProjectionExpressionParser.parse``): pure functions of
   their inputs; each caller gets its own copy of the (small) result.

Exceptions are never cached: a bad expression fails each time as moto fails it.
``motos_own_expressions()`` switches every cache off (parity tests, the benchmark).
"""

from __future__ import annotations

import contextlib
import json
from types import SimpleNamespace

from memberflow_local import traversal
from memberflow_local.tree_copies import last_copy, plans, tree_copy

# Distinct expressions (with their values) kept; past this the cache starts again.
CACHE_MAX = 20_000
_on = {"enabled": True}
_key_conditions: dict[tuple, tuple] = {}
_projections: dict[tuple, tuple] = {}
_update_views: dict[str, _ParsedUpdate] = {}
_originals: dict[str, object] = {}


def _frozen(value) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), default=repr)


def _remember(cache: dict, key, value) -> None:
    if len(cache) >= CACHE_MAX:
        cache.clear()
    cache[key] = value


# ------------------------------------------------------------ update validation
# The first three of the UpdateExpression validator's ten passes (clause counts,
# overlapping paths, no key attribute updated) only read the expression, its names and
# the table's key attributes, and change nothing: once they passed for those, they pass
# again, and are skipped. The other passes read the values and the item: always run.
_passed_static: dict[tuple, object] = {}


def _static_processors():
    from moto.dynamodb.parsing.validators import (
        ActionCountValidator,
        OverlappingPathsValidator,
        UpdateHashRangeKeyValidator,
    )

    return (ActionCountValidator, OverlappingPathsValidator, UpdateHashRangeKeyValidator)


def _walks(validator):
    """The validator's tree as a plan's copy (traversal.Walks), if it is one."""
    copied = validator.__dict__.pop("_memberflow_copy", None)  # one validation per copy
    if copied is None:
        return None
    plan, clones = copied
    shape = plan.classes()
    if shape is None or clones[0] is not validator.node_to_validate:
        return None
    return traversal.Walks(*shape, clones, plan.shapes)


def _validate_once(original, static):
    def validate(self, expression=None):
        processors = self.processors
        if (
            not _on["enabled"]
            or expression is None
            or tuple(type(p) for p in processors[:3]) != static
        ):
            return original(self)
        key = (
            id(expression),
            _frozen(self.expression_attribute_names),
            tuple(self.table.table_key_attrs),
        )
        node = self.node_to_validate
        with traversal.walking(_walks(self)):
            if _passed_static.get(key) is not expression:
                for processor in processors[:3]:
                    node = processor.traverse(node)
                # The parse tree is kept by the UpdateExpression cache: its id stays its own.
                _remember(_passed_static, key, expression)
            for processor in processors[3:]:
                node = processor.traverse(node)
        return node

    return validate


# ------------------------------------------------ the response handler's clause scans
class _ParsedUpdate:
    """What moto's response handler reads of a parsed UpdateExpression (the names and
    values it uses, through ``find_clauses``), found once per expression text: the
    parse tree is the parse cache's, which nothing changes (validation works on a copy)."""

    __slots__ = ("found", "tree")

    def __init__(self, tree):
        self.tree, self.found = tree, {}

    def find_clauses(self, clause_types):
        key = tuple(clause_types)
        hit = self.found.get(key)
        if hit is None:
            hit = self.found[key] = tuple(self.tree.find_clauses(clause_types))
        return list(hit)


def _update_parser(parser):
    """``UpdateExpressionParser`` as moto's response handler sees it."""

    def make(expression_str):
        if not _on["enabled"]:
            return parser.make(expression_str)
        hit = _update_views.get(expression_str)
        if hit is None:
            hit = _ParsedUpdate(parser.make(expression_str))  # a bad one raises each time
            _remember(_update_views, expression_str, hit)
        return hit

    return SimpleNamespace(make=make)


# ------------------------------------------------------- key conditions, projections
def _cached_key_condition(original):
    def parse_expression(
        key_condition_expression,
        expression_attribute_values,
        expression_attribute_names,
        schema,
    ):
        if not _on["enabled"]:
            return original(
                key_condition_expression,
                expression_attribute_values,
                expression_attribute_names,
                schema,
            )
        key = (
            key_condition_expression,
            _frozen(expression_attribute_values),
            _frozen(expression_attribute_names),
            _frozen(schema),
        )
        hit = _key_conditions.get(key)
        if hit is None:
            hit = original(
                key_condition_expression,
                expression_attribute_values,
                expression_attribute_names,
                schema,
            )
            _remember(_key_conditions, key, hit)
        # Each caller gets its own lists (moto appends to the names list); the
        # conditions' DynamoType values are only read.
        return tuple(list(part) for part in hit)

    return parse_expression


def _cached_projection(original):
    def parse(self):
        if not _on["enabled"]:
            return original(self)
        key = (self.projection_expression, _frozen(self.expression_attribute_names))
        hit = _projections.get(key)
        if hit is None:
            paths = original(self)
            hit = (paths, tuple(self.expr_attr_names_found))
            _remember(_projections, key, hit)
            return [list(path) for path in paths]
        paths, names = hit
        self.expr_attr_names_found.extend(names)
        return [list(path) for path in paths]

    return parse


# ----------------------------------------------------------------------- install
def install() -> None:
    from moto.dynamodb import comparisons, responses
    from moto.dynamodb.parsing import validators

    from memberflow_local import conditions

    if _originals:
        return
    parser = comparisons.ConditionExpressionParser
    _originals["condition_parse"] = parser.parse
    parser.parse = conditions.cached_parse(parser.parse, lambda: _on["enabled"])

    traversal.install(lambda: _on["enabled"])
    from memberflow_local import item_limits

    item_limits.install(lambda: _on["enabled"])
    _originals["validators_deepcopy"] = validators.deepcopy
    validators.deepcopy = _switched(tree_copy, validators.deepcopy)

    update = validators.UpdateExpressionValidator
    original_init, original_validate = update.__init__, update.validate
    checked = _validate_once(original_validate, _static_processors())

    def __init__(self, expression, *args, **kwargs):  # keeps the tree validated
        last_copy.plan = last_copy.clones = None
        original_init(self, expression, *args, **kwargs)
        self._memberflow_expression = expression
        clones = last_copy.clones
        if clones is not None and clones[0] is self.node_to_validate:
            self._memberflow_copy = (last_copy.plan, clones)
        last_copy.plan = last_copy.clones = None

    def validate(self):
        return checked(self, getattr(self, "_memberflow_expression", None))

    update.__init__, update.validate = __init__, validate

    _originals["update_parser"] = responses.UpdateExpressionParser
    responses.UpdateExpressionParser = _update_parser(responses.UpdateExpressionParser)

    _originals["parse_expression"] = responses.parse_expression
    responses.parse_expression = _cached_key_condition(responses.parse_expression)

    projection = responses.ProjectionExpressionParser
    _originals["projection_parse"] = projection.parse
    projection.parse = _cached_projection(projection.parse)


def _switched(ours, theirs):
    def deepcopy(value, memo=None):
        return (ours if _on["enabled"] else theirs)(value, memo)

    return deepcopy


@contextlib.contextmanager
def switched_off(flags: dict):
    """``flags["enabled"]`` off for a while: a seam's own path against moto's."""
    before = flags["enabled"]
    flags["enabled"] = False
    try:
        yield
    finally:
        flags["enabled"] = before


def motos_own_expressions():
    """moto's own parse-per-call and deep copies for a while (parity tests, bench)."""
    return switched_off(_on)


def clear() -> None:
    for cache in (_key_conditions, _projections, _passed_static, plans, _update_views):
        cache.clear()
    from memberflow_local import conditions

    conditions.clear()
