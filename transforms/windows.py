"""Time windows of the rules: lookbacks in calendar months, ages in completed years."""

from __future__ import annotations

import calendar
import datetime as dt
from dataclasses import dataclass

import polars as pl


def months_before(day: dt.date, months: int) -> dt.date:
    """The same day `months` calendar months earlier, clamped to that month's last day."""
    total = day.year * 12 + (day.month - 1) - months
    year, month = divmod(total, 12)
    month += 1
    last = calendar.monthrange(year, month)[1]
    return dt.date(year, month, min(day.day, last))


@dataclass(frozen=True)
class Window:
    """An inclusive date range [start, end]."""

    start: dt.date
    end: dt.date

    def contains(self, date: pl.Expr) -> pl.Expr:
        """True where `date` lies in the window (null dates are outside)."""
        return date.is_between(pl.lit(self.start), pl.lit(self.end), closed="both").fill_null(False)

    def touches(self, start: pl.Expr, end: pl.Expr) -> pl.Expr:
        """True where the span [start, end] (end null = open) overlaps the window."""
        return (
            (start <= pl.lit(self.end)) & (end.is_null() | (end >= pl.lit(self.start)))
        ).fill_null(False)


def lookback(as_of: dt.date, months: int) -> Window:
    """D − `months` calendar months + 1 day through D (populations.md, Time)."""
    return Window(months_before(as_of, months) + dt.timedelta(days=1), as_of)


def age_on(birth_date: pl.Expr, day: dt.date) -> pl.Expr:
    """Completed years at `day` (a birthday on `day` counts)."""
    before_birthday = (birth_date.dt.month() > day.month) | (
        (birth_date.dt.month() == day.month) & (birth_date.dt.day() > day.day)
    )
    return (pl.lit(day.year) - birth_date.dt.year() - before_birthday.cast(pl.Int32)).cast(pl.Int32)
