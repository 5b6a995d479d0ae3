"""Per-member utilisation metrics over the lookback (member_metrics.parquet)."""

from __future__ import annotations

import polars as pl

from transforms.utilization import count_in_window
from transforms.windows import Window


def utilization_metrics(
    members: pl.LazyFrame, ed_visits: pl.LazyFrame, stays: pl.LazyFrame, window: Window
) -> pl.LazyFrame:
    """Grain: one row per enrolled member. Counts are over the window; stays count by
    admission date. `avoidable_ed_visits_12m` is fractional under method nyu_expected."""

    def counted(events: pl.LazyFrame, date_column: str, name: str, weight: str | None = None):
        return count_in_window(events, window, date_column, weight).rename({"count": name})

    acute = stays.filter(pl.col("stay_type") == "acute")
    nursing = stays.filter(pl.col("stay_type") == "nursing_facility")
    parts = [
        counted(ed_visits, "visit_date", "ed_visits_12m"),
        counted(ed_visits, "visit_date", "avoidable_ed_visits_12m", "avoidable_weight"),
        counted(acute, "admission_date", "acute_stays_12m"),
        counted(nursing, "admission_date", "nursing_facility_stays_12m"),
        counted(stays.filter(pl.col("is_unplanned")), "admission_date", "unplanned_stays_12m"),
        counted(
            stays.filter(pl.col("is_avoidable")), "admission_date", "avoidable_unplanned_stays_12m"
        ),
    ]
    metrics = members.select("member_id", "age", "age_group")
    for part in parts:
        metrics = metrics.join(part, on="member_id", how="left")
    whole = [
        "ed_visits_12m",
        "acute_stays_12m",
        "nursing_facility_stays_12m",
        "unplanned_stays_12m",
        "avoidable_unplanned_stays_12m",
    ]
    return metrics.with_columns(
        pl.col(whole).fill_null(0).cast(pl.Int32),
        pl.col("avoidable_ed_visits_12m").fill_null(0.0),
    )
