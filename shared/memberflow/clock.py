"""The one source of "now" for every handler and rule.

In AWS it is the system clock. The embedded local stack installs a virtual clock
(``memberflow_local.clock``) so that weeks of journeys run in seconds; code never
calls ``datetime.now()`` directly, it calls :func:`now`.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

_source: Callable[[], datetime] | None = None


def now() -> datetime:
    """Current time, timezone-aware UTC."""
    if _source is not None:
        return _source()
    return datetime.now(UTC)


def install(source: Callable[[], datetime] | None) -> None:
    """Replace the time source (the local stack's virtual clock); ``None`` restores real time."""
    global _source
    _source = source


def iso(moment: datetime | None = None) -> str:
    return (moment or now()).astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def parse_iso(text: str) -> datetime:
    value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC)
