"""The emulated tables' shared state, under every DynamoDB seam of the local stack: the
one lock each request holds while it runs (requests apply whole), request ids, the
items of a moto table, the moto backend of an account and region, and the index lag
(:class:`IndexLag`: a global secondary index shows a write only once a lag has passed
on the virtual clock; base-table reads see it at once, as in DynamoDB)."""

from __future__ import annotations

import copy as _copy
import itertools
import threading
import time
from collections.abc import Callable
from datetime import datetime, timedelta

_lock = threading.RLock()
# Request ids only need to be unique; uuid4 reads os.urandom, slow on these machines.
_request_ids = itertools.count(1)


def write_lock():
    """The lock each DynamoDB request holds while it runs (requests apply whole)."""
    return _lock


_backends: dict[tuple[str, str], object] = {}


def _backend(account: str, region: str):
    key = (account, region)
    if key not in _backends:
        from moto.dynamodb.models import dynamodb_backends

        _backends[key] = dynamodb_backends[account][region]
    return _backends[key]


def _items_of(table, partitions=None):
    """Every item of a moto table (partitions map to an item, or to a range map)."""
    for partition in table.items.values() if partitions is None else partitions:
        yield from partition.values() if table.range_key_attr else (partition,)


# ---------------------------------------------------------------------- index lag
# DynamoDB propagates a write to a table's global secondary indexes asynchronously
# (usually within a second): an index query right after a write may still show the
# item as it was, or not at all, and ConsistentRead is refused on a GSI (moto already
# refuses it with DynamoDB's ValidationException). moto updates indexes at once, so code
# that reads an index right after writing passes locally and fails in AWS.
#
# Model: every write to a table with a GSI records the item as it was just before
# (a copy, or None when absent) and when that write becomes visible (now + lag). An
# index query sees, for each item with a write still in flight, the state before the
# *oldest* invisible write; every other item as it is. Writes become visible in order,
# so a cancelled transaction (written, then restored) shows the original throughout.
# "Now" is the virtual clock, which stands still while a request or a journey step
# runs: a write is never visible to an index in the same instant, only after the
# clock has moved (advance(), a Wait state). With ``real_time`` (``memberflow serve``,
# where requests arrive in real time and nobody may advance the clock) the lag also
# passes on the wall clock.
_PENDING = "_memberflow_index_pending"


class IndexLag:
    def __init__(self):
        self.seconds = 0.0
        self._writes = 0
        self.real_time = False
        self.now: Callable[[], datetime] | None = None

    @property
    def active(self) -> bool:
        return self.seconds > 0 and self.now is not None

    def configure(
        self, seconds: float, now: Callable[[], datetime] | None, *, real_time: bool = False
    ) -> None:
        if seconds < 0:
            raise ValueError("index_lag must be >= 0 seconds")
        self.seconds, self.now, self.real_time = float(seconds), now, real_time

    # writes (called holding _lock) ------------------------------------------
    def before_write(self, backend, operation: str, args: tuple, kwargs: dict):
        table_name = args[0] if args else kwargs.get("table_name")
        try:
            table = backend.get_table(table_name)
            if not table.global_indexes:
                return None
            if operation == "put_item":
                attrs = args[1] if len(args) > 1 else kwargs["item_attrs"]
                key = {table.hash_key_attr: attrs[table.hash_key_attr]}
                if table.range_key_attr:
                    key[table.range_key_attr] = attrs[table.range_key_attr]
            else:
                key = args[1] if len(args) > 1 else kwargs["key"]
            hash_key, range_key = backend.get_keys_value(table, key)
        except Exception:  # noqa: BLE001 - moto reports malformed requests itself
            return None
        from moto.dynamodb.models.dynamo_type import Item

        current = table.get_item(hash_key, range_key)
        projected = _projected(table)
        if current is None or projected is None:
            return table, (hash_key, range_key), _copy.deepcopy(current), projected
        # Indexes that project a few attributes only need those (members: keys only).
        attrs = {name: current.attrs[name] for name in projected if name in current.attrs}
        image = Item(current.hash_key, current.range_key, {})
        image.attrs.update(_copy.deepcopy(attrs))
        return table, (hash_key, range_key), image, projected

    def written(self, before) -> None:
        if before is None:
            return
        table, key, image, projected = before
        if projected is not None:
            # Nothing an index holds changed: nothing for the indexes to catch up on.
            now = table.get_item(*key)
            if (image is None) == (now is None) and (
                image is None or all(_same(image.attrs.get(n), now.attrs.get(n)) for n in projected)
            ):
                return
        pending = table.__dict__.setdefault(_PENDING, {})
        self._writes += 1
        if self._writes % 1024 == 0:  # forget what every index shows by now
            self.index_view(table)
        real = time.monotonic() + self.seconds if self.real_time else None
        visible_at = self.now() + timedelta(seconds=self.seconds)
        pending.setdefault(key, []).append((visible_at, real, image))

    # index reads ---------------------------------------------------------------
    def _visible(self, entry, now: datetime, mono: float) -> bool:
        visible_at, real, _ = entry
        return visible_at <= now or (real is not None and real <= mono)

    def index_view(self, table) -> dict | None:
        """{(hash, range): item as the index still shows it, or None} for the items
        whose last writes the table's GSIs do not show yet; None when there are none."""
        pending = table.__dict__.get(_PENDING)
        if not pending:
            return None
        now, mono = self.now() if self.now else datetime.max, time.monotonic()
        view = {}
        for key in list(pending):
            entries = pending[key]
            while entries and self._visible(entries[0], now, mono):
                entries.pop(0)
            if entries:
                view[key] = entries[0][2]
            else:
                del pending[key]
        return view or None

    def clear(self) -> None:
        self.seconds, self.now, self.real_time = 0.0, None, False


index_lag = IndexLag()


def _same(a, b) -> bool:
    return a is b or (a is not None and b is not None and a == b)


def _projected(table) -> set[str] | None:
    """The attributes the table's GSIs hold, or None when one projects ALL."""
    cached = table.__dict__.get("_memberflow_projected", False)
    if cached is not False:
        return cached
    names = {table.hash_key_attr} | ({table.range_key_attr} if table.range_key_attr else set())
    for index in table.global_indexes or ():
        projection = index.projection or {}
        kind = projection.get("ProjectionType", "ALL")
        if kind == "ALL":
            names = None
            break
        names |= set(index.schema_key_attrs)
        if kind == "INCLUDE":
            names |= set(projection.get("NonKeyAttributes", []))
    table.__dict__["_memberflow_projected"] = names
    return names


def _lagged_items(table, items):
    """``items`` (of ``table``) as its global secondary indexes show them now."""
    view = index_lag.index_view(table) if index_lag.now is not None else None
    if view is None:
        return items
    out = [item for item in items if (item.hash_key, item.range_key) not in view]
    out.extend(image for image in view.values() if image is not None)
    return out
