"""Index and key reads of moto's tables at the cost of what they read (moto 5.2.5 seams:
``Table.{query, all_items, has_idx_items, put_item, delete_item}``,
``DynamoDBBackend.update_item``): queries of an index read only the items holding the
queried key (:class:`IndexKeys`), queries read only their key range (:class:`KeyRanges`),
and index reads see the index lag (``tables.index_lag``). Each has a parity test against
moto's own path (tests/integration/test_local_fast_paths.py)."""

from __future__ import annotations

import contextlib
import functools
import os
import threading
from decimal import Decimal, InvalidOperation

from memberflow_local import index_ranges, scans
from memberflow_local.tables import _backend, _items_of, _lagged_items, _lock, index_lag

# ---------------------------------------------------------------------- queries
# moto's Table.query starts from ``all_items()``, which walks *and sorts* every item
# of the table (DynamoType comparisons, about 15 ms a query on a 2,000-item table),
# then keeps those with the queried key and sorts them again. A table query only
# needs the queried partition; an index query needs the items with the queried index
# key, in no particular order.
# While a query runs, ``all_items`` answers from that (per thread).
_query_items = threading.local()


def _index_queries(Table) -> None:
    original_all_items = Table.all_items
    original_query = Table.query
    original_has_idx_items = Table.has_idx_items

    @functools.wraps(original_all_items)
    def all_items(self):
        scoped = getattr(_query_items, "scope", None)
        if scoped is not None and scoped[0] is self:
            return scoped[1]
        return original_all_items(self)

    @functools.wraps(original_query)
    def query(self, hash_key, *args, **kwargs):
        # moto's backend passes index_name as the 8th positional argument.
        index_name = args[6] if len(args) > 6 else kwargs.get("index_name")
        ranged = None
        # Legacy QueryFilter conditions (moto's **filter_kwargs) let moto keep items from
        # outside the key range, and count every candidate it reads: no narrowing then.
        narrow = key_ranges.enabled and not any(
            kwargs.get(name) for name in kwargs if name not in index_ranges.QUERY_ARGUMENTS
        )
        if index_name is None and hash_key is not None:
            partition = self.items.get(hash_key)
            if partition is None:
                items = []
            elif self.range_key_attr:
                items = list(partition.values())
            else:
                items = [partition]
        else:
            if narrow and index_keys.enabled and len(args) > 1 and args[0]:
                ranged = index_keys.in_range(self, index_name, args, kwargs)
            items = ranged
            if items is None:
                items = _index_candidates(self, index_name, kwargs.get("hash_key_conditions"))
        if ranged is None and narrow and len(args) > 2 and args[0] and not args[2]:
            items = key_ranges.within(self, index_name, items, args[0], args[1], kwargs)
        _query_items.scope = (self, items)
        try:
            return original_query(self, hash_key, *args, **kwargs)
        finally:
            _query_items.scope = None

    @functools.wraps(original_has_idx_items)
    def has_idx_items(self, index_name):
        # A Scan with IndexName reads an index: eventually consistent as well.
        if not any(i.name == index_name for i in self.global_indexes or ()):
            return original_has_idx_items(self, index_name)
        names = {part["AttributeName"] for part in self.get_index(index_name).schema}
        items = _lagged_items(self, list(_items_of(self)))
        return [item for item in items if names <= set(item.attrs)]

    Table.all_items = all_items
    Table.query = query
    _index_key_writes(Table)
    Table.has_idx_items = has_idx_items
    Table._memberflow_originals = {
        "all_items": original_all_items,
        "query": original_query,
        "has_idx_items": original_has_idx_items,
    }


def _index_candidates(table, index_name, hash_key_conditions):
    """The items an index query may return: those whose index hash key equals the
    queried value (moto's equality: same type and cast value; moto re-checks the rest)."""
    conditions = [(name, _index_value(value)) for name, value in hash_key_conditions or ()]
    is_global = index_name is not None and any(
        i.name == index_name for i in table.global_indexes or ()
    )
    candidates = None
    if is_global and index_keys.enabled:
        candidates = index_keys.items_with(table, index_name, conditions)
    if candidates is None:
        candidates = list(_items_of(table))
    if is_global:
        candidates = _lagged_items(table, candidates)
    return [
        item
        for item in candidates
        if all(
            (found := item.attrs.get(name)) is not None and _index_value(found) == value
            for name, value in conditions
        )
    ]


class KeyRanges:
    """A query reads only the items its key condition's range selects, as DynamoDB does.

    moto walks every item of the partition (or index value) and sizes each one against
    the 1 MB page limit before it applies the range condition, so a sweep query for one
    day of ``review_at`` sized every member of its shard. The candidates are narrowed
    here by moto's own comparison (``DynamoType.compare``) on the attribute moto would
    compare; moto then applies the condition again to what is left.

    Only without ``Limit``: with one, moto returns a LastEvaluatedKey when any item,
    in the range or not, follows the last one it returns, and that answer is kept. A
    page still ends at 1 MB of the items in the range, as in DynamoDB (moto would also
    end one early at an item outside the range)."""

    def __init__(self):
        self.enabled = True

    @staticmethod
    def _attribute(table, index_name, kwargs) -> str | None:
        conditions = kwargs.get("range_key_conditions")
        if conditions:
            return conditions[-1][0]
        if index_name is None:
            return table.range_key_attr
        index = next((i for i in table.all_indexes() if i.name == index_name), None)
        ranges = [k for k in (index.schema if index else ()) if k["KeyType"] == "RANGE"]
        return ranges[0]["AttributeName"] if ranges else None

    def within(self, table, index_name, items, comparison, values, kwargs):
        attribute = self._attribute(table, index_name, kwargs)
        if attribute is None:
            return items  # moto refuses or handles this itself
        types = {value.type for value in values}
        if any(
            (found := item.attrs.get(attribute)) is not None and found.type not in types
            for item in items
        ):
            return items  # a range value of another type: moto compares (and fails) itself
        matches = index_ranges.matcher(comparison, values)
        narrowed = [
            item for item in items if (found := item.attrs.get(attribute)) and matches(found)
        ]
        return narrowed if index_ranges.room_for_any(table, narrowed) else items


key_ranges = KeyRanges()


# --------------------------------------------------------------- index key maps
# An index query used to walk every item of the table (0.5 ms at 300 items, 5.6 ms at
# 4,000). Each table keeps, per global secondary index, a map from index hash key to
# the keys of the items holding it (and, for an index with a range key, those keys in
# range key order: ``index_ranges.py``), built on the first query and kept up to date
# by every write: ``Table.put_item`` / ``Table.delete_item`` (backend puts and deletes,
# transactions and their roll-back, batch writes) and ``DynamoDBBackend.update_item``
# (moto updates an item in place). The map holds the *current* items: the index lag
# (above) is applied to its answer as to a full walk.
_INDEX_KEYS = "_memberflow_index_keys"


def _index_value(found):
    """A hashable form of an index key value, equal where moto's are (type, cast value)."""
    if found.type == "N":
        try:
            return ("N", Decimal(found.value))
        except (InvalidOperation, TypeError):
            return ("N", found.value)
    value = found.value
    return (found.type, value if isinstance(value, str | bytes) else repr(value))


class IndexMap:
    """One index: {hash value: {item key: None}}, {item key: (hash value, filed range)}
    and, with a range key, its values in order (``index_ranges.Ordered``)."""

    __slots__ = ("attribute", "range_attribute", "by_value", "of_item", "ordered")

    def __init__(self, attribute, range_attribute):
        self.attribute, self.range_attribute = attribute, range_attribute
        self.by_value, self.of_item = {}, {}
        self.ordered = index_ranges.Ordered() if range_attribute else None


class IndexKeys:
    def __init__(self):
        self.enabled = True

    def _maps(self, table) -> dict[str, IndexMap]:
        """{index name: its map}, built once."""
        indexes = {}
        for index in table.global_indexes or ():
            hashes = [k["AttributeName"] for k in index.schema if k["KeyType"] == "HASH"]
            ranges = [k["AttributeName"] for k in index.schema if k["KeyType"] == "RANGE"]
            if len(hashes) == 1:
                indexes[index.name] = (hashes[0], ranges[0] if len(ranges) == 1 else None)
        maps = table.__dict__.get(_INDEX_KEYS)
        # Built again when the table's indexes change (UpdateTable).
        if (
            maps is None
            or {name: (m.attribute, m.range_attribute) for name, m in maps.items()} != indexes
        ):
            maps = {name: IndexMap(*attributes) for name, attributes in indexes.items()}
            for item in _items_of(table):
                self._place(maps, item.hash_key, item.range_key, item)
            table.__dict__[_INDEX_KEYS] = maps
        return maps

    @staticmethod
    def _place(maps, hash_key, range_key, item) -> None:
        key = (hash_key, range_key)
        for index in maps.values():
            old = index.of_item.pop(key, None)
            if old is not None:
                value, filed = old
                holders = index.by_value.get(value)
                if holders is not None:
                    holders.pop(key, None)
                    if not holders:
                        del index.by_value[value]
                if filed is not None:
                    index.ordered.remove(filed)
            found = item.attrs.get(index.attribute) if item is not None else None
            if found is not None:
                value, filed = _index_value(found), None
                if index.ordered is not None:
                    ranged = item.attrs.get(index.range_attribute)
                    if ranged is not None:  # without it the item is not in the index
                        filed = index.ordered.add(value, ranged, key)
                index.of_item[key] = (value, filed)
                index.by_value.setdefault(value, {})[key] = None

    def refresh(self, table, hash_key, range_key) -> None:
        """Re-read one item's index keys after a write (no-op until a map exists)."""
        maps = table.__dict__.get(_INDEX_KEYS)
        if maps:
            self._place(maps, hash_key, range_key, _stored(table, hash_key, range_key))

    def items_with(self, table, index_name, conditions):
        """The current items holding the queried index hash key, or None (walk)."""
        with _lock:
            index = self._maps(table).get(index_name)
            if index is None:
                return None
            wanted = [value for name, value in conditions if name == index.attribute]
            if not wanted:
                return None
            holders = index.by_value.get(wanted[0], ())
            return [item for key in holders if (item := _stored(table, *key)) is not None]

    def in_range(self, table, index_name, args, kwargs):
        """The items an index query's key condition selects, as the index shows them now
        (the index lag applied), found by bisection; None: walk. With a Limit, also the
        nearest item on each side of the range: moto ends a page with a LastEvaluatedKey
        when any item, in the range or not, follows its last."""
        comparison, values, limit = args[0], args[1], args[2] if len(args) > 2 else None
        conditions = kwargs.get("hash_key_conditions") or ()
        ranges = kwargs.get("range_key_conditions") or ()
        with _lock:
            index = self._maps(table).get(index_name)
            if index is None or index.ordered is None or len(conditions) != 1:
                return None
            if conditions[0][0] != index.attribute or len(ranges) > 1:
                return None
            if ranges and ranges[0][0] != index.range_attribute:
                return None
            value = _index_value(conditions[0][1])
            chosen = index.ordered.select(value, comparison, values)
            if chosen is None:
                return None
            entries, lo, hi = chosen
            view = _index_view(table)
            keys = [entry[2] for entry in entries[lo:hi]]
            if view:
                keys = [key for key in keys if key not in view]
            if limit is not None:
                for side in (range(hi, len(entries)), range(lo - 1, -1, -1)):
                    for at in side:
                        if not view or entries[at][2] not in view:
                            keys.append(entries[at][2])
                            break
            items = [item for key in keys if (item := _stored(table, *key)) is not None]
            if view:
                matches = index_ranges.matcher(comparison, values)
                for image in view.values():
                    found = image.attrs.get(index.attribute) if image is not None else None
                    if found is not None and _index_value(found) == value:
                        if limit is not None or index_ranges.may_match(
                            image, index.range_attribute, matches
                        ):
                            items.append(image)
            return items if index_ranges.room_for_any(table, items) else None

    @contextlib.contextmanager
    def reindexed(self, backend, args, kwargs):
        """Around an in-place write: the item's index keys are re-read after it."""
        try:
            table = backend.get_table(args[0] if args else kwargs.get("table_name"))
            hash_key, range_key = backend.get_keys_value(
                table, args[1] if len(args) > 1 else kwargs["key"]
            )
        except Exception:  # noqa: BLE001 - moto reports malformed requests itself
            yield
            return
        try:
            yield
        finally:
            self.refresh(table, hash_key, range_key)
            item = _stored(table, hash_key, range_key)
            scans.forget_size(item)
            if table.global_indexes:  # its GSI queries are narrowed
                index_ranges.note_size(table, item)


index_keys = IndexKeys()


def _index_view(table) -> dict:
    """{item key: image} of the items whose writes the table's GSIs do not show yet."""
    return (index_lag.index_view(table) if index_lag.now is not None else None) or {}


def _stored(table, hash_key, range_key):
    partition = table.items.get(hash_key)
    if partition is None:
        return None
    if table.range_key_attr:
        return partition.get(range_key)
    return partition


def _index_key_writes(Table) -> None:
    """Table.put_item / delete_item keep the index key maps current."""
    original_put, original_delete = Table.put_item, Table.delete_item

    @functools.wraps(original_put)
    def put_item(self, *args, **kwargs):
        item = original_put(self, *args, **kwargs)
        index_keys.refresh(self, item.hash_key, item.range_key)
        return item

    @functools.wraps(original_delete)
    def delete_item(self, hash_key, range_key, *args, **kwargs):
        try:
            return original_delete(self, hash_key, range_key, *args, **kwargs)
        finally:
            index_keys.refresh(self, hash_key, range_key)

    Table.put_item, Table.delete_item = put_item, delete_item


@contextlib.contextmanager
def motos_own_reads():
    """moto's own Table.query/all_items/has_idx_items for a while (parity tests)."""
    from moto.dynamodb.models import Table

    patched = {name: getattr(Table, name) for name in Table._memberflow_originals}
    for name, original in Table._memberflow_originals.items():
        setattr(Table, name, original)
    try:
        yield
    finally:
        for name, function in patched.items():
            setattr(Table, name, function)


def table_items(table_name: str, region: str, *, at_least: tuple[str, str] | None = None):
    """Items of an emulated table as wire-format attribute maps, read in place (local
    views of a test stack only; the functions use the DynamoDB API). ``at_least``:
    (attribute, text) keeps items whose string attribute is >= text."""
    from moto.core import DEFAULT_ACCOUNT_ID

    account = os.environ.get("MOTO_ACCOUNT_ID", DEFAULT_ACCOUNT_ID)
    table = _backend(account, region).get_table(table_name)
    with _lock:
        partitions = list(table.items.values())
    for item in _items_of(table, partitions):
        if at_least is not None:
            value = item.attrs.get(at_least[0])
            if value is None or value.value < at_least[1]:
                continue
        yield item.to_json()["Attributes"]
