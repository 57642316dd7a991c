"""Everything a delivery needs, read by key in one strongly consistent BatchGetItem.

A delivery's trip through ingest used to read the member on each hop (identity link,
then member, then member and order again, then the ledger...). Every item the common
case needs has a key that is known before the first read, so one ``BatchGetItem``
across the tables (consistent reads, up to 100 keys) replaces them:

* the delivery's receipt (a finished delivery is answered without another call);
* the identity link ``<platform>#<shop>#<customer id>``, its erasure tombstone and the
  ``email#<hash>`` link;
* the member the identity *would* have created: member ids are derived from the first
  identity (:func:`memberflow.members.identity.new_member_id`), so the member is read
  with its link in the same call. When the link names another member (one found by
  email, or a derived id that was taken), that member costs one more read;
* the order, the refunds parked for it, the order's coupon codes, ledger entries by
  their keys.

No index is read: keys only, so nothing here lags a write made a moment earlier.
"""

from __future__ import annotations

import time
from collections.abc import Iterable

from pynamodb.models import Model

BATCH_KEYS = 100  # BatchGetItem's limit


def _key(model: type[Model], hash_key: str, range_key: str | None) -> dict:
    key = {model._hash_keyname: {"S": hash_key}}
    if model._range_keyname is not None:
        key[model._range_keyname] = {"S": range_key}
    return key


def _id(model: type[Model], hash_key: str, range_key: str | None) -> tuple:
    return (model.Meta.table_name, hash_key, range_key)


class Reads:
    """The items found, by (model, hash key[, range key])."""

    def __init__(self, found: dict[tuple, dict]):
        self._found = found

    def get(self, model: type[Model], hash_key: str, range_key: str | None = None):
        raw = self._found.get(_id(model, hash_key, range_key))
        return None if raw is None else model.from_raw_data(raw)

    def has(self, model: type[Model], hash_key: str, range_key: str | None = None) -> bool:
        return _id(model, hash_key, range_key) in self._found

    def more(self, wanted: Iterable[tuple]) -> Reads:
        """These reads and ``wanted`` read now (one more BatchGetItem)."""
        return Reads({**self._found, **read(wanted)._found})


def read(wanted: Iterable[tuple]) -> Reads:
    """Read ``(model, hash_key[, range_key])`` items by key, consistently, in as few
    BatchGetItem calls as there are hundreds of keys (unprocessed keys are asked again,
    as DynamoDB asks callers to)."""
    keys: dict[tuple, tuple] = {}
    for spec in wanted:
        model, hash_key, range_key = (*spec, None)[:3]
        if hash_key:
            keys.setdefault(_id(model, hash_key, range_key), (model, hash_key, range_key))
    found: dict[tuple, dict] = {}
    if not keys:
        return Reads(found)
    from memberflow.store import Member

    client = Member._get_connection().connection.client
    specs = list(keys.values())
    for start in range(0, len(specs), BATCH_KEYS):
        request: dict[str, dict] = {}
        for model, hash_key, range_key in specs[start : start + BATCH_KEYS]:
            table = request.setdefault(model.Meta.table_name, {"Keys": [], "ConsistentRead": True})
            table["Keys"].append(_key(model, hash_key, range_key))
        models = {model.Meta.table_name: model for model, _, _ in specs}
        pause = 0.05
        while request:
            response = client.batch_get_item(RequestItems=request)
            for table, items in response.get("Responses", {}).items():
                model = models[table]
                for item in items:
                    range_key = item[model._range_keyname]["S"] if model._range_keyname else None
                    found[(table, item[model._hash_keyname]["S"], range_key)] = item
            request = response.get("UnprocessedKeys") or {}
            if request:
                time.sleep(pause)
                pause = min(pause * 2, 1.0)
    return Reads(found)
