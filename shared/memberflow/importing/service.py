"""The import's logic: validate, plan batches, import a batch of customers.

Plain Python over :mod:`memberflow.store.imports`; the member import function's
handlers (``functions/member_import``) only parse and shape.
"""

from __future__ import annotations

from collections import Counter
from datetime import datetime

from memberflow.config import Programme
from memberflow.importing.lines import Customer, LineError, validate_file
from memberflow.importing.replay import derive
from memberflow.members.identity import email_hash
from memberflow.store import imports as store

# Customers per batch: one Lambda invocation derives and writes them well inside its
# timeout (about 3 ms of rules and 5 DynamoDB items a customer), and the API imports a
# file of at most this many inline.
BATCH_CUSTOMERS = 250
# ...and at most this much of the file (about 2,500 past orders): a batch of customers
# with long histories stays as quick as one of 250 ordinary ones.
BATCH_BYTES = 512 * 1024


class FileRefused(ValueError):
    """The file has bad lines: nothing was written."""

    def __init__(self, errors: list[LineError]):
        super().__init__(f"{len(errors)} bad line(s), first: line {errors[0].line}")
        self.errors = errors

    def body(self) -> dict:
        first = self.errors[0]
        return {
            "error": {
                "status": 400,
                "field": f"line {first.line}: {first.field}",
                "reason": first.reason,
                "line": first.line,
            },
            "errors": [e.as_dict() for e in self.errors],
        }


def check(data: bytes, programme: Programme, now: datetime) -> list[Customer]:
    customers, errors = validate_file(data, programme, now)
    if errors:
        raise FileRefused(errors)
    return customers


def import_customers(customers: list[Customer], programme: Programme, now: datetime) -> dict:
    """Create the customers not yet members; idempotent on the platform's ids. Counts
    only (no personal data) in the result."""
    counts: Counter = Counter(customers=len(customers))
    keys = [c.identity_key for c in customers]
    hashes = [h for c in customers if (h := email_hash(c.email))]
    present, erased = store.refused_keys(keys, hashes)
    todo = []
    for customer in customers:
        if customer.identity_key in present:
            counts["already_present"] += 1
        elif customer.identity_key in erased or email_hash(customer.email) in erased:
            counts["erased_skipped"] += 1
        else:
            todo.append(derive(customer, programme, now))
    orders = [o for d in todo for o in d.orders]
    entries = [e for d in todo for e in d.entries]
    store.write_history(orders, entries)
    created = store.create_members([(d.member, d.identity, d.email_link) for d in todo])
    counts["imported"] += created
    counts["already_present"] += len(todo) - created
    counts["orders"] += len(orders)
    for d in todo:
        counts[f"stage_{d.member.stage}"] += 1
    return dict(counts)


def fits_one_batch(data: bytes, customers: list[Customer]) -> bool:
    return len(customers) <= BATCH_CUSTOMERS and len(data) <= BATCH_BYTES


def plan_batches(
    data: bytes, batch_customers: int = BATCH_CUSTOMERS, batch_bytes: int = BATCH_BYTES
) -> list[dict]:
    """Byte ranges of at most ``batch_customers`` lines and (unless one line is larger)
    ``batch_bytes`` each: ``{"start", "end", "first_line"}`` (``end`` exclusive), for
    batches that read only their part of the object."""
    batches, offset, line, start, start_line, count = [], 0, 1, 0, 1, 0
    for raw in data.split(b"\n"):
        length = len(raw) + 1
        if raw.strip():
            count += 1
        offset += length
        line += 1
        if count == batch_customers or (count and offset - start >= batch_bytes):
            batches.append(
                {"start": start, "end": min(offset, len(data)), "first_line": start_line}
            )
            start, start_line, count = offset, line, 0
    if count:
        batches.append({"start": start, "end": len(data), "first_line": start_line})
    return batches


def check_range(data: bytes, first_line: int, programme: Programme, now: datetime):
    """The customers of one batch's byte range (line numbers from ``first_line``)."""
    customers, errors = validate_file(data, programme, now, first_line=first_line)
    if errors:
        raise FileRefused(errors)
    return customers


def summarise(results: list[dict]) -> dict:
    total: Counter = Counter()
    for result in results:
        total.update({k: v for k, v in result.items() if isinstance(v, int)})
    return dict(total)


__all__ = [
    "BATCH_CUSTOMERS",
    "FileRefused",
    "check",
    "import_customers",
    "plan_batches",
    "summarise",
]
