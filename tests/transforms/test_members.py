import datetime as dt

import polars as pl

from tests.conftest import eligibility
from transforms.members import enrolled_members, providers_on

D = dt.date
AS_OF = D(2026, 10, 31)


def enrolled(*rows):
    return enrolled_members(eligibility(*rows), AS_OF, 21).collect().sort("member_id")


def test_enrolled_on_the_as_of_date_only():
    got = enrolled(
        {"member_id": "open", "birth_date": D(1990, 1, 1)},
        {"member_id": "ends_on_d", "birth_date": D(1990, 1, 1), "enrollment_end_date": AS_OF},
        {
            "member_id": "ended_before",
            "birth_date": D(1990, 1, 1),
            "enrollment_end_date": D(2026, 10, 30),
        },
        {"member_id": "starts_on_d", "birth_date": D(1990, 1, 1), "enrollment_start_date": AS_OF},
        {
            "member_id": "starts_after",
            "birth_date": D(1990, 1, 1),
            "enrollment_start_date": D(2026, 11, 1),
        },
    )
    assert got["member_id"].to_list() == ["ends_on_d", "open", "starts_on_d"]


def test_death_on_or_before_the_as_of_date_excludes():
    got = enrolled(
        {"member_id": "died_on_d", "birth_date": D(1950, 1, 1), "death_date": AS_OF},
        {"member_id": "died_before", "birth_date": D(1950, 1, 1), "death_date": D(2026, 5, 1)},
        {"member_id": "died_after", "birth_date": D(1950, 1, 1), "death_date": D(2026, 11, 1)},
    )
    assert got["member_id"].to_list() == ["died_after"]


def test_death_on_another_span_still_counts():
    got = enrolled(
        {
            "member_id": "m",
            "birth_date": D(1950, 1, 1),
            "enrollment_end_date": D(2025, 1, 1),
            "death_date": D(2026, 6, 1),
        },
        {"member_id": "m", "birth_date": D(1950, 1, 1), "enrollment_start_date": D(2025, 2, 1)},
    )
    assert got.height == 0


def test_age_20_vs_21_sets_the_age_group():
    got = enrolled(
        {"member_id": "turns_21_on_d", "birth_date": D(2005, 10, 31)},
        {"member_id": "turns_21_next_day", "birth_date": D(2005, 11, 1)},
    )
    assert dict(got.select("member_id", "age_group").iter_rows()) == {
        "turns_21_on_d": "adult",
        "turns_21_next_day": "child_youth",
    }
    assert dict(got.select("member_id", "age").iter_rows()) == {
        "turns_21_on_d": 21,
        "turns_21_next_day": 20,
    }


def test_one_row_per_member_from_the_latest_covering_span():
    got = enrolled(
        {
            "member_id": "m",
            "birth_date": D(1990, 1, 1),
            "race": "white",
            "enrollment_start_date": D(2020, 1, 1),
        },
        {
            "member_id": "m",
            "birth_date": D(1990, 1, 1),
            "race": "asian",
            "enrollment_start_date": D(2026, 1, 1),
        },
    )
    assert got.height == 1
    assert got["race"][0] == "asian"


def test_provider_latest_start_then_smallest_npi():
    spans = pl.LazyFrame(
        {
            "member_id": ["a", "a", "b", "b", "c"],
            "provider_npi": ["2000000000", "1000000000", "3000000000", "2000000000", "1"],
            "provider_name": ["x", "y", "z", "w", "v"],
            "start_date": [
                D(2026, 1, 1),
                D(2025, 1, 1),
                D(2026, 1, 1),
                D(2026, 1, 1),
                D(2025, 1, 1),
            ],
            "end_date": [None, None, None, None, D(2026, 10, 30)],
        }
    )
    got = dict(providers_on(spans, AS_OF).collect().select("member_id", "provider_npi").iter_rows())
    assert got == {"a": "2000000000", "b": "2000000000"}


def test_members_with_several_providers_on_the_as_of_date_are_counted():
    from transforms.members import members_with_several_providers

    spans = pl.LazyFrame(
        {
            "member_id": ["a", "a", "b", "b", "c", "c"],
            "provider_npi": ["1", "2", "1", "1", "1", "2"],
            "start_date": [
                *(D(2026, 1, 1), D(2025, 1, 1), D(2026, 1, 1), D(2026, 1, 1)),
                *(D(2025, 1, 1), D(2026, 10, 31)),
            ],
            # c: the first span ends the day before the as-of date, the second starts on it
            "end_date": [None, None, None, None, D(2026, 10, 30), None],
        }
    )
    assert members_with_several_providers(spans, AS_OF) == 1  # a; b's two spans: one NPI
