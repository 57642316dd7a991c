"""moto's UpdateExpression validators walking the tree without per-node overhead.

An UpdateItem is validated by ten processors, each a full depth-first walk of the
expression's tree (``moto.dynamodb.parsing.ast_nodes.DepthFirstTraverser``); seven of
them run on every call (the other three once per expression, ``expressions.py``).
moto's walk rebuilds each processor's ``_processing_map()`` dict twice per node and
checks every node with ``isinstance`` against ``Node``, an ABC: an eighth of an
UpdateItem at the demo's size. Here the same walk, in the same order, with the map read
once per walk and the class checks remembered per node class. Processors that override
the walk itself, ``process`` or ``nodes_to_be_processed`` keep moto's.

Switched with the other expression seams (``expressions.motos_own_expressions()``);
parity: the expression tests of ``tests/integration/test_local_fast_paths.py`` and
``test_local_conditions.py`` answer the same both ways, errors included.
"""

from __future__ import annotations

import functools


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
        if not enabled() or (
            cls.traverse_node_recursively,
            cls.process,
            cls.nodes_to_be_processed,
        ) != (traverse_node_recursively, *own[1:]):
            return original(self, node, child_id)
        processing = self._processing_map()  # the same bound methods for the whole walk
        pre = self.pre_processing_of_child

        def key_for(kind: type):
            found = matched.get((cls, kind), matched)
            if found is matched:  # first matching class in the map's order, as process()
                found = next((k for k in processing if issubclass(kind, k)), None)
                matched[(cls, kind)] = found
            return found

        def walk(node, child_id):
            kind = type(node)
            if not node_class(kind):
                return node
            parent = node.parent
            children = node.children
            if children is not None:
                for i, child in enumerate(children):
                    pre(node, i)
                    walk(child, i)
            key = key_for(kind)
            if key is not None:
                node = processing[key](node)
                node.parent = parent
                if parent:
                    parent.children[child_id] = node
            return node

        return walk(node, child_id)

    DepthFirstTraverser._memberflow_walk = original
    DepthFirstTraverser.traverse_node_recursively = traverse_node_recursively
