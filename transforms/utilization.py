"""Counts of events over a window, and the date a count reached its threshold."""

from __future__ import annotations

import polars as pl

from transforms.windows import Window

# Fractional counts (method nyu_expected) are sums of probabilities given to ten
# decimals; a running sum within this of the threshold has reached it.
FRACTION_TOLERANCE = 1e-9


def count_in_window(
    events: pl.LazyFrame, window: Window, date_column: str, weight_column: str | None = None
) -> pl.LazyFrame:
    """Per member, the number (or summed weight) of events dated in the window.

    Grain: one row per member with at least one event in the window: member_id, count.
    """
    value = pl.col(weight_column).sum() if weight_column else pl.len().cast(pl.Float64)
    return (
        events.filter(window.contains(pl.col(date_column)))
        .group_by("member_id")
        .agg(value.cast(pl.Float64).alias("count"))
    )


def threshold_reached(
    events: pl.LazyFrame,
    window: Window,
    date_column: str,
    threshold: float,
    weight_column: str | None = None,
) -> pl.LazyFrame:
    """Members whose events in the window reach `threshold`, with the date they did.

    Counting runs from the window start in date order; `qualifying_date` is the date of
    the event that brought the running count (or weight) to the threshold.
    Grain: one row per qualifying member: member_id, count, first_date, last_date,
    qualifying_date.
    """
    weight = pl.col(weight_column) if weight_column else pl.lit(1.0)
    in_window = (
        events.filter(window.contains(pl.col(date_column)))
        .with_columns(weight.cast(pl.Float64).alias("_weight"))
        .filter(pl.col("_weight") > 0)
        .sort(["member_id", date_column])
        .with_columns(pl.col("_weight").cum_sum().over("member_id").alias("_running"))
    )
    reached = pl.col("_running") >= threshold - FRACTION_TOLERANCE
    return (
        in_window.group_by("member_id", maintain_order=True)
        .agg(
            pl.col("_weight").sum().alias("count"),
            pl.col(date_column).min().alias("first_date"),
            pl.col(date_column).max().alias("last_date"),
            pl.col(date_column).filter(reached).min().alias("qualifying_date"),
        )
        .filter(pl.col("qualifying_date").is_not_null())
    )
