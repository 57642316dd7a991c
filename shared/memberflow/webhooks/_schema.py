"""Load the JSON Schemas shipped next to the code and turn violations into 400s."""

from __future__ import annotations

import json
from functools import cache
from importlib import resources
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError

from memberflow.webhooks._util import path_of
from memberflow.webhooks.errors import WebhookError


@cache
def validator(name: str) -> Draft202012Validator:
    """``name`` is a path under ``schemas/``, e.g. ``"shopify/order.json"``."""
    text = resources.files("memberflow.webhooks").joinpath("schemas", name).read_text("utf-8")
    schema = json.loads(text)
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema)


def _reason(error: ValidationError) -> tuple[list, str]:
    """(extra path parts, reason) without echoing the offending value (it may be
    personal data): only the schema's own words are used."""
    kind, expected, schema = error.validator, error.validator_value, error.schema
    title = schema.get("title") if isinstance(schema, dict) else None
    if kind == "required":
        present = error.instance if isinstance(error.instance, dict) else {}
        missing = [name for name in expected if name not in present]
        return missing[:1], "required"
    if title and kind in ("anyOf", "oneOf", "type", "pattern", "minimum", "maximum"):
        return [], f"must be {title}"
    if kind in ("anyOf", "oneOf"):
        return [], "does not match any allowed form"
    if kind == "type":
        kinds = expected if isinstance(expected, list) else [expected]
        return [], "must be of type " + " or ".join(kinds)
    if kind == "enum":
        return [], "must be one of " + ", ".join(json.dumps(v) for v in expected)
    if kind == "const":
        return [], f"must be {json.dumps(expected)}"
    if kind in ("minimum", "exclusiveMinimum", "maximum", "exclusiveMaximum"):
        sign = {"minimum": ">=", "exclusiveMinimum": ">", "maximum": "<=", "exclusiveMaximum": "<"}
        return [], f"must be {sign[kind]} {expected}"
    if kind in ("minLength", "maxLength", "minItems", "maxItems"):
        return [], f"violates {kind} {expected}"
    if kind == "pattern":
        return [], "has an invalid format"
    return [], f"violates {kind}"


def validate(name: str, document: Any, base: tuple = ()) -> None:
    """Raise ``WebhookError(400, "body.<path>", reason)`` for the most relevant
    violation of ``schemas/<name>``; ``base`` prefixes the path (sub-documents)."""
    errors = list(validator(name).iter_errors(document))
    if not errors:
        return
    # the shallowest first (a missing "id" before a bad price), anyOf/oneOf last, then
    # schema order; never descend into anyOf branches (they would name a branch's rule,
    # e.g. "must be of type number", for a malformed decimal string)
    order = {id(e): i for i, e in enumerate(errors)}
    error = min(
        errors, key=lambda e: (len(e.path), e.validator in ("anyOf", "oneOf"), order[id(e)])
    )
    extra, reason = _reason(error)
    raise WebhookError(400, path_of([*base, *error.absolute_path, *extra]), reason)
