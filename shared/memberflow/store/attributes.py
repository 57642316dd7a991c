"""What the models are built of: attribute types PynamoDB lacks (exact decimals for
money, compact record lists) and the table name of a model not bound yet."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal

from pynamodb.attributes import Attribute
from pynamodb.constants import LIST, MAP, NUMBER, STRING

# Every model's table until memberflow.store.bind_tables names it at start-up.
UNBOUND = "unbound-call-memberflow.store.bind_tables"


class DecimalAttribute(Attribute[Decimal]):
    """A DynamoDB number kept as an exact ``Decimal`` (PynamoDB's NumberAttribute goes through float)."""

    attr_type = NUMBER

    def serialize(self, value: Decimal) -> str:
        return format(Decimal(value), "f")

    def deserialize(self, value: str) -> Decimal:
        return Decimal(value)


class RecordListAttribute(Attribute[list]):
    """A list of small records kept as one compact JSON string, not as nested maps: these
    bookkeeping lists reach hundreds of entries, nothing queries inside them, and a
    string is far cheaper to (de)serialise than hundreds of maps (also on moto)."""

    attr_type = STRING

    def __init__(self, record, *, legacy_maps: bool = False, **kwargs):
        self.record = record
        # Items written before the list became a string hold it as a list of maps: read
        # with ``record.from_map``; the next write of the attribute stores the string.
        self.legacy_maps = legacy_maps
        super().__init__(**kwargs)

    def get_value(self, value: dict):
        if self.legacy_maps and STRING not in value and LIST in value:
            return value
        return super().get_value(value)

    def serialize(self, value: list) -> str:
        return json.dumps([r.dump() for r in value], separators=(",", ":"))

    def deserialize(self, value) -> list:
        if isinstance(value, dict):  # the list of maps of an older item
            return [self.record.from_map(raw[MAP]) for raw in value[LIST]]
        return [self.record.load(raw) for raw in json.loads(value)]


class DateTimeListAttribute(Attribute[list]):
    """A list of UTC datetimes kept as one compact JSON string (see RecordListAttribute)."""

    attr_type = STRING

    def serialize(self, value: list) -> str:
        return json.dumps([t.astimezone(UTC).isoformat() for t in value], separators=(",", ":"))

    def deserialize(self, value: str) -> list:
        return [datetime.fromisoformat(raw) for raw in json.loads(value)]
