"""Small pure helpers shared by the platform parsers."""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

from memberflow.webhooks.errors import WebhookError

_ISO = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}[T ][0-9]{2}:[0-9]{2}(:[0-9]{2}(\.[0-9]{1,9})?)?"
    r"(Z|z|[+-][0-9]{2}:?[0-9]{2})?"
)
_NANOS = re.compile(r"(\.[0-9]{6})[0-9]{1,3}")
_SAFE_TEXT = re.compile(r"[\x21-\x7e]{1,256}")


class Ignored(Exception):  # noqa: N818 - a signal, not an error
    """Raised by a parser: the delivery is genuine but carries nothing to record."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


class Headers:
    """Case-insensitive, read-only view of request headers."""

    def __init__(self, headers: Mapping[str, str] | None):
        self._items: dict[str, str] = {}
        for key, value in (headers or {}).items():
            if isinstance(key, str) and isinstance(value, str):
                self._items[key.lower()] = value

    def get(self, name: str) -> str | None:
        value = self._items.get(name.lower())
        if value is None:
            return None
        value = value.strip()
        return value or None

    def require(self, name: str, status: int = 400) -> str:
        value = self.get(name)
        if value is None:
            raise WebhookError(status, f"header:{name}", "missing header")
        return value

    def token(self, name: str, status: int = 400, max_len: int = 256) -> str:
        """A required header that must be printable ASCII without spaces (an id)."""
        value = self.require(name, status)
        if len(value) > max_len or not _SAFE_TEXT.fullmatch(value):
            raise WebhookError(status, f"header:{name}", "malformed header")
        return value


def path_of(parts: Any) -> str:
    out = "body"
    for part in parts:
        out += f"[{part}]" if isinstance(part, int) else f".{part}"
    return out


def parse_time(value: Any, field: str) -> datetime:
    """ISO-8601 / RFC 3339 to aware UTC; a value without offset is UTC (WooCommerce
    ``*_gmt`` fields)."""
    if not isinstance(value, str) or not _ISO.fullmatch(value):
        raise WebhookError(400, field, "must be an ISO-8601 date-time")
    # Python keeps microseconds: drop nanosecond digits (Shopify's X-Shopify-Triggered-At)
    value = _NANOS.sub(lambda m: m.group(1), value)
    try:
        moment = datetime.fromisoformat(value.replace("z", "Z").replace("Z", "+00:00"))
    except ValueError:
        raise WebhookError(400, field, "must be a valid ISO-8601 date-time") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def opt_time(value: Any, field: str) -> datetime | None:
    return None if value is None else parse_time(value, field)


def money(value: Any, field: str) -> Decimal:
    """A non-negative amount; JSON numbers arrive as Decimal (``parse_float=Decimal``)."""
    if isinstance(value, bool):
        raise WebhookError(400, field, "must be a non-negative decimal amount")
    try:
        amount = value if isinstance(value, Decimal) else Decimal(str(value).strip())
    except (InvalidOperation, ValueError):
        raise WebhookError(400, field, "must be a non-negative decimal amount") from None
    if not amount.is_finite() or amount < 0:
        raise WebhookError(400, field, "must be a non-negative decimal amount")
    return amount.copy_abs()  # never "-0.00"


def ident(value: Any, field: str) -> str:
    """An id (integer or string) as a string; printable ASCII, no spaces."""
    if isinstance(value, bool) or value is None:
        raise WebhookError(400, field, "must be an id")
    text = str(value).strip() if isinstance(value, (int, str)) else ""
    if not _SAFE_TEXT.fullmatch(text):
        raise WebhookError(400, field, "must be an id")
    return text


def opt_ident(value: Any, field: str) -> str | None:
    return None if value is None else ident(value, field)


# -- text that is stored ------------------------------------------------------------------
# The rule (docs/platforms/README.md): names and other free text are cleaned (every run of
# whitespace or control characters becomes one space, ends stripped); addresses, phone
# numbers, time zones and locales must be well-formed or the delivery is refused with 400
# naming the field. Lone surrogates are refused anywhere in a body (see core._parse_json).
_SPACE_OR_CONTROL = re.compile(r"[\s\x00-\x1f\x7f-\x9f\u2028\u2029]+")
# WooCommerce's own rule (WC_Validation::is_phone): digits, spaces and # _ - + / ( ) .
_PHONE = re.compile(r"[0-9\s#_\-+/().]{3,32}")
_LOCALE = re.compile(r"[A-Za-z]{2,3}([_-][A-Za-z0-9]{1,8}){0,3}")
MAX_TEXT = 512


def text(value: Any, field: str = "body") -> str | None:
    """Free text (a name, a coupon code): cleaned by the rule above; ``None`` if empty."""
    if not isinstance(value, str):
        return None
    cleaned = _SPACE_OR_CONTROL.sub(" ", value).strip()
    if len(cleaned) > MAX_TEXT:
        raise WebhookError(400, field, f"longer than {MAX_TEXT} characters")
    return cleaned or None


def email(value: Any, field: str = "body.email") -> str | None:
    """An email address, stripped and lower-cased; ``None`` if absent or empty; 400 when
    it is not an address (email-validator's syntax rules, no DNS look-up)."""
    if value is None:
        return None
    if not isinstance(value, str):
        raise WebhookError(400, field, "must be an email address")
    value = value.strip()
    if not value:
        return None
    from email_validator import EmailNotValidError, validate_email

    try:
        validate_email(value, check_deliverability=False)
    except EmailNotValidError:
        # the library's message may quote the address: say only what was expected
        raise WebhookError(400, field, "must be an email address") from None
    return value.lower()


def phone(value: Any, field: str) -> str | None:
    """A phone number by WooCommerce's rule (digits, spaces, ``# _ - + / ( ) .``, at
    least 3 digits); inner whitespace collapsed; ``None`` if empty; 400 otherwise."""
    if value is None:
        return None
    if not isinstance(value, str):
        raise WebhookError(400, field, "must be a phone number")
    value = " ".join(value.split())
    if not value:
        return None
    if not _PHONE.fullmatch(value) or sum(c.isdigit() for c in value) < 3:
        raise WebhookError(400, field, "must be a phone number")
    return value


def timezone(value: Any, field: str) -> str | None:
    """An IANA time zone name; ``None`` if empty; 400 otherwise."""
    if value is None or value == "":
        return None
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    if not isinstance(value, str) or not _SAFE_TEXT.fullmatch(value.strip()):
        raise WebhookError(400, field, "must be an IANA time zone name")
    try:
        ZoneInfo(value.strip())
    except (ZoneInfoNotFoundError, ValueError):
        raise WebhookError(400, field, "must be an IANA time zone name") from None
    return value.strip()


def birthday(value: Any, field: str, at: datetime | None = None) -> str | None:
    """A birthday, ``YYYY-MM-DD`` or a month-day ``--MM-DD``/``MM-DD``, in its stored
    form (memberflow.members.birthdays); ``None`` if empty; 400 otherwise (after ``at``'s
    day anywhere on Earth: in the future). ``at``: the server's clock when the request
    came, never a time the payload gives (the sender's to choose)."""
    if value is None or value == "":
        return None
    from memberflow.members.birthdays import InvalidBirthday, parse

    try:
        return parse(value, (at + timedelta(days=1)).date() if at is not None else None)
    except InvalidBirthday as bad:
        raise WebhookError(400, field, bad.reason) from None


def locale(value: Any, field: str) -> str | None:
    """A language tag such as ``en``, ``zh-CN``, ``pt_BR``; ``None`` if empty; 400 otherwise."""
    if value is None or value == "":
        return None
    if not isinstance(value, str) or not _LOCALE.fullmatch(value.strip()):
        raise WebhookError(400, field, "must be a language tag such as en or zh-CN")
    return value.strip()


def find_lone_surrogate(doc: Any, parts: tuple = ()) -> tuple | None:
    """The path of the first string (key or value) holding a lone surrogate, or None.
    Such text is not Unicode: it cannot be stored (DynamoDB wants UTF-8) or sent."""
    if isinstance(doc, str):
        return parts if _SURROGATE.search(doc) else None
    if isinstance(doc, dict):
        for key, value in doc.items():
            if _SURROGATE.search(key):
                return (*parts, key)
            found = find_lone_surrogate(value, (*parts, key))
            if found is not None:
                return found
    elif isinstance(doc, list):
        for i, value in enumerate(doc):
            found = find_lone_surrogate(value, (*parts, i))
            if found is not None:
                return found
    return None


_SURROGATE = re.compile(r"[\ud800-\udfff]")


def obj(value: Any) -> dict:
    return value if isinstance(value, dict) else {}
