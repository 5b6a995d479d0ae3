"""Members: who is enrolled on the as-of date, their age and age group, their provider."""

from __future__ import annotations

import datetime as dt

import polars as pl

from transforms.order import sort_fully
from transforms.windows import age_on

ADULT = "adult"
CHILD_YOUTH = "child_youth"


def enrolled_members(eligibility: pl.LazyFrame, as_of: dt.date, adult_min_age: int) -> pl.LazyFrame:
    """Members enrolled on `as_of` and alive on it, with age and age group.

    Grain: one row per member. A member is enrolled when an eligibility span covers the
    as-of date (end empty = open); a member whose death date (on any span) is on or
    before the as-of date is left out. Demographics come from the covering span with the
    latest start. Age is completed years on the as-of date; adults are `adult_min_age`
    or older, everyone else is child/youth.
    """
    day = pl.lit(as_of)
    deaths = eligibility.group_by("member_id").agg(pl.col("death_date").max().alias("_death"))
    covering = sort_fully(
        eligibility.filter(
            (pl.col("enrollment_start_date") <= day)
            & (pl.col("enrollment_end_date").is_null() | (pl.col("enrollment_end_date") >= day))
        ),
        ["member_id", "enrollment_start_date", "enrollment_end_date"],
        [False, True, True],
    ).unique(subset="member_id", keep="first", maintain_order=True)
    age = age_on(pl.col("birth_date"), as_of)
    return (
        covering.join(deaths, on="member_id", how="left")
        .filter(pl.col("_death").is_null() | (pl.col("_death") > day))
        .drop("death_date")
        .rename({"_death": "death_date"})
        .with_columns(
            age.alias("age"),
            pl.when(age >= adult_min_age)
            .then(pl.lit(ADULT))
            .otherwise(pl.lit(CHILD_YOUTH))
            .alias("age_group"),
        )
    )


def _spans_covering(provider_assignment: pl.LazyFrame, as_of: dt.date) -> pl.LazyFrame:
    day = pl.lit(as_of)
    return provider_assignment.filter(
        (pl.col("start_date") <= day) & (pl.col("end_date").is_null() | (pl.col("end_date") >= day))
    )


def members_with_several_providers(provider_assignment: pl.LazyFrame, as_of: dt.date) -> int:
    """How many members have spans of more than one ECM provider covering `as_of` (the
    run summary reports them; `providers_on` picks one)."""
    per_member = (
        _spans_covering(provider_assignment, as_of)
        .group_by("member_id")
        .agg(pl.col("provider_npi").n_unique().alias("providers"))
        .filter(pl.col("providers") > 1)
    )
    return per_member.select(pl.len()).collect().item()


def providers_on(provider_assignment: pl.LazyFrame, as_of: dt.date) -> pl.LazyFrame:
    """The ECM provider serving each member on `as_of`.

    Grain: one row per member with a covering span. When several spans cover the date the
    latest start_date wins, then the smallest provider_npi (feeds.md, provider_assignment).
    """
    return (
        _spans_covering(provider_assignment, as_of)
        .pipe(sort_fully, ["member_id", "start_date", "provider_npi"], [False, True, False])
        .unique(subset="member_id", keep="first", maintain_order=True)
        .select("member_id", "provider_npi", "provider_name")
    )
