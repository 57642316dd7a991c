"""Calendar helpers shared by the loyalty rules."""

from __future__ import annotations

import calendar
import operator
from datetime import UTC, datetime, tzinfo
from functools import lru_cache


def require_aware(moment: datetime, name: str = "datetime") -> datetime:
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"{name} must be timezone-aware, got {moment!r}")
    return moment


def add_months(moment: datetime, months: int, tz: tzinfo = UTC) -> datetime:
    """``moment`` plus ``months`` calendar months on the wall clock of ``tz``, in UTC.

    The day of month is clamped to the target month (Jan 31 + 1 month = Feb 28, or 29 in
    a leap year); the local time of day is kept.
    """
    # The rules ask for the same few moments over and over (a member's monthly review
    # calendar from its anchor, each order's window exit): remembered. Keyed also on the
    # fold: two datetimes of one zone compare equal on their wall clock alone, even an
    # hour apart in a repeated (DST) hour.
    # A whole count only (12.0 is refused as 12.5 is, cached or not); the programme's
    # validation gives the month counts as ints. Typed: 12 and 12.0 are not one key.
    return _add_months(moment, moment.fold, operator.index(months), tz)


@lru_cache(maxsize=4096, typed=True)
def _add_months(moment: datetime, _fold: int, months: int, tz: tzinfo) -> datetime:
    require_aware(moment)
    local = moment.astimezone(tz)
    index = local.year * 12 + (local.month - 1) + months
    year, month0 = divmod(index, 12)
    month = month0 + 1
    day = min(local.day, calendar.monthrange(year, month)[1])
    return local.replace(year=year, month=month, day=day, fold=0).astimezone(UTC)
