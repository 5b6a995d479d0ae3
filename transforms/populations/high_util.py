"""HIGH_UTIL_ADULT / HIGH_UTIL_CHILD: at risk for avoidable hospital or ED utilisation.

populations.md: adults with avoidable ED visits ≥ 5 OR avoidable unplanned stays ≥ 3;
children and youth with ≥ 3 OR ≥ 2 (thresholds from the rules file). Hospital and nursing
facility stays both count, each stay once. `qualifying_date` is the date of the event that
reached a threshold, counting from the lookback start; when both criteria are met, the
earlier of the two.
"""

from __future__ import annotations

import polars as pl

from transforms.populations import Population, PopulationResult, count_parts
from transforms.populations.why_not import count_gap, threshold
from transforms.utilization import threshold_reached
from transforms.windows import Window


def high_utilizer(
    pof_code: str,
    members: pl.LazyFrame,
    ed_visits: pl.LazyFrame,
    stays: pl.LazyFrame,
    window: Window,
    *,
    age_group: str,
    min_avoidable_ed_visits: float,
    min_avoidable_unplanned_stays: float,
) -> PopulationResult:
    """Members of `age_group` whose avoidable ED visits or avoidable unplanned stays in the
    window reach their thresholds.

    `ed_visits` are classified visits (`avoidable_weight`, `is_avoidable`); `stays` are
    acute and nursing facility stays with `is_avoidable` and `stay_type`.
    """
    eligible = members.filter(pl.col("age_group") == age_group).select("member_id")
    avoidable_ed = ed_visits.filter(pl.col("is_avoidable")).join(
        eligible, on="member_id", how="semi"
    )
    avoidable_stays = stays.filter(pl.col("is_avoidable")).join(
        eligible, on="member_id", how="semi"
    )

    ed_met = threshold_reached(
        avoidable_ed,
        window,
        "visit_date",
        min_avoidable_ed_visits,
        weight_column="avoidable_weight",
    )
    stays_met = threshold_reached(
        avoidable_stays, window, "admission_date", min_avoidable_unplanned_stays
    )
    qualified = (
        ed_met.select("member_id", pl.col("qualifying_date").alias("ed_date"))
        .join(
            stays_met.select("member_id", pl.col("qualifying_date").alias("stay_date")),
            on="member_id",
            how="full",
            coalesce=True,
        )
        .select(
            "member_id",
            pl.lit(pof_code).alias("pof_code"),
            pl.min_horizontal("ed_date", "stay_date").alias("qualifying_date"),
        )
    )
    # The summary: each count that met its threshold and its date range.
    parts = pl.concat(
        [
            count_parts(ed_met, pof_code, "avoidable_ed_visit"),
            count_parts(stays_met, pof_code, "avoidable_unplanned_stay"),
        ]
    )

    ed_evidence = (
        avoidable_ed.filter(window.contains(pl.col("visit_date")))
        .join(ed_met.select("member_id"), on="member_id", how="semi")
        .select(
            "member_id",
            pl.lit(pof_code).alias("pof_code"),
            pl.lit("avoidable_ed_visit").alias("criterion"),
            pl.lit("medical_claim").alias("source_feed"),
            "source_key",
            pl.col("visit_date").alias("event_date"),
            pl.col("primary_dx").alias("code"),
        )
    )
    stay_evidence = (
        avoidable_stays.filter(window.contains(pl.col("admission_date")))
        .join(stays_met.select("member_id"), on="member_id", how="semi")
        .select(
            "member_id",
            pl.lit(pof_code).alias("pof_code"),
            pl.format("avoidable_unplanned_{}_stay", pl.col("stay_type")).alias("criterion"),
            pl.lit("medical_claim").alias("source_feed"),
            "source_key",
            pl.col("admission_date").alias("event_date"),
            pl.col("principal_dx").alias("code"),
        )
    )
    return PopulationResult(qualified, pl.concat([ed_evidence, stay_evidence]), parts)


# --- why not (ecm explain: how close a member who does not hold it came) ---------------


def why_not_high_util(m, block, _rules) -> str:
    ed = count_gap(
        m["avoidable_ed_visits_12m"],
        threshold(block, "min_avoidable_ed_visits"),
        "avoidable ED visit",
        "avoidable ED visits",
    )
    stays = count_gap(
        m["avoidable_unplanned_stays_12m"],
        threshold(block, "min_avoidable_unplanned_stays"),
        "avoidable unplanned stay",
        "avoidable unplanned stays",
    )
    return f"{ed}; {stays}"


# --- declared populations (collected by transforms.populations.registry) ----------------

_HIGH_UTIL_SETTINGS = {
    "age_group": str,
    "min_avoidable_ed_visits": float,
    "min_avoidable_unplanned_stays": float,
}
POPULATIONS = tuple(
    Population(
        code,
        high_utilizer,
        reads=("members", "ed_visits", "stays", "window"),
        settings=_HIGH_UTIL_SETTINGS,
        # Counts raw visits and stays in its window: the DHCS Policy Guide's 6 months for
        # adults is `lookback_months = 6` in its block.
        has_own_lookback=True,
        feeds=("eligibility", "medical_claim"),
        why_not=why_not_high_util,
    )
    for code in ("HIGH_UTIL_ADULT", "HIGH_UTIL_CHILD")
)
