"""When an EventBridge Scheduler expression fires, for the virtual clock.

Supports what schedules of this kind use: ``rate(N minutes|hours|days)`` and
``cron(min hour day-of-month month day-of-week year)`` with fixed minute and hour,
``*``/``?`` or lists in the day fields. Anything else is refused loudly.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta

_DAYS = {"SUN": 0, "MON": 1, "TUE": 2, "WED": 3, "THU": 4, "FRI": 5, "SAT": 6}


def _field(text: str, names: dict[str, int] | None = None) -> set[int] | None:
    if text in ("*", "?"):
        return None
    values = set()
    for part in text.split(","):
        part = part.strip().upper()
        values.add(names[part] if names and part in names else int(part))
    return values


def occurrences(expression: str, after: datetime, until: datetime) -> list[datetime]:
    """Fire times in (after, until], UTC."""
    rate = re.fullmatch(r"rate\((\d+) (minute|minutes|hour|hours|day|days)\)", expression)
    if rate:
        amount, unit = int(rate.group(1)), rate.group(2).rstrip("s")
        step = {
            "minute": timedelta(minutes=1),
            "hour": timedelta(hours=1),
            "day": timedelta(days=1),
        }[unit]
        step *= amount
        out, t = [], after + step
        while t <= until:
            out.append(t)
            t += step
        return out
    cron = re.fullmatch(r"cron\((\S+) (\S+) (\S+) (\S+) (\S+) (\S+)\)", expression)
    if not cron:
        raise ValueError(f"unsupported schedule expression: {expression}")
    minute, hour, dom, month, dow, _year = cron.groups()
    if not (minute.isdigit() and hour.isdigit()):
        raise ValueError(f"cron minute and hour must be fixed numbers: {expression}")
    doms, months = _field(dom), _field(month)
    # EventBridge day-of-week: 1=SUN..7=SAT; Python weekday(): 0=MON. Normalise to 0=SUN.
    dows = _field(dow, {k: v + 1 for k, v in _DAYS.items()})
    out = []
    day = after.replace(hour=0, minute=0, second=0, microsecond=0)
    while day <= until:
        fire = day.replace(hour=int(hour), minute=int(minute))
        sunday_first = (fire.weekday() + 1) % 7 + 1
        if (
            after < fire <= until
            and (doms is None or fire.day in doms)
            and (months is None or fire.month in months)
            and (dows is None or sunday_first in dows)
        ):
            out.append(fire)
        day += timedelta(days=1)
    return out
