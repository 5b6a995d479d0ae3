import datetime as dt

import polars as pl
import pytest

from transforms.windows import Window, age_on, lookback, months_before

D = dt.date


@pytest.mark.parametrize(
    ("as_of", "months", "start"),
    [
        (D(2026, 10, 31), 12, D(2025, 11, 1)),  # the spec's example
        (D(2026, 10, 31), 24, D(2024, 11, 1)),
        (D(2026, 2, 28), 12, D(2025, 3, 1)),
        (D(2024, 2, 29), 12, D(2023, 3, 1)),  # 2023-02-29 does not exist: clamped to 02-28
        (D(2026, 3, 31), 1, D(2026, 3, 1)),  # 2026-02-31 clamps to 02-28, + 1 day
        (D(2026, 1, 15), 12, D(2025, 1, 16)),
    ],
)
def test_lookback_start(as_of, months, start):
    window = lookback(as_of, months)
    assert window.start == start
    assert window.end == as_of


def test_months_before_clamps_to_month_end():
    assert months_before(D(2026, 5, 31), 3) == D(2026, 2, 28)
    assert months_before(D(2026, 1, 31), 1) == D(2025, 12, 31)


def test_window_contains_both_ends_and_not_beyond():
    window = lookback(D(2026, 10, 31), 12)
    days = pl.DataFrame(
        {"d": [D(2025, 10, 31), D(2025, 11, 1), D(2026, 10, 31), D(2026, 11, 1), None]}
    )
    got = days.select(window.contains(pl.col("d")).alias("x"))["x"].to_list()
    assert got == [False, True, True, False, False]


def test_window_touches_spans():
    window = Window(D(2025, 11, 1), D(2026, 10, 31))
    spans = pl.DataFrame(
        {
            "s": [D(2025, 1, 1), D(2025, 1, 1), D(2026, 10, 31), D(2026, 11, 1), D(2020, 1, 1)],
            "e": [D(2025, 10, 31), D(2025, 11, 1), None, None, None],
        }
    )
    got = spans.select(window.touches(pl.col("s"), pl.col("e")).alias("x"))["x"].to_list()
    assert got == [False, True, True, False, True]


@pytest.mark.parametrize(
    ("birth", "age"),
    [
        (D(2005, 10, 31), 21),  # 21st birthday on the as-of date counts
        (D(2005, 11, 1), 20),  # the day after: still 20
        (D(2005, 10, 30), 21),
        (D(2026, 10, 31), 0),
        (D(1931, 1, 1), 95),
    ],
)
def test_age_in_completed_years(birth, age):
    frame = pl.DataFrame({"b": [birth]})
    assert frame.select(age_on(pl.col("b"), D(2026, 10, 31)).alias("a"))["a"][0] == age


def test_leap_day_birthday_turns_a_year_on_march_first():
    frame = pl.DataFrame({"b": [D(2008, 2, 29)]})
    assert frame.select(age_on(pl.col("b"), D(2026, 2, 28)).alias("a"))["a"][0] == 17
    assert frame.select(age_on(pl.col("b"), D(2026, 3, 1)).alias("a"))["a"][0] == 18
