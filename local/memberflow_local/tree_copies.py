"""moto's UpdateExpression parse trees copied without ``copy.deepcopy`` (moto 5.2.5 seam,
installed by ``expressions.install``; parity: tests/integration/test_local_fast_paths.py).

moto validates an UpdateExpression on a deep copy of its parse tree, and the parse cache
hands it the same tree again and again: the tree's shape is learned once (a plan) and
each copy only allocates and links nodes. The plan also tells the validator's walks which
subtrees can matter to them (``traversal.Walks``)."""

from __future__ import annotations

import copy as _copy
import threading

PLANS_MAX = 20_000  # distinct parse trees whose plan is kept; past this it starts again


def tree_copy(value, memo=None):
    """``copy.deepcopy`` for moto's UpdateExpression trees, without ``__reduce_ex__``.

    The trees come from the parse cache, so the same tree is copied again and again: its
    shape is learned once (:class:`_Plan`) and each copy only allocates and links nodes."""
    from moto.dynamodb.parsing.ast_nodes import Node

    if memo is None and isinstance(value, Node):
        plan = plans.get(id(value))
        if plan is None or plan.root is not value:
            plan = _Plan.of(value, Node)
            if len(plans) >= PLANS_MAX:
                plans.clear()
            plans[id(value)] = plan
        if plan.specs is not None:
            clones = plan.copy_all()
            last_copy.plan, last_copy.clones = plan, clones
            return clones[0]
    if memo is None:
        memo = {}
    return _tree_copy(value, memo, Node)


plans: dict[int, _Plan] = {}
last_copy = threading.local()  # the plan and nodes of this thread's last tree copy


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
