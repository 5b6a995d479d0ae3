import datetime as dt

import polars as pl
import pytest

from transforms.utilization import count_in_window, threshold_reached
from transforms.windows import lookback

D = dt.date
WINDOW = lookback(D(2026, 10, 31), 12)  # 2025-11-01 .. 2026-10-31


def events(dates, weights=None, member="m"):
    data = {"member_id": [member] * len(dates), "d": dates}
    if weights is not None:
        data["w"] = weights
    return pl.LazyFrame(data)


def test_four_events_do_not_reach_five_the_fifth_does():
    dates = [D(2025, 11, 3), D(2026, 1, 1), D(2026, 2, 1), D(2026, 3, 1)]
    assert threshold_reached(events(dates), WINDOW, "d", 5).collect().height == 0
    got = threshold_reached(events([*dates, D(2026, 8, 8)]), WINDOW, "d", 5).collect()
    assert got.select("count", "first_date", "last_date", "qualifying_date").row(0) == (
        5.0,
        D(2025, 11, 3),
        D(2026, 8, 8),
        D(2026, 8, 8),
    )


def test_qualifying_date_is_the_event_that_reached_the_threshold_not_the_last():
    dates = [D(2026, 1, d) for d in range(1, 8)]
    got = threshold_reached(events(dates), WINDOW, "d", 5).collect()
    assert got["qualifying_date"][0] == D(2026, 1, 5)
    assert got["count"][0] == 7


@pytest.mark.parametrize(
    ("first", "counted"),
    [(D(2025, 11, 1), 5), (D(2025, 10, 31), 4)],  # the first day of the lookback counts
)
def test_first_day_of_lookback(first, counted):
    dates = [first, D(2026, 1, 1), D(2026, 2, 1), D(2026, 3, 1), D(2026, 10, 31)]
    got = count_in_window(events(dates), WINDOW, "d").collect()
    assert got["count"][0] == counted
    reached = threshold_reached(events(dates), WINDOW, "d", 5).collect()
    assert reached.height == (1 if counted == 5 else 0)


def test_events_after_the_as_of_date_do_not_count():
    dates = [D(2026, 10, 31), D(2026, 11, 1)]
    assert count_in_window(events(dates), WINDOW, "d").collect()["count"][0] == 1


def test_fractional_weights_reach_a_threshold_when_their_sum_does():
    got = threshold_reached(
        events([D(2026, 1, 1), D(2026, 2, 1), D(2026, 3, 1)], [0.5, 0.25, 0.25]),
        WINDOW,
        "d",
        1,
        weight_column="w",
    ).collect()
    assert got["qualifying_date"][0] == D(2026, 3, 1)
    short = threshold_reached(events([D(2026, 1, 1)], [0.99]), WINDOW, "d", 1, weight_column="w")
    assert short.collect().height == 0
