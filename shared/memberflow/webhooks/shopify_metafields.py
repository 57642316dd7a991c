"""Shopify customer metafields memberflow reads: the standard "Birth date" definition."""

from __future__ import annotations

from datetime import datetime

from memberflow.webhooks import _util as u

# The standard customer metafield definition "Birth date" (type date). Shopify puts a
# customer's metafields in customers/create and customers/update payloads only for the
# namespaces the webhook subscription names (metafieldNamespaces: ["facts"], or
# metafields: [{namespace: "facts", key: "birth_date"}]): without that, the payload has
# no metafields and the stored birthday stays; facts without a birth date remove it
# (docs/platforms/shopify.md).
BIRTH_DATE = ("facts", "birth_date")


def birthday(doc: dict, base: str, at: datetime) -> str | None:
    for i, field in enumerate(doc.get("metafields") or ()):
        if isinstance(field, dict) and (field.get("namespace"), field.get("key")) == BIRTH_DATE:
            return u.birthday(field.get("value"), f"{base}.metafields[{i}].value", at)
    return None


def says_no_birthday(doc: dict) -> bool:
    """The payload carries the ``facts`` namespace's metafields (the subscription names
    it) and no birth date among them, or an empty one: the customer has none (the stored
    birthday is removed). No ``facts`` metafield at all says nothing (it stays)."""
    facts = [
        field
        for field in doc.get("metafields") or ()
        if isinstance(field, dict) and field.get("namespace") == BIRTH_DATE[0]
    ]
    return bool(facts) and not any(
        field.get("key") == BIRTH_DATE[1] and field.get("value") not in (None, "")
        for field in facts
    )
