"""moto's UpdateExpression validators walking the tree without per-node overhead.

An UpdateItem is validated by ten processors, each a full depth-first walk of the
expression's tree (``moto.dynamodb.parsing.ast_nodes.DepthFirstTraverser``); seven of
them run on every call (the other three once per expression, ``expressions.py``).
moto's walk rebuilds each processor's ``_processing_map()`` dict twice per node and
checks every node with ``isinstance`` against ``Node``, an ABC: an eighth of an
UpdateItem at the demo's size. Here the same walk, in the same order, with the map read
once per walk and the class checks remembered per node class. Processors that override
the walk itself, ``process`` or ``nodes_to_be_processed`` keep moto's.

One validation's walks also skip what cannot matter (:class:`Walks`): the tree is a
copy of a cached parse tree, so the node classes under each of its nodes are known from
the copy's plan (``expressions._Plan``); a processor that keeps moto's no-op
``pre_processing_of_child`` does nothing in a subtree holding no class of its map, and
the walk does not enter it (the function pass and the missing-path pass of a plain
``SET #a = :a, ...`` visit only the root). The classes a processor's result brings in
(a value, a missing path) are added to every subtree's; a processor's result taken from
anywhere but below the node it replaces, a node whose ``parent`` is not the node holding
it, or a processor walked by moto's own code stop the skipping for the rest of that
validation.

Switched with the other expression seams (``expressions.motos_own_expressions()``);
parity: the expression tests of ``tests/integration/test_local_fast_paths.py`` and
``test_local_conditions.py`` answer the same both ways, errors included.
"""

from __future__ import annotations

import contextlib
import functools
import threading

_current = threading.local()  # the running validation's Walks, if any


class Walks:
    """One UpdateExpression validation's tree: for each node of its plan, whether a
    processor can have anything to do under it."""

    __slots__ = ("classes", "clones", "extra", "index", "kids", "needed_by", "untracked")

    def __init__(self, classes, kids, clones, needed_by: dict):
        self.classes = classes  # per plan node: the node classes of its subtree
        self.kids = kids  # per plan node: its node children as (position, plan node)
        self.clones = clones  # kept alive, so no other node can take one of their ids
        self.index = {id(clone): j for j, clone in enumerate(clones)}
        self.needed_by = needed_by  # the plan's: classes -> (needed, enter) per node
        self.extra: set[type] = set()  # classes processors brought into the tree
        self.untracked = False

    def needed(self, keys: tuple):
        """Per plan node, whether its subtree can hold a node of ``keys``, and which of
        its children do; None: walk everything."""
        if self.untracked or any(issubclass(kind, keys) for kind in self.extra):
            return None
        found = self.needed_by.get(keys)
        if found is None:
            needed = tuple(any(issubclass(kind, keys) for kind in under) for under in self.classes)
            enter = tuple(tuple((i, k) for i, k in kids if needed[k]) for kids in self.kids)
            found = self.needed_by[keys] = (needed, enter)
        return found

    def returned(self, old, new, node_class) -> None:
        """A processor replaced ``old`` by ``new``: note what ``new`` brings in."""
        if new is old:
            return
        if id(new) in self.index:  # a node of the tree, moved up: must come from below
            above = new.parent
            while above is not None and above is not old:
                above = above.parent
            if above is None:
                self.untracked = True
            return
        pending = [new]
        while pending:
            node = pending.pop()
            kind = type(node)
            if node_class(kind):
                self.extra.add(kind)
                pending.extend(node.children or ())


@contextlib.contextmanager
def walking(walks):
    """Run one validation's processors with its :class:`Walks` (None: walk everything)."""
    before = getattr(_current, "walks", None)
    _current.walks = walks
    try:
        yield
    finally:
        _current.walks = before


def _pre_acts_on() -> dict:
    """Processors whose ``pre_processing_of_child`` does something only for a child of
    certain node classes (moto 5.2.5, checked by test_local_update_walks.py): the
    resolving pass switches path resolution off for an action's first child (the path
    written) and on for the others."""
    from moto.dynamodb.parsing import validators as v

    actions = (
        v.UpdateExpressionSetAction,
        v.UpdateExpressionRemoveAction,
        v.UpdateExpressionDeleteAction,
        v.UpdateExpressionAddAction,
    )
    return {v.ExpressionAttributeResolvingProcessor.pre_processing_of_child: actions}


def install(enabled) -> None:
    from moto.dynamodb.parsing.ast_nodes import DepthFirstTraverser, Node

    if getattr(DepthFirstTraverser, "_memberflow_walk", None) is not None:
        return
    original = DepthFirstTraverser.traverse_node_recursively
    own = (
        DepthFirstTraverser.traverse_node_recursively,
        DepthFirstTraverser.process,
        DepthFirstTraverser.nodes_to_be_processed,
    )
    pre_acts_on = {DepthFirstTraverser.pre_processing_of_child: (), **_pre_acts_on()}
    is_node: dict[type, bool] = {}
    matched: dict[tuple, object] = {}  # (processor class, node class) -> map key or None
    acting: dict[tuple, bool] = {}  # (pre's parent classes, node class) -> pre acts

    def node_class(kind: type) -> bool:
        found = is_node.get(kind)
        if found is None:
            found = is_node[kind] = issubclass(kind, Node)
        return found

    @functools.wraps(original)
    def traverse_node_recursively(self, node, child_id=-1):
        cls = type(self)
        walks = getattr(_current, "walks", None)
        if not enabled() or (
            cls.traverse_node_recursively,
            cls.process,
            cls.nodes_to_be_processed,
        ) != (traverse_node_recursively, *own[1:]):
            if walks is not None:
                walks.untracked = True
            return original(self, node, child_id)
        processing = self._processing_map()  # the same bound methods for the whole walk
        pre = self.pre_processing_of_child
        acts_on = pre_acts_on.get(cls.pre_processing_of_child)
        needed = None
        if walks is not None:
            if id(node) not in walks.index:  # not this validation's tree
                walks.untracked = True
                walks = None
            elif acts_on is not None:
                needed = walks.needed((*processing, *acts_on))

        def key_for(kind: type):
            found = matched.get((cls, kind), matched)
            if found is matched:  # first matching class in the map's order, as process()
                found = next((k for k in processing if issubclass(kind, k)), None)
                matched[(cls, kind)] = found
            return found

        def pre_acts(kind: type) -> bool:
            found = acting.get((acts_on, kind))
            if found is None:
                found = acting[(acts_on, kind)] = issubclass(kind, acts_on)
            return found

        def walk(node, child_id, holder):  # moto's walk
            kind = type(node)
            if not node_class(kind):
                return node
            parent = node.parent
            children = node.children
            if children is not None:
                for i, child in enumerate(children):
                    pre(node, i)
                    walk(child, i, node)
            key = key_for(kind)
            if key is not None:
                if walks is not None:
                    if parent is not holder:
                        walks.untracked = True  # moto writes the result where parent says
                    result = processing[key](node)
                    walks.returned(node, result, node_class)
                    node = result
                else:
                    node = processing[key](node)
                node.parent = parent
                if parent:
                    parent.children[child_id] = node
            return node

        def walk_needed(node, j, child_id, holder):
            # Only plan nodes whose subtree holds a class the processor handles or one
            # its pre_processing_of_child acts for are entered. A child that replaced
            # one of the plan's was brought in by a processor (its classes, ``extra``,
            # are neither) or moved up from below the one it replaced.
            kind = type(node)
            parent = node.parent
            children = node.children
            if children is not None:
                if acts_on and pre_acts(kind):
                    for i, child in enumerate(children):
                        pre(node, i)
                        k = index_get(id(child))
                        if k is not None and needed[k]:
                            walk_needed(child, k, i, node)
                else:
                    for i, k in enter[j]:
                        child = children[i]
                        if child is not clones[k]:  # replaced
                            k = index_get(id(child))
                            if k is None or not needed[k]:
                                continue
                        walk_needed(child, k, i, node)
            key = key_for(kind)
            if key is not None:
                if parent is not holder:
                    walks.untracked = True  # moto writes the result where parent says
                result = processing[key](node)
                walks.returned(node, result, node_class)
                node = result
                node.parent = parent
                if parent:
                    parent.children[child_id] = node
            return node

        if needed is None:
            return walk(node, child_id, node.parent)
        needed, enter = needed
        index_get, clones = walks.index.get, walks.clones
        j = index_get(id(node))
        if not needed[j]:
            return node  # nothing in the tree this processor handles or acts for
        return walk_needed(node, j, child_id, node.parent)

    DepthFirstTraverser._memberflow_walk = original
    DepthFirstTraverser.traverse_node_recursively = traverse_node_recursively
