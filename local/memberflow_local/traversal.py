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
the copy's plan (``tree_copies._Plan``); a processor that keeps moto's no-op
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

    __slots__ = ("classes", "clones", "extra", "index", "kids", "kinds", "shapes", "untracked")

    def __init__(self, classes, kids, clones, shapes: dict):
        self.classes = classes  # per plan node: the node classes of its subtree
        self.kids = kids  # per plan node: its node children as (position, plan node)
        self.clones = clones  # kept alive, so no other node can take one of their ids
        self.index = {id(clone): j for j, clone in enumerate(clones)}
        self.shapes = shapes  # the plan's: per processor class, what its walk enters
        self.extra: set[type] = set()  # classes processors brought into the tree
        self.untracked = False

    def shape(self, cls, processing: dict, acts_on: tuple):
        """For a processor's walk: per plan node whether to enter it, which children
        to enter, the map key that handles it, whether its pre-processing acts;
        None: walk everything."""
        if self.untracked:
            return None
        found = self.shapes.get(cls)
        if found is None:
            keys = tuple(processing)
            every = keys + acts_on
            kinds = [type(clone) for clone in self.clones]  # the plan's node classes
            needed = tuple(any(issubclass(kind, every) for kind in under) for under in self.classes)
            found = self.shapes[cls] = (
                keys,
                every,
                needed,
                tuple(tuple((i, k) for i, k in kids if needed[k]) for kids in self.kids),
                tuple(next((key for key in keys if issubclass(kind, key)), None) for kind in kinds),
                tuple(bool(acts_on) and issubclass(kind, acts_on) for kind in kinds),
            )
        keys = found[0]
        if len(keys) != len(processing):
            return None
        for key in keys:  # moto's maps are fixed per class: checked, not assumed
            if key not in processing:
                return None
        return None if self._brought(found[1]) else found

    def _brought(self, keys: tuple) -> bool:
        for kind in self.extra:
            if issubclass(kind, keys):
                return True
        return False

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
        kind = type(new)
        if not node_class(kind):
            return
        self.extra.add(kind)
        for child in new.children or ():  # a value's DynamoType: no node below
            if node_class(type(child)):
                self.returned(None, child, node_class)


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
        if walks is not None:
            j = walks.index.get(id(node))
            acts_on = pre_acts_on.get(cls.pre_processing_of_child)
            if j is None:  # not this validation's tree
                walks.untracked = True
            elif acts_on is not None:
                shape = walks.shape(cls, processing, acts_on)
                if shape is not None:
                    if not shape[2][j]:
                        return node  # nothing in the tree this processor handles or acts for
                    return _walk_needed(self, processing, walks, shape, node, j, child_id)
        return _walk(self, cls, processing, walks, node, child_id)

    def _walk(self, cls, processing, walks, node, child_id):
        """moto's walk (with the processors' results tracked for ``walks``)."""
        pre = self.pre_processing_of_child

        def key_for(kind: type, cls=cls, processing=processing):
            found = matched.get((cls, kind), matched)
            if found is matched:  # first matching class in the map's order, as process()
                found = next((k for k in processing if issubclass(kind, k)), None)
                matched[(cls, kind)] = found
            return found

        def walk(node, child_id, holder):
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

        return walk(node, child_id, node.parent)

    def _walk_needed(self, processing, walks, shape, node, j, child_id):
        """The walk entering only plan nodes whose subtree holds a class the processor
        handles or one its pre_processing_of_child acts for. A child that replaced one
        of the plan's was brought in by a processor (its classes, ``extra``, are
        neither) or moved up from below the one it replaced."""

        def walk(
            node,
            j,
            child_id,
            holder,
            needed=shape[2],
            enter=shape[3],
            handled=shape[4],
            acts=shape[5],
            processing=processing,
            walks=walks,
            pre=self.pre_processing_of_child,
            index_get=walks.index.get,
            clones=walks.clones,
        ):
            parent = node.parent
            children = node.children
            if children is not None:
                if acts[j]:
                    for i in range(len(children)):
                        pre(node, i)
                        child = children[i]
                        k = index_get(id(child))
                        if k is not None and needed[k]:
                            walk(child, k, i, node)
                else:
                    for i, k in enter[j]:
                        child = children[i]
                        if child is not clones[k]:  # replaced
                            k = index_get(id(child))
                            if k is None or not needed[k]:
                                continue
                        walk(child, k, i, node)
            key = handled[j]
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

        return walk(node, j, child_id, node.parent)

    DepthFirstTraverser._memberflow_walk = original
    DepthFirstTraverser.traverse_node_recursively = traverse_node_recursively
