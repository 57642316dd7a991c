"""A Scan page's items in key order, without sorting the table for every page (moto 5.2.5
seam, installed by ``scans.install``; parity: tests/integration/test_local_scans.py)."""

from __future__ import annotations

import functools

_ORDER = "_memberflow_order"  # an item's place in its table's key order


def sorted_once(Table, on: dict, reading) -> None:
    """A Scan page starts by sorting every item of the table (moto's ``all_items``), so
    a ten-page Scan sorts the table ten times. The sorted list is kept per table until
    an item is put or deleted (an update changes an item in place, never its keys or
    its place in the order). It is sorted on the keys' plain values (``cast_value``,
    what ``DynamoType.__lt__`` compares), not through ``DynamoType`` comparisons.

    A page after the first starts at its ExclusiveStartKey: moto walks the table from
    its first item, comparing each with the key (every page costs the whole table); the
    start is found here by bisection with moto's own comparison, and moto walks from
    there."""
    original_all_items = Table.all_items
    original_put, original_delete = Table.put_item, Table.delete_item

    @functools.wraps(original_all_items)
    def all_items(self):
        if not on["enabled"] or getattr(reading, "table", None) is not self:
            return original_all_items(self)
        generation = getattr(self, "_memberflow_generation", 0)
        kept = getattr(self, "_memberflow_sorted", None)
        if kept is None or kept[0] != generation:
            kept = self._memberflow_sorted = (generation, in_key_order(self))
        start = getattr(reading, "start", None)
        if start is None:
            return kept[1]
        return kept[1][_first_after(self, kept[1], start) :]

    @functools.wraps(original_put)
    def put_item(self, *args, **kwargs):
        self._memberflow_generation = getattr(self, "_memberflow_generation", 0) + 1
        return original_put(self, *args, **kwargs)

    @functools.wraps(original_delete)
    def delete_item(self, *args, **kwargs):
        self._memberflow_generation = getattr(self, "_memberflow_generation", 0) + 1
        return original_delete(self, *args, **kwargs)

    Table._memberflow_sorted_originals = (original_all_items, original_put, original_delete)
    Table.all_items, Table.put_item, Table.delete_item = all_items, put_item, delete_item


def in_key_order(table) -> list:
    """moto's ``all_items``: every item, by (hash key, range key)."""
    items = []
    for hash_set in table.items.values():
        if table.range_key_attr:
            items.extend(hash_set.values())
        else:
            items.append(hash_set)

    def key(item):
        # kept on the item: its keys never change (moto refuses to update a key attribute)
        found = item.__dict__.get(_ORDER)
        if found is None:
            hash_value = item.hash_key.cast_value
            found = (hash_value, item.range_key.cast_value) if item.range_key else hash_value
            item.__dict__[_ORDER] = found
        return found

    return sorted(items, key=key)


def _first_after(table, items: list, start: dict) -> int:
    """The first item moto would not skip as "before or at" the ExclusiveStartKey."""
    keys = [table.hash_key_attr], [table.range_key_attr]
    low, high = 0, len(items)
    while low < high:
        middle = (low + high) // 2
        if table._item_comes_before_dct(items[middle], start, *keys, True):
            low = middle + 1
        else:
            high = middle
    return low
