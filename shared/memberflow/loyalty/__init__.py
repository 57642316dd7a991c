"""Pure loyalty rules: lifecycle stages, tiers, points, RFM scores, review-date keys.

Plain functions over plain dataclasses: no database, no AWS, no clock. Every function
that needs the time takes ``now``; every business number comes from the
:class:`~memberflow.config.programme.Programme`. The store layer calls these inside its
DynamoDB transactions.

Conventions shared by the modules:

- datetimes must be timezone-aware; computed moments are returned in UTC;
- money is :class:`decimal.Decimal`, points are ``int`` and always rounded down;
- "calendar month" arithmetic happens in the programme's time zone, with the day of
  month clamped (Jan 31 + 1 month = Feb 28/29);
- rolling windows are half-open ``(now - window, now]``: an event exactly one window
  ago has dropped out.
"""

from memberflow.loyalty import points, review, rfm, stages, tiers

__all__ = ["points", "review", "rfm", "stages", "tiers"]
