import datetime as dt

import polars as pl
import pytest

from tests.transforms.populations.facts import (
    AS_OF,
    CHILD,
    DAY_BEFORE,
    FIRST_DAY,
    WINDOW,
    criteria,
    fact,
    members,
    qualified,
)
from transforms.populations.children import ccs_child, child_welfare

D = dt.date


def spans(rows, extra_col):
    schema = {
        "member_id": pl.String,
        extra_col: pl.String,
        "start_date": pl.Date,
        "end_date": pl.Date,
        "_source_file": pl.String,
        "_line": pl.Int64,
    }
    return pl.LazyFrame(
        [
            {
                "member_id": m,
                extra_col: v,
                "start_date": s,
                "end_date": e,
                "_source_file": "f.csv",
                "_line": i,
            }
            for i, (m, v, s, e) in enumerate(rows)
        ],
        schema=schema,
    )


@pytest.mark.parametrize(
    ("end", "csf", "qualifies"),
    [(None, True, True), (AS_OF, True, True), (D(2026, 10, 30), True, False), (None, False, False)],
)
def test_ccs_span_covering_the_as_of_date_and_a_csf(end, csf, qualifies):
    c = criteria(
        complex_social_factors=[fact("c", "ace_screening", D(2026, 2, 2), "G9919")] if csf else []
    )
    ccs = spans([("c", "CCS_WCM", D(2020, 1, 1), end)], "program")
    got = qualified(
        ccs_child("CCS_CHILD", members(("c", CHILD)), c, ccs, AS_OF, age_group="child_youth")
    )
    assert (got == {"c"}) is qualifies


def welfare(status, start, end, birth=CHILD):
    result = child_welfare(
        "CHILD_WELFARE",
        members(("c", birth)),
        spans([("c", status, start, end)], "status"),
        WINDOW,
        max_age_exclusive=21,
        aged_out_max_age_exclusive=26,
    )
    return qualified(result) == {"c"}


@pytest.mark.parametrize(
    ("status", "start", "end", "qualifies"),
    [
        ("foster_care", D(2020, 1, 1), None, True),
        ("foster_care", D(2020, 1, 1), FIRST_DAY, True),  # ended on the lookback's first day
        ("foster_care", D(2020, 1, 1), DAY_BEFORE, False),  # ended the day before it
        ("adoption_assistance", D(2020, 1, 1), None, True),
        ("adoption_assistance", D(2020, 1, 1), D(2026, 6, 1), False),  # must cover the as-of date
        ("family_maintenance", D(2020, 1, 1), FIRST_DAY, True),
        ("family_maintenance", D(2020, 1, 1), DAY_BEFORE, False),
        ("family_maintenance", AS_OF, None, True),
        ("foster_care", AS_OF + dt.timedelta(days=1), None, False),  # not yet
    ],
)
def test_child_welfare_statuses(status, start, end, qualifies):
    assert welfare(status, start, end) is qualifies


@pytest.mark.parametrize(
    ("birth", "qualifies"),
    [(D(2001, 11, 1), True), (D(2000, 10, 31), False), (D(2008, 1, 1), True)],
    ids=["age_25", "age_26_on_as_of", "age_18"],
)
def test_aged_out_of_foster_care_until_26(birth, qualifies):
    assert welfare("aged_out_foster_care", D(2019, 1, 1), None, birth=birth) is qualifies


def test_foster_care_stops_at_21():
    assert welfare("foster_care", D(2020, 1, 1), None, birth=D(2005, 10, 31)) is False
    assert welfare("foster_care", D(2020, 1, 1), None, birth=D(2005, 11, 1)) is True
