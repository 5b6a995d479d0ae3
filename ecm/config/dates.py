"""A run's dates: the default as-of date (populations.md, "Time")."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo


def previous_month_end(today: dt.date) -> dt.date:
    """The last day of the month before `today`."""
    return today.replace(day=1) - dt.timedelta(days=1)


def default_as_of(timezone: str = "America/Los_Angeles", now: dt.datetime | None = None) -> dt.date:
    """The last day of the previous month in the plan's time zone (populations.md, Time),
    at `now` (an aware datetime; default: the current time)."""
    moment = now.astimezone(ZoneInfo(timezone)) if now else dt.datetime.now(ZoneInfo(timezone))
    return previous_month_end(moment.date())
