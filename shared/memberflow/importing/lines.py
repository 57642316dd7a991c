"""Reading and validating a go-live import file: JSON Lines, one customer a line.

Every line is checked against ``schemas/customer.json`` and against what the schema
cannot say (dates not in the future, a birthday that is a day of the calendar, the
programme's currency, no customer or order twice in the file). Errors name the line (1-based) and the field (a JSON path such as
``orders[2].paid_at``), never the offending value: it may be personal data.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from functools import cache
from importlib import resources

from jsonschema import Draft202012Validator, FormatChecker
from jsonschema.exceptions import ValidationError

from memberflow.config import Programme
from memberflow.members import birthdays
from memberflow.members.identity import identity_key

MAX_LINE_BYTES = 1024 * 1024
MAX_ERRORS = 100  # reported; the file is refused at the first one anyway


@dataclass(frozen=True)
class LineError:
    line: int
    field: str
    reason: str

    def as_dict(self) -> dict:
        return {"line": self.line, "field": self.field, "reason": self.reason}


@dataclass(frozen=True)
class PastOrder:
    order_id: str
    paid_at: datetime
    total: Decimal
    currency: str


@dataclass(frozen=True)
class Customer:
    line: int
    platform: str
    shop: str | None
    customer_id: str
    signed_up_at: datetime
    email: str | None = None
    phone: str | None = None
    first_name: str | None = None
    last_name: str | None = None
    locale: str | None = None
    birthday: str | None = None  # stored form (memberflow.members.birthdays)
    consent_email: bool = False
    consent_sms: bool = False
    opening_points: int = 0
    orders: tuple[PastOrder, ...] = ()

    @property
    def identity_key(self) -> str:
        return identity_key(self.platform, self.shop, self.customer_id)


@cache
def validator() -> Draft202012Validator:
    text = resources.files("memberflow.importing").joinpath("schemas", "customer.json")
    schema = json.loads(text.read_text("utf-8"))
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema, format_checker=FormatChecker())


def _path(parts) -> str:
    out = ""
    for part in parts:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "line"


def _reason(error: ValidationError) -> tuple[str, str]:
    """(field, reason) in the schema's words, without echoing the value."""
    field = _path(error.absolute_path)
    kind, expected, schema = error.validator, error.validator_value, error.schema
    title = schema.get("title") if isinstance(schema, dict) else None
    if kind == "required":
        present = error.instance if isinstance(error.instance, dict) else {}
        missing = next(name for name in expected if name not in present)
        return _path([*error.absolute_path, missing]), "is required"
    if kind == "additionalProperties":
        present = error.instance if isinstance(error.instance, dict) else {}
        known = schema.get("properties", {})
        extra = sorted(name for name in present if name not in known)
        return _path([*error.absolute_path, *(extra[:1] or [])]), "is not a known field"
    if title and kind in ("anyOf", "type", "pattern", "minimum", "maximum", "$ref"):
        return field, f"must be {title}"
    if kind == "type":
        kinds = expected if isinstance(expected, list) else [expected]
        return field, "must be of type " + " or ".join(kinds)
    if kind == "format":
        return field, f"must be a valid {expected}"
    if kind in ("minimum", "maximum"):
        return field, f"must be {'>=' if kind == 'minimum' else '<='} {expected}"
    if kind in ("minLength", "maxLength", "minItems", "maxItems"):
        return field, f"violates {kind} {expected}"
    return field, f"violates {kind}"


def _moment(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC)


def parse_line(text: str, line: int, programme: Programme, now: datetime) -> Customer:
    """One line as a :class:`Customer`; raises :class:`LineError` (the first problem)."""
    try:
        document = json.loads(text)
    except (ValueError, RecursionError):
        raise _error(line, "line", "is not valid JSON") from None
    errors = sorted(validator().iter_errors(document), key=lambda e: list(e.absolute_path))
    if errors:
        # The deepest error of the first field: the most specific reason.
        first = max(
            (e for e in errors if list(e.absolute_path)[:1] == list(errors[0].absolute_path)[:1]),
            key=lambda e: len(e.absolute_path),
        )
        field, reason = _reason(first)
        raise _error(line, field, reason)
    try:
        signed_up_at = _moment(document["signed_up_at"])
    except ValueError:
        raise _error(line, "signed_up_at", "is not a valid date-time") from None
    if signed_up_at > now:
        raise _error(line, "signed_up_at", "is in the future")
    orders, seen = [], set()
    for i, raw in enumerate(document.get("orders", [])):
        try:
            paid_at = _moment(raw["paid_at"])
        except ValueError:
            raise _error(line, f"orders[{i}].paid_at", "is not a valid date-time") from None
        if paid_at > now:
            raise _error(line, f"orders[{i}].paid_at", "is in the future")
        currency = programme.doc["programme"].get("currency")
        if currency and raw["currency"] != currency:
            raise _error(
                line, f"orders[{i}].currency", f"must be the programme's currency {currency}"
            )
        if raw["order_id"] in seen:
            raise _error(line, f"orders[{i}].order_id", "repeats an order of this customer")
        seen.add(raw["order_id"])
        total = Decimal(str(raw["total"]))
        if total != total.quantize(Decimal("0.01")):
            raise _error(line, f"orders[{i}].total", "must have at most two decimals")
        orders.append(PastOrder(raw["order_id"], paid_at, total, raw["currency"]))
    birthday = None
    if "birthday" in document:
        try:
            # a day's margin: go-live's date is already tomorrow somewhere
            birthday = birthdays.parse(document["birthday"], (now + timedelta(days=1)).date())
        except birthdays.InvalidBirthday as bad:
            raise _error(line, "birthday", bad.reason) from None
    consent = document.get("consent", {})
    return Customer(
        line=line,
        platform=document["platform"],
        shop=document.get("shop"),
        customer_id=document["customer_id"],
        signed_up_at=signed_up_at,
        email=document.get("email"),
        phone=document.get("phone"),
        first_name=document.get("first_name"),
        last_name=document.get("last_name"),
        locale=document.get("locale"),
        birthday=birthday,
        consent_email=bool(consent.get("email", False)),
        consent_sms=bool(consent.get("sms", False)),
        opening_points=int(document.get("opening_points", 0)),
        orders=tuple(sorted(orders, key=lambda o: (o.paid_at, o.order_id))),
    )


class _Refused(Exception):
    def __init__(self, error: LineError):
        self.error = error


def _error(line: int, field: str, reason: str) -> _Refused:
    return _Refused(LineError(line, field, reason))


def iter_lines(data: bytes, first_line: int = 1):
    """(line number, text) of every non-blank line; a line that is not UTF-8 or too
    long is yielded as a :class:`LineError`."""
    for offset, raw in enumerate(data.split(b"\n")):
        number = first_line + offset
        if not raw.strip():
            continue
        if len(raw) > MAX_LINE_BYTES:
            yield number, LineError(number, "line", f"is longer than {MAX_LINE_BYTES} bytes")
            continue
        try:
            yield number, raw.decode("utf-8")
        except UnicodeDecodeError:
            yield number, LineError(number, "line", "is not UTF-8")


def validate_file(
    data: bytes, programme: Programme, now: datetime, *, first_line: int = 1
) -> tuple[list[Customer], list[LineError]]:
    """Every customer of the file, or the errors (at most :data:`MAX_ERRORS`): a file
    with any error is refused whole, so the caller writes nothing."""
    customers: list[Customer] = []
    errors: list[LineError] = []
    customer_lines: dict[str, int] = {}
    order_lines: dict[str, int] = {}
    for number, text in iter_lines(data, first_line):
        if len(errors) >= MAX_ERRORS:
            break
        if isinstance(text, LineError):
            errors.append(text)
            continue
        try:
            customer = parse_line(text, number, programme, now)
        except _Refused as refused:
            errors.append(refused.error)
            continue
        key = customer.identity_key
        if key in customer_lines:
            errors.append(
                LineError(
                    number, "customer_id", f"repeats the customer of line {customer_lines[key]}"
                )
            )
            continue
        customer_lines[key] = number
        clash = None
        for i, order in enumerate(customer.orders):
            okey = f"{customer.platform}#{customer.shop or ''}#{order.order_id}"
            if okey in order_lines:
                clash = LineError(
                    number, f"orders[{i}].order_id", f"repeats an order of line {order_lines[okey]}"
                )
                break
            order_lines[okey] = number
        if clash:
            errors.append(clash)
            continue
        customers.append(customer)
    return customers, errors
