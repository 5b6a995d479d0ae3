"""A run's dates (populations.md, "Time"): the default as-of date, and the windows a run
reads, built once (`RunDates`)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from transforms.windows import Window, lookback, months_before

if TYPE_CHECKING:
    from ecm.config.rules import Rules


def previous_month_end(today: dt.date) -> dt.date:
    """The last day of the month before `today`."""
    return today.replace(day=1) - dt.timedelta(days=1)


def default_as_of(timezone: str = "America/Los_Angeles", now: dt.datetime | None = None) -> dt.date:
    """The last day of the previous month in the plan's time zone (populations.md, Time),
    at `now` (an aware datetime; default: the current time)."""
    moment = now.astimezone(ZoneInfo(timezone)) if now else dt.datetime.now(ZoneInfo(timezone))
    return previous_month_end(moment.date())


@dataclass(frozen=True)
class RunDates:
    """A run's dates, built once from the rules file and the as-of date, then passed: the
    as-of date D, the lookback (`time.lookback_months` ending on D), the long lookback
    (`time.long_lookback_months`), and the earliest service date any rule reads
    (`history_start`: the long lookback's start, or the pregnancy carry-over before the
    lookback, whichever is earlier)."""

    as_of: dt.date
    window: Window
    long_window: Window
    history_start: dt.date

    @classmethod
    def of(cls, rules: Rules, as_of: dt.date) -> RunDates:
        window = lookback(as_of, rules.setting("time.lookback_months"))
        long_window = lookback(as_of, rules.setting("time.long_lookback_months"))
        carryover = months_before(window.start, rules.setting("time.pregnancy_carryover_months"))
        return cls(as_of, window, long_window, min(long_window.start, carryover))

    def months(self, months: int) -> Window:
        """A lookback of another length ending on D (a population's own lookback)."""
        return lookback(self.as_of, months)
