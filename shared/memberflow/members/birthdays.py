"""A member's birthday: a month and a day, with the year when the member gave one.

Stored on the member as text, in ISO 8601's two forms: ``YYYY-MM-DD`` or ``--MM-DD``
(a month-day without a year). It is personal data: erased with the member
(memberflow.members.privacy), never in Step Functions payloads, logs or metrics (ids
only). Its yearly return in the member's time zone is a date trigger's attribute
(``{"trigger": "date", "attribute": "birthday"}``, memberflow.loyalty.handoffs.date_due).
"""

from __future__ import annotations

import re
from datetime import date

ATTRIBUTE = "birthday"
# A leap year before any birth year memberflow accepts: a month-day without a year is
# read as a date of it, so that 29 February is one (its return in a year without a 29
# February falls on the 28th, memberflow.loyalty.handoffs._in_year).
NO_YEAR = 4
EARLIEST_YEAR = 1900
_FORMS = re.compile(r"(?:([0-9]{4})-|--)?([0-9]{2})-([0-9]{2})")


class InvalidBirthday(ValueError):
    """Not a birthday; ``reason`` says why without repeating the value (personal data)."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


def parse(value: object, today: date | None = None) -> str:
    """The stored form of a birthday given as ``YYYY-MM-DD``, ``--MM-DD`` or ``MM-DD``;
    raises :class:`InvalidBirthday`. ``today``: a birthday after it is refused."""
    if not isinstance(value, str):
        raise InvalidBirthday("must be a date YYYY-MM-DD or a month-day --MM-DD")
    found = _FORMS.fullmatch(value.strip())
    if found is None:
        raise InvalidBirthday("must be a date YYYY-MM-DD or a month-day --MM-DD")
    year, month, day = found.groups()
    try:
        born = date(int(year) if year else 2000, int(month), int(day))  # 2000: a leap year
    except ValueError:
        raise InvalidBirthday("is not a day of the calendar") from None
    if year is None:
        return f"--{month}-{day}"
    if born.year < EARLIEST_YEAR:
        raise InvalidBirthday(f"must be in {EARLIEST_YEAR} or later")
    if today is not None and born > today:
        raise InvalidBirthday("is in the future")
    return f"{year}-{month}-{day}"


def as_date(stored: str) -> date:
    """The stored birthday as a date: in its year, or in :data:`NO_YEAR` without one."""
    if stored.startswith("--"):
        month, day = stored[2:].split("-")
        return date(NO_YEAR, int(month), int(day))
    return date.fromisoformat(stored)
