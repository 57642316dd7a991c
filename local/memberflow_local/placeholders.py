"""DynamoDB refuses a request whose ExpressionAttributeValues or ExpressionAttributeNames
hold a placeholder none of its expressions uses (ValidationException: "Value provided in
ExpressionAttributeValues unused in expressions: keys: {:v}"). moto refuses it on
UpdateItem, and unused names on PutItem and BatchGetItem, but accepts unused values on
PutItem, DeleteItem, Query, Scan and every transaction item: code that builds a placeholder it then leaves out
passes locally and fails in AWS. This hook refuses them all, with DynamoDB's error, before
the request reaches moto (tests/integration/test_local_placeholders.py: the same answer
where moto refuses, a refusal where it does not).
"""

from __future__ import annotations

import re

from botocore.exceptions import ClientError

_EXPRESSIONS = (
    "KeyConditionExpression",
    "FilterExpression",
    "ConditionExpression",
    "UpdateExpression",
    "ProjectionExpression",
)
_TOKENS = {
    "ExpressionAttributeValues": re.compile(r":[A-Za-z0-9_]+"),
    "ExpressionAttributeNames": re.compile(r"#[A-Za-z0-9_]+"),
}
_state = {"enabled": True}


def unused(request: dict) -> tuple[str, list[str]] | None:
    """The first placeholder map of ``request`` with keys no expression uses."""
    text = " ".join(str(request.get(name) or "") for name in _EXPRESSIONS)
    for field, pattern in _TOKENS.items():
        given = request.get(field)
        if not given:
            continue
        used = set(pattern.findall(text))
        extra = [key for key in given if key not in used]
        if extra:
            return field, extra
    return None


def _requests(operation: str, params: dict):
    """Every part of a call that carries its own expressions and placeholders."""
    if operation in ("TransactWriteItems", "TransactGetItems"):
        for item in params.get("TransactItems") or ():
            yield from (part for part in item.values() if isinstance(part, dict))
    elif operation == "BatchGetItem":
        yield from (params.get("RequestItems") or {}).values()
    else:
        yield params


def check(params, model, **_kwargs) -> None:
    """botocore ``before-parameter-build.dynamodb``: refuse as DynamoDB does."""
    if not _state["enabled"]:
        return
    for request in _requests(model.name, params):
        found = unused(request)
        if found is None:
            continue
        field, keys = found
        # DynamoDB's wording (moto prefixes "1 validation error detected: " on updates)
        message = f"Value provided in {field} unused in expressions: keys: {{{', '.join(keys)}}}"
        raise ClientError(
            {
                "Error": {"Code": "ValidationException", "Message": message},
                "ResponseMetadata": {"HTTPStatusCode": 400},
            },
            model.name,
        )


def install() -> None:
    """Hook every botocore session created from now on; idempotent."""
    from botocore.handlers import BUILTIN_HANDLERS

    if ("before-parameter-build.dynamodb", check) not in BUILTIN_HANDLERS:
        BUILTIN_HANDLERS.append(("before-parameter-build.dynamodb", check))
