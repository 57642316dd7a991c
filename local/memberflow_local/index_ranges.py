"""Index range keys kept in order, under ``index_reads.IndexKeys`` (moto 5.2.5): per global
secondary index with one range key and per index hash value, the items holding it sorted
by range key value, so a query finds its key condition's range by bisection and reads
only the items in it (the sweep's shard query read every member of its shard to return
the few due).

The order is moto's own: ``DynamoType``'s comparisons compare ``cast_value`` (S and B:
the stored value, in Python's str or bytes order; N: ``Decimal``). The values of one
hash value are kept in one sorted list per *kind* (type and Python type); a query is
answered here only when its values and all the values held are of one kind (so no
comparison moto makes could fail or differ: mixed kinds, a NaN, a map, ``begins_with``
on a number go to the item walk, which compares as moto does)."""

from __future__ import annotations

import bisect
import itertools
from decimal import Decimal, InvalidOperation
from operator import itemgetter

_serials = itertools.count()  # ties between equal range values: each entry's own number
_VALUE = itemgetter(0)
UNSORTED = ("?",)  # a kind moto may fail to compare: its hash value is walked
_STRINGS = (str, bytes)


def sort_value(found):
    """(kind, value): a range key value as moto's comparisons see it."""
    kind, value = found.type, found.value
    if kind == "N":
        try:
            number = Decimal(value)
        except (InvalidOperation, TypeError, ValueError):
            return UNSORTED, None
        return (UNSORTED, None) if number.is_nan() else (("N", Decimal), number)
    if kind in ("S", "B") and isinstance(value, _STRINGS):
        return (kind, type(value)), value
    return UNSORTED, None


def cast(found):
    """moto's ``DynamoType.cast_value``, without its chain of type questions for keys."""
    kind = found.type
    if kind == "S" or kind == "B":
        return found.value
    return Decimal(found.value) if kind == "N" else found.cast_value


def matcher(comparison, values):
    """found -> ``found.compare(comparison, values)``, by moto's own comparison function
    with the query's values cast once (moto casts them again for every item)."""
    from moto.dynamodb.comparisons import get_comparison_func

    function, casts = get_comparison_func(comparison), [value.cast_value for value in values]
    if function is None:
        return lambda found: found.compare(comparison, values)  # moto's own error
    return lambda found: function(cast(found), *casts)


def may_match(image, attribute, matches) -> bool:
    """Whether an item may be in the range: moto decides where its comparison fails (and
    raises its own error)."""
    found = image.attrs.get(attribute)
    try:
        return found is not None and matches(found)
    except Exception:  # noqa: BLE001 - moto's own comparison raises it again
        return True


# moto ends a page when the next candidate, in the range or not, would take it past 1 MB.
# Handing it only the items in the range (and, with a Limit, one each side) gives moto's
# own page while they leave room for the largest item it accepts (405,000 bytes); past
# that, every candidate is handed over.
_LARGEST_ITEM = 410_000


# moto's Table.query keyword arguments that are not legacy QueryFilter conditions
QUERY_ARGUMENTS = {
    "index_name",
    "consistent_read",
    "filter_expression",
    "hash_key_conditions",
    "range_key_conditions",
}
OVERSIZED = "_memberflow_oversized"  # set on a table once an item of it grew past that


def room_for_any(table, items) -> bool:
    from moto.dynamodb.models.table import RESULT_SIZE_LIMIT

    if table.__dict__.get(OVERSIZED):
        return False  # moto lets a nested SET grow an item past its own check: walk
    return sum(item.size() for item in items) <= RESULT_SIZE_LIMIT - _LARGEST_ITEM


def note_size(table, item) -> None:
    """After an in-place write: a table whose item grew past the largest size moto's
    own checks accept is no longer narrowed (an item outside a range ends moto's page)."""
    if item is not None and item.size() > _LARGEST_ITEM - 5_000:
        table.__dict__[OVERSIZED] = True


class Ordered:
    """{hash value: {kind: [(value, serial, item key), ...] in order}} for one index."""

    __slots__ = ("by_hash",)

    def __init__(self):
        self.by_hash: dict = {}

    def add(self, hash_value, found, key):
        """Files an item's range key value; returns what ``remove`` needs."""
        kind, value = sort_value(found)
        serial = next(_serials)
        entry = (serial if kind == UNSORTED else value, serial, key)
        entries = self.by_hash.setdefault(hash_value, {}).setdefault(kind, [])
        if not entries or entries[-1][:2] < entry[:2]:
            entries.append(entry)
        else:
            entries.insert(bisect.bisect_left(entries, entry[:2]), entry)
        return hash_value, kind, entry

    def remove(self, filed) -> None:
        hash_value, kind, entry = filed
        kinds = self.by_hash[hash_value]
        entries = kinds[kind]
        # (value, serial) sorts before its own entry and after every earlier one
        at = bisect.bisect_left(entries, entry[:2])
        if at < len(entries) and entries[at][1] == entry[1]:
            del entries[at]
        if not entries:
            del kinds[kind]
            if not kinds:
                del self.by_hash[hash_value]

    def select(self, hash_value, comparison, values):
        """(entries, lo, hi): ``entries[lo:hi]`` hold the values the key condition
        selects, in order; None when moto's own comparison must decide."""
        kinds = self.by_hash.get(hash_value)
        if not kinds:
            return [], 0, 0
        if len(kinds) != 1 or not values:
            return None
        ((kind, entries),) = kinds.items()
        wanted = [sort_value(value) for value in values]
        if kind == UNSORTED or any(k != kind for k, _ in wanted):
            return None
        bounds = _bounds(entries, comparison, [value for _, value in wanted])
        return None if bounds is None else (entries, *bounds)


def _bounds(entries, comparison, values):
    def left(value):
        return bisect.bisect_left(entries, value, key=_VALUE)

    def right(value):
        return bisect.bisect_right(entries, value, key=_VALUE)

    if comparison == "BETWEEN":
        if len(values) != 2:
            return None
        lo = left(values[0])
        return lo, max(lo, right(values[1]))  # low > high: nothing, as moto's check
    if len(values) != 1:
        return None
    (value,) = values
    if comparison == "=":
        return left(value), right(value)
    if comparison in ("<", "<="):
        return 0, left(value) if comparison == "<" else right(value)
    if comparison in (">", ">="):
        return right(value) if comparison == ">" else left(value), len(entries)
    if comparison == "BEGINS_WITH" and isinstance(value, _STRINGS):
        # every value with the prefix sorts at or after it, and before any other above it
        lo = hi = left(value)
        while hi < len(entries) and entries[hi][0].startswith(value):
            hi += 1
        return lo, hi
    return None
