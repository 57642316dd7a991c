"""UpdateItem's 400 KB item check without re-summing the item per action (moto 5.2.5).

moto's ``LimitedSizeDict.__setitem__`` sums the size of every key and value of the item
(the old value of a replaced key included) before each attribute it sets, and refuses
with ``ItemSizeTooLarge`` when that sum plus the new key and value passes 405,000
bytes: an UpdateItem with 20 top-level SET actions on a 40-attribute member summed the
member 20 times (2 % of the demo).

Here moto's check is made against a running total of that same sum, kept only for the
length of one ``UpdateExpressionExecutor.execute`` (one UpdateItem, standalone or in a
transaction; the backend's write lock is held throughout) and only through the actions
that change the item solely by one top-level ``attrs[name] = value``: a SET of a
top-level attribute and an ADD of a number to one. The total is summed afresh (moto's
arithmetic) at the first such set and after any other action, which may change the item
without going through the dict: a nested SET edits a map or list in place, REMOVE pops
a key, ADD of a set and DELETE edit a set in place. A set that would pass the limit is
handed to moto's own ``__setitem__``, which refuses it itself.

Switched with the other expression seams (``expressions.motos_own_expressions()``,
so also ``fast_paths.motos_own_paths()``); parity against moto's own class:
``tests/integration/test_local_item_limits.py``.
"""

from __future__ import annotations

import functools
import threading

LIMIT = 405_000  # moto's (its comment: AWS refuses between 409 and 410 KB)
_current = threading.local()  # the running UpdateItem's ledger, if any


class _Ledger:
    """The size sum of one item's ``attrs`` while one update expression executes."""

    __slots__ = ("attrs", "total", "trusted")

    def __init__(self, attrs):
        self.attrs = attrs
        self.total = None  # None: not known, summed at the next trusted set
        self.trusted = False  # the running action changes attrs only through one set


def install(enabled) -> None:
    from moto.dynamodb.models.dynamo_type import DynamoType, LimitedSizeDict
    from moto.dynamodb.models.utilities import bytesize
    from moto.dynamodb.parsing import executors
    from moto.dynamodb.parsing.ast_nodes import (
        ExpressionAttribute,
        ExpressionAttributeName,
        UpdateExpressionAddAction,
        UpdateExpressionSetAction,
    )

    Executor = executors.UpdateExpressionExecutor
    if getattr(Executor, "_memberflow_execute", None) is not None:
        return
    original_execute, original_set = Executor.execute, LimitedSizeDict.__setitem__
    top_level = (ExpressionAttribute, ExpressionAttributeName)

    def size(obj) -> int:  # moto's, for a key or a value
        return obj.size() if type(obj) is DynamoType else bytesize(str(obj))

    def trusted(node, executor) -> bool:
        """The action only does ``item.attrs[name] = value`` (moto's SetExecutor/AddExecutor)."""
        kind = type(node)
        if kind is UpdateExpressionSetAction:
            if executor is not executors.SetExecutor:
                return False
        elif kind is UpdateExpressionAddAction:
            if executor is not executors.AddExecutor:
                return False
            value = node.children[1].children[0] if len(node.children) == 2 else None
            # ADD of a set appends to the stored set in place
            if type(value) is not DynamoType or value.type != "N":
                return False
        else:
            return False
        path = node.children[0].children
        return len(path) == 1 and type(path[0]) in top_level

    @functools.wraps(original_execute)
    def execute(self, node=None):
        ledger = getattr(_current, "ledger", None)
        if node is None:
            if not enabled():
                return original_execute(self)
            _current.ledger = _Ledger(self.item.attrs)
            try:
                return execute(self, self.update_ast)
            finally:
                _current.ledger = ledger
        if ledger is None or ledger.attrs is not self.item.attrs:
            return original_execute(self, node)
        # moto's execute(), with each action marked trusted or not
        node_executor = self.get_specific_execution(node)
        if node_executor is None:
            for child in node.children:
                execute(self, child)
            return None
        ledger.trusted = trusted(node, node_executor)
        if not ledger.trusted:
            ledger.total = None
        try:
            node_executor(node, self.expression_attribute_names).execute(self.item)
        finally:
            if not ledger.trusted:
                ledger.total = None
            ledger.trusted = False
        return None

    @functools.wraps(original_set)
    def __setitem__(self, key, value):
        ledger = getattr(_current, "ledger", None)
        if ledger is None or ledger.attrs is not self or not ledger.trusted:
            return original_set(self, key, value)
        total = ledger.total
        if total is None:
            total = sum(size(k) + size(v) for k, v in dict.items(self))
        added = size(key) + size(value)
        if total + added > LIMIT:
            ledger.total = None
            return original_set(self, key, value)  # moto refuses it itself
        if key in self:
            total -= size(key) + size(dict.__getitem__(self, key))
        dict.__setitem__(self, key, value)
        ledger.total = total + added
        return None

    Executor._memberflow_execute = original_execute
    LimitedSizeDict._memberflow_setitem = original_set
    Executor.execute = execute
    LimitedSizeDict.__setitem__ = __setitem__
