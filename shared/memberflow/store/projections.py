"""Read-only projections of a table: a Scan of a few of its model's attributes.

A report scans whole tables for a handful of attributes (a ProjectionExpression). Read
through the model, every item still becomes a full model instance: PynamoDB sets the
default of, and looks in the item for, every attribute the model declares (the member
has nearly fifty), and each read of a value afterwards goes through a descriptor. A
projection reads the same pages with PynamoDB's pagination and makes each item a plain
record (a named tuple) of the projected attributes only, each decoded by the model's
own attribute definition: its name in the table, type and default. The Scan's
projection and the record's fields are the same list.
"""

from __future__ import annotations

from collections import namedtuple
from collections.abc import Iterator, Sequence

from pynamodb.attributes import Attribute
from pynamodb.constants import NULL
from pynamodb.models import Model
from pynamodb.pagination import ResultIterator


def _plain(attribute: Attribute) -> bool:
    """Whether the attribute's value is what it deserialises to: attribute kinds whose
    descriptor rewrites values (maps, versions, TTLs) are read through the model."""
    kind = type(attribute)
    return kind.__get__ is Attribute.__get__ and kind.__set__ is Attribute.__set__


class Projection:
    """``model``'s items as records of the attributes ``fields`` (Python names)."""

    def __init__(self, model: type[Model], fields: Sequence[str]):
        attributes = model.get_attributes()
        unknown = [name for name in fields if name not in attributes]
        if unknown:
            raise ValueError(f"{model.__name__} has no attribute {', '.join(unknown)}")
        special = [name for name in fields if not _plain(attributes[name])]
        if special:
            raise TypeError(f"{model.__name__}: cannot project {', '.join(special)}")
        if model._get_discriminator_attribute() is not None:
            # Model.scan filters on the class's discriminator; a projection would not
            raise TypeError(f"{model.__name__}: cannot project a model with a discriminator")
        self.model = model
        self.record = namedtuple(f"{model.__name__}Projection", fields)
        self._attributes = [(attributes[name].attr_name, attributes[name]) for name in fields]

    def scan(self, page_size: int | None = None) -> Iterator:
        """Every item of the table, read in pages (a Scan of the projected attributes)."""
        names = [name for name, _ in self._attributes]
        scan = self.model._get_connection().scan  # the model's table, as bound at start-up
        kwargs = {"attributes_to_get": names, "limit": page_size}
        return ResultIterator(scan, (), kwargs, map_fn=self.load)

    def load(self, item: dict):
        """The item as ``model.from_raw_data`` reads these attributes: a value that is
        absent or NULL is the attribute's default (None without one)."""
        values = []
        for name, attribute in self._attributes:
            raw = item.get(name)
            if raw and NULL not in raw:
                values.append(attribute.deserialize(attribute.get_value(raw)))
            else:
                default = attribute.default
                values.append(default() if callable(default) else default)
        return self.record._make(values)
