"""Read-only views of a table that hold only some of its model's attributes.

A report scans whole tables for a handful of attributes (a ProjectionExpression), but
a full model still sets the defaults of, and looks in each item for, every attribute
it declares (the member has about forty), once per item read. A view declares only
the projected attributes, copied from the model's own definitions (type, default,
null, name in the table): its Scan asks for exactly those, and each item it reads is
the model's values of them.
"""

from __future__ import annotations

from collections.abc import Sequence
from copy import deepcopy
from typing import ClassVar

from pynamodb.attributes import MapAttribute
from pynamodb.models import Model


class Projection(Model):
    """What every view shares: its model's table and connection, and no writes."""

    source: ClassVar[type[Model]]

    @classmethod
    def _get_connection(cls):
        # The model's own connection: its table and region are bound at start-up and
        # bind_tables resets the model's cached connection, never a view's.
        return cls.source._get_connection()

    @classmethod
    def scan(cls, **kwargs):
        """The model's Scan with the view's attributes as its projection."""
        names = [attribute.attr_name for attribute in cls.get_attributes().values()]
        return super().scan(attributes_to_get=names, **kwargs)

    def save(self, *args, **kwargs):
        raise TypeError(f"{type(self).__name__} is a read-only projection")

    update = delete = save


def projection(model: type[Model], fields: Sequence[str]) -> type[Projection]:
    """A view of ``model`` with the attributes ``fields`` (its Python names) only."""
    attributes = model.get_attributes()
    unknown = [name for name in fields if name not in attributes]
    if unknown:
        raise ValueError(f"{model.__name__} has no attribute {', '.join(unknown)}")
    maps = [name for name in fields if isinstance(attributes[name], MapAttribute)]
    if maps:  # PynamoDB binds a map attribute to one class: it cannot be copied
        raise TypeError(f"{model.__name__}: a projection cannot hold map {', '.join(maps)}")
    namespace = {name: deepcopy(attributes[name]) for name in fields}
    namespace["source"] = model
    namespace["__module__"] = model.__module__
    return type(Projection)(f"{model.__name__}Projection", (Projection,), namespace)
