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
import copy as _copy
import json
import threading
from types import SimpleNamespace

from memberflow_local import traversal

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
def tree_copy(value, memo=None):
    """``copy.deepcopy`` for moto's UpdateExpression trees, without ``__reduce_ex__``.

    The trees come from the parse cache, so the same tree is copied again and again: its
    shape is learned once (:class:`_Plan`) and each copy only allocates and links nodes."""
    from moto.dynamodb.parsing.ast_nodes import Node

    if memo is None and isinstance(value, Node):
        plan = _plans.get(id(value))
        if plan is None or plan.root is not value:
            plan = _Plan.of(value, Node)
            _remember(_plans, id(value), plan)
        if plan.specs is not None:
            clones = plan.copy_all()
            _last_copy.plan, _last_copy.clones = plan, clones
            return clones[0]
    if memo is None:
        memo = {}
    return _tree_copy(value, memo, Node)


_plans: dict[int, _Plan] = {}
_last_copy = threading.local()  # the plan and nodes of this thread's last tree copy


class _Plan:
    """A tree's nodes in a fixed order, each as (class, its ``__dict__`` with the nodes it
    points to replaced by their positions). moto's nodes hold ``children`` (nodes and
    strings), ``parent`` and ``type``; a tree holding anything else gets no plan
    (``specs`` None) and is copied by the general walk."""

    __slots__ = ("_classes", "root", "shapes", "specs")

    def __init__(self, root, specs):
        self.root, self.specs = root, specs
        self._classes = None
        self.shapes: dict = {}  # per processor class, for traversal.Walks

    def classes(self):
        """Per node, the node classes in its subtree (through ``children``, as moto's
        walk goes) and its node children as (position, node); None unless every node's
        children come after it in the plan's order and name it as their ``parent``."""
        if self._classes is None:
            count = len(self.specs)
            under: list = [None] * count
            kids: list = [()] * count
            for j in range(count - 1, -1, -1):
                kind, fields = self.specs[j]
                found = {kind}
                for key, how, field in fields:
                    if key != "children" or how != 2:
                        continue
                    kids[j] = tuple((i, k) for i, k in enumerate(field) if type(k) is int)
                    for _, k in kids[j]:
                        if k <= j or ("parent", 1, j) not in self.specs[k][1]:
                            self._classes = False
                            return None
                        found |= under[k]
                under[j] = frozenset(found)
            self._classes = (tuple(under), tuple(kids))
        return self._classes or None

    @classmethod
    def of(cls, root, Node) -> _Plan:
        order, position = [], {}

        def place(node) -> int:
            found = position.get(id(node))
            if found is None:
                found = position[id(node)] = len(order)
                order.append(node)
            return found

        place(root)
        specs, i = [], 0
        while i < len(order):
            node = order[i]
            kind = type(node)
            if "__deepcopy__" in kind.__dict__:
                return cls(root, None)
            fields = []
            for key, field in node.__dict__.items():
                if isinstance(field, Node):
                    fields.append((key, 1, place(field)))
                elif type(field) is list:
                    items = []
                    for item in field:
                        if isinstance(item, Node):
                            items.append(place(item))
                        elif type(item) in _ATOMS:
                            items.append((item,))  # an atom, kept as it is
                        else:
                            return cls(root, None)
                    fields.append((key, 2, tuple(items)))
                elif type(field) in _ATOMS:
                    fields.append((key, 0, field))
                else:
                    return cls(root, None)
            specs.append((kind, tuple(fields)))
            i += 1
        return cls(root, tuple(specs))

    def copy(self):
        return self.copy_all()[0]

    def copy_all(self) -> list:
        """The copy's nodes, in the plan's order (the root first)."""
        new = object.__new__
        clones = [new(kind) for kind, _ in self.specs]
        for clone, (_, fields) in zip(clones, self.specs, strict=True):
            state = clone.__dict__
            for key, how, field in fields:
                if how == 1:
                    state[key] = clones[field]
                elif how == 2:
                    state[key] = [clones[item] if type(item) is int else item[0] for item in field]
                else:
                    state[key] = field
        return clones


_ATOMS = (str, int, float, bool, type(None))


def _tree_copy(value, memo, Node):
    kind = type(value)
    if kind in _ATOMS:
        return value
    found = memo.get(id(value))
    if found is not None:
        return found
    if isinstance(value, Node) and "__deepcopy__" not in kind.__dict__:
        clone = object.__new__(kind)
        memo[id(value)] = clone
        _keep(memo, value)
        clone.__dict__.update({k: _tree_copy(v, memo, Node) for k, v in value.__dict__.items()})
        return clone
    if kind is list:
        clone = []
        memo[id(value)] = clone
        _keep(memo, value)
        clone.extend(_tree_copy(v, memo, Node) for v in value)
        return clone
    return _copy.deepcopy(value, memo)


def _keep(memo, value) -> None:
    # As copy.deepcopy does: the originals stay alive while the memo (keyed by id) is used.
    memo.setdefault(id(memo), []).append(value)


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
        _last_copy.plan = _last_copy.clones = None
        original_init(self, expression, *args, **kwargs)
        self._memberflow_expression = expression
        clones = _last_copy.clones
        if clones is not None and clones[0] is self.node_to_validate:
            self._memberflow_copy = (_last_copy.plan, clones)
        _last_copy.plan = _last_copy.clones = None

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
    for cache in (_key_conditions, _projections, _passed_static, _plans, _update_views):
        cache.clear()
    from memberflow_local import conditions

    conditions.clear()
