"""Who gains or loses which population under another rules file (`ecm diff`): a pure
transform of two sets of assignments of the same members on the same as-of date, one
under rules file A and one under rules file B (ecm.diff evaluates both over what the
warehouse staged).
"""

from __future__ import annotations

import polars as pl

GAINED = "gained"
LOST = "lost"
CHANGES = (GAINED, LOST)

KEYS = ("member_id", "pof_code")
SIDE_SCHEMA = {
    "member_id": pl.String,
    "pof_code": pl.String,
    "age_group": pl.String,
    "provider_npi": pl.String,
}
"""What the diff reads of each side's assignments (assignments.parquet's columns)."""
DIFF_SCHEMA = {
    "member_id": pl.String,
    "pof_code": pl.String,
    "change": pl.String,
    "provider_npi": pl.String,
    "age_group": pl.String,
}


def rules_diff(a: pl.LazyFrame, b: pl.LazyFrame) -> pl.LazyFrame:
    """The member × population pairs `gained` (held under rules B, not under A) or `lost`
    (held under A, not under B), each with the member's age group and ECM provider on the
    as-of date as the side holding the pair has them (SIDE_SCHEMA; other columns ignored).

    Grain: one row per member × population held under one rules file only, sorted by
    member_id, pof_code. Columns: DIFF_SCHEMA. A pair held under both is no row, whatever
    its other columns (qualifying date, evidence) say."""
    keys = list(KEYS)
    a, b = (side.select(list(SIDE_SCHEMA)).cast(SIDE_SCHEMA) for side in (a, b))
    gained = b.join(a, on=keys, how="anti").with_columns(pl.lit(GAINED).alias("change"))
    lost = a.join(b, on=keys, how="anti").with_columns(pl.lit(LOST).alias("change"))
    return pl.concat([gained, lost]).select(list(DIFF_SCHEMA)).cast(DIFF_SCHEMA).sort(keys)


def change_counts(diff: pl.LazyFrame, by: list[str]) -> pl.LazyFrame:
    """The rows of `diff` (DIFF_SCHEMA) counted per value of the columns `by`: one row per
    group that gained or lost, with `gained` and `lost` (0 when none), sorted by `by`
    (nulls last: the members with no ECM provider)."""
    return (
        diff.group_by(by)
        .agg(
            *((pl.col("change") == change).sum().cast(pl.Int64).alias(change) for change in CHANGES)
        )
        .sort(by, nulls_last=True)
    )


def members_changed(diff: pl.LazyFrame) -> pl.LazyFrame:
    """The members who gain at least one population and those who lose one (a member may
    do both): one row, `gained` and `lost` members."""
    return diff.select(
        *(
            pl.col("member_id").filter(pl.col("change") == change).n_unique().alias(change)
            for change in CHANGES
        )
    )
