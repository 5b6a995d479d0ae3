"""Changes since the previous run: the member × population pairs new or ended (outputs.md,
`changes.parquet`), a pure transform, frames in, frame out (the previous run's
assignments come from ecm.warehouse.history).
"""

from __future__ import annotations

import datetime as dt

import polars as pl

NEW = "new"
ENDED = "ended"

CHANGE_SCHEMA = {
    "member_id": pl.String,
    "pof_code": pl.String,
    "change": pl.String,
    "previous_as_of_date": pl.Date,
}


def assignment_changes(
    current: pl.LazyFrame,
    previous: pl.LazyFrame | None,
    previous_as_of: dt.date | None,
) -> pl.LazyFrame:
    """Member × population pairs `new` in `current` or `ended` since `previous`.

    Grain: one row per member × population that changed, sorted by member_id, pof_code.
    `current` and `previous` hold member_id, pof_code (extra columns are ignored);
    `previous` is None on the first run, when every current assignment is `new` and
    previous_as_of_date is empty.
    """
    keys = ["member_id", "pof_code"]
    now = current.select(keys).unique()
    before = (
        previous.select(keys).unique()
        if previous is not None
        else pl.LazyFrame(schema={"member_id": pl.String, "pof_code": pl.String})
    )
    new = now.join(before, on=keys, how="anti").with_columns(pl.lit(NEW).alias("change"))
    ended = before.join(now, on=keys, how="anti").with_columns(pl.lit(ENDED).alias("change"))
    return (
        pl.concat([new, ended])
        .with_columns(pl.lit(previous_as_of, dtype=pl.Date).alias("previous_as_of_date"))
        .cast(CHANGE_SCHEMA)
        .sort(keys)
    )
