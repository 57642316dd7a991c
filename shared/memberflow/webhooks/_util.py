"""Small pure helpers shared by the platform parsers."""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, datetime
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


def email(value: Any) -> str | None:
    if not isinstance(value, str):
        return None
    value = value.strip().lower()
    return value or None


def text(value: Any) -> str | None:
    if not isinstance(value, str):
        return None
    value = value.strip()
    return value or None


def obj(value: Any) -> dict:
    return value if isinstance(value, dict) else {}
