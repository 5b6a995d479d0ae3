"""Dates for the generator: days as integers, calendar months, and the day expressions
the persona recipes are written in.

A day is an `int` (numpy `int32` in arrays): days since 1970-01-01. `NULL_DAY` marks an
empty date. Months are added the way populations.md counts them: a day that does not
exist in the target month is clamped to that month's last day.
"""

from __future__ import annotations

import calendar
import datetime as dt
import re
from dataclasses import dataclass

import numpy as np

EPOCH = dt.date(1970, 1, 1)
NULL_DAY = np.iinfo(np.int32).min


def to_day(day: dt.date) -> int:
    return (day - EPOCH).days


def to_date(day: int) -> dt.date:
    return EPOCH + dt.timedelta(days=int(day))


def add_months(day: dt.date, months: int) -> dt.date:
    """`day` plus `months` calendar months, clamped to the target month's last day."""
    index = day.year * 12 + day.month - 1 + months
    year, month = divmod(index, 12)
    last = calendar.monthrange(year, month + 1)[1]
    return dt.date(year, month + 1, min(day.day, last))


def window_start(end: dt.date, months: int) -> dt.date:
    """First day of an N-month window ending at `end` (end − N months + 1 day)."""
    return add_months(end, -months) + dt.timedelta(days=1)


def month_start_days(days: np.ndarray) -> np.ndarray:
    """The first day of each day's month (vectorised)."""
    months = days.astype("datetime64[D]").astype("datetime64[M]")
    return months.astype("datetime64[D]").astype(np.int32)


def add_month_count(first_days: np.ndarray, months: np.ndarray | int) -> np.ndarray:
    """First-of-month days moved by whole months (vectorised; inputs are month starts)."""
    as_months = first_days.astype("datetime64[D]").astype("datetime64[M]")
    return (as_months + np.asarray(months)).astype("datetime64[D]").astype(np.int32)


def month_end_days(days: np.ndarray) -> np.ndarray:
    """The last day of each day's month (vectorised)."""
    return add_month_count(month_start_days(days), 1) - 1


@dataclass(frozen=True)
class Anchors:
    """The dates recipes are written against, for one `end` and window length."""

    end: dt.date  # D: the as-of date the data is built for
    lookback: dt.date  # L: first day of the 12-month lookback
    lookback24: dt.date  # L24: first day of the 24-month lookback
    window: dt.date  # W: first day of the generated claims history

    @classmethod
    def of(cls, end: dt.date, months: int) -> Anchors:
        return cls(
            end=end,
            lookback=window_start(end, 12),
            lookback24=window_start(end, 24),
            window=window_start(end, months),
        )


_TERM = re.compile(r"([+-])(\d+)([dmy])")
_EXPR = re.compile(r"^(D|L24|L|W|B)((?:[+-]\d+[dmy])*)$")


def resolve(expr: str, anchors: Anchors, birth: dt.date | None = None) -> dt.date:
    """Evaluate a day expression: an anchor and terms applied left to right.

    Anchors: `D` (end), `L` (12-month lookback start), `L24`, `W` (window start), `B`
    (the member's birth date). Terms: `+10d`, `-1d`, `-9m`, `+18y`. Examples: `L-1d` (the
    day before the lookback), `D-21y` (turns 21 on D), `B+18y` (18th birthday).
    """
    match = _EXPR.match(expr)
    if not match:
        raise ValueError(f"not a day expression: {expr!r}")
    anchor, terms = match.groups()
    if anchor == "B":
        if birth is None:
            raise ValueError(f"{expr!r} needs a birth date")
        day = birth
    else:
        day = {
            "D": anchors.end,
            "L": anchors.lookback,
            "L24": anchors.lookback24,
            "W": anchors.window,
        }[anchor]
    for sign, number, unit in _TERM.findall(terms):
        n = int(number) * (1 if sign == "+" else -1)
        if unit == "d":
            day = day + dt.timedelta(days=n)
        elif unit == "m":
            day = add_months(day, n)
        else:
            day = add_months(day, 12 * n)
    return day


def birth_anchor_days(end: dt.date, max_age: int) -> np.ndarray:
    """Day of the `age`-th birthday-before-end for ages 0..max_age+1: a member born in
    (anchor[age + 1], anchor[age]] is `age` completed years old on `end`."""
    return np.array(
        [to_day(add_months(end, -12 * age)) for age in range(max_age + 2)], dtype=np.int32
    )
