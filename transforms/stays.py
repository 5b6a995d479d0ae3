"""Inpatient and nursing facility stays built from institutional claims.

populations.md, "Events built from claims" and "Avoidable and unplanned":
- a stay type is a set of bill types (acute: 11x/12x; nursing facility: 21x/18x);
- claims of one member that overlap, or where one starts at most `merge_gap_days` after
  the other ends, merge into one stay (transfers included); dates are admission /
  discharge, else claim start / end;
- a stay's principal diagnosis and admit type are those of its earliest claim (ties: the
  smallest claim_id); its discharge disposition that of its latest-ending claim;
- hospital and nursing facility stays are built separately and never merge.
"""

from __future__ import annotations

import polars as pl

from transforms.claims import CLAIM_TYPE_OF_BILL, with_claim_type_of_bill
from transforms.codes import in_value_set
from transforms.order import sort_fully


def stay_claims(claim_lines: pl.LazyFrame, bill_types: pl.DataFrame) -> pl.LazyFrame:
    """Institutional claims of a stay type, one row per claim (data_source, claim_id).

    The type of bill is the claim's (every line counts, whatever its own bill type);
    claim-level fields come from the lowest line number that has them.
    """
    lines = (
        with_claim_type_of_bill(claim_lines)
        .filter(
            (pl.col("claim_type") == "institutional")
            & in_value_set(pl.col(CLAIM_TYPE_OF_BILL), bill_types)
        )
        .pipe(sort_fully, ["data_source", "claim_id", "claim_line_number"])
    )
    claims = lines.group_by(["data_source", "claim_id"], maintain_order=True).agg(
        pl.col("member_id").first(),
        pl.col("bill_type_code").drop_nulls().first(),
        pl.coalesce(pl.col("admission_date").min(), pl.col("claim_start_date").min()).alias(
            "start_date"
        ),
        pl.coalesce(pl.col("discharge_date").max(), pl.col("claim_end_date").max()).alias(
            "end_date"
        ),
        pl.col("diagnosis_code_1").drop_nulls().first().alias("principal_dx"),
        pl.col("admit_type_code").drop_nulls().first().alias("admit_type_code"),
        pl.col("drg_code").drop_nulls().first().alias("drg_code"),
        pl.col("discharge_disposition_code")
        .drop_nulls()
        .first()
        .alias("discharge_disposition_code"),
        pl.col("revenue_center_code").drop_nulls().unique().sort().alias("revenue_codes"),
    )
    # A discharge recorded before the claim's start cannot shorten the stay below one day.
    return claims.with_columns(
        pl.max_horizontal("start_date", pl.col("end_date").fill_null(pl.col("start_date"))).alias(
            "end_date"
        )
    )


def merge_stays(claims: pl.LazyFrame, merge_gap_days: int) -> pl.LazyFrame:
    """Merge a member's claims into stays (gaps and islands with a running max end).

    Grain: one row per stay: member_id, admission_date, discharge_date, principal_dx,
    admit_type_code, discharge_disposition_code, drg_codes, revenue_codes, claim_ids,
    claim_count, source_key ('; '-joined claim ids).
    """
    ordered = claims.sort(
        ["member_id", "start_date", "claim_id", "data_source", "end_date"], nulls_last=True
    ).with_columns(pl.col("end_date").cum_max().shift(1).over("member_id").alias("_running_end"))
    islands = ordered.with_columns(
        (
            pl.col("_running_end").is_null()
            | (pl.col("start_date") > pl.col("_running_end") + pl.duration(days=merge_gap_days))
        )
        .cum_sum()
        .over("member_id")
        .alias("_stay_seq")
    )
    stays = islands.group_by(["member_id", "_stay_seq"], maintain_order=True).agg(
        pl.col("start_date").min().alias("admission_date"),
        pl.col("end_date").max().alias("discharge_date"),
        # Earliest claim (the sort above: start date, then smallest claim_id).
        pl.col("principal_dx").first(),
        pl.col("admit_type_code").first(),
        pl.col("discharge_disposition_code")
        .sort_by(["end_date", "claim_id"], descending=[True, False])
        .first(),
        pl.col("drg_code").drop_nulls().unique().sort().alias("drg_codes"),
        pl.col("revenue_codes")
        .list.explode(keep_nulls=False, empty_as_null=False)
        .unique()
        .sort()
        .alias("revenue_codes"),
        pl.col("claim_id").sort().alias("claim_ids"),
        pl.len().alias("claim_count"),
    )
    return stays.drop("_stay_seq").with_columns(
        pl.col("claim_ids").list.join("; ").alias("source_key")
    )


def classify_stays(
    stays: pl.LazyFrame,
    *,
    unplanned_admit_types: pl.DataFrame,
    newborn_admit_types: pl.DataFrame,
    missing_admit_type_codes: list[str],
    empty_admit_type_is_unplanned: bool,
    delivery_principal_dx: pl.DataFrame,
    delivery_drg: pl.DataFrame,
    method: str = "admit_type",
) -> pl.LazyFrame:
    """Flag newborn, delivery and unplanned stays.

    Method `admit_type`: unplanned when the admit type is in `unplanned_admit_types`
    (1, 2, 5), or empty (the codes in `missing_admit_type_codes`, e.g. 9, count as empty).
    Method `cms_planned`: unplanned when the CMS algorithm did not find the stay planned
    (the stays carry `is_planned_cms`, transforms.cms_planned). Either way newborn stays
    and delivery stays (principal dx or any claim's MS-DRG in the delivery sets) are never
    unplanned.
    """
    admit_type = (
        pl.when(pl.col("admit_type_code").is_in(missing_admit_type_codes))
        .then(None)
        .otherwise(pl.col("admit_type_code"))
    )
    is_newborn = in_value_set(admit_type, newborn_admit_types)
    is_delivery = in_value_set(pl.col("principal_dx"), delivery_principal_dx) | (
        pl.col("drg_codes")
        .list.eval(in_value_set(pl.element(), delivery_drg))
        .list.any()
        .fill_null(False)
    )
    if method == "admit_type":
        unplanned = in_value_set(admit_type, unplanned_admit_types) | (
            admit_type.is_null() & pl.lit(empty_admit_type_is_unplanned)
        )
    elif method == "cms_planned":
        unplanned = ~pl.col("is_planned_cms")
    else:
        raise ValueError(f"unknown unplanned-stay method {method!r}")
    return stays.with_columns(
        is_newborn.alias("is_newborn"),
        is_delivery.alias("is_delivery"),
        (~is_newborn & ~is_delivery & unplanned).alias("is_unplanned"),
    )


def mark_avoidable_stays(
    stays: pl.LazyFrame,
    members: pl.LazyFrame,
    *,
    method: str,
    pqi_principal_dx: pl.DataFrame,
    pqi_age_group: str,
) -> pl.LazyFrame:
    """Add `is_avoidable` to classified stays of enrolled members.

    Method `unplanned`: every unplanned stay. Method `pqi`: for members of `pqi_age_group`
    (adults) only unplanned stays whose principal dx is in a PQI numerator set; for
    everyone else every unplanned stay.
    """
    with_age = stays.join(members.select("member_id", "age_group"), on="member_id", how="inner")
    if method == "unplanned":
        avoidable = pl.col("is_unplanned")
    elif method == "pqi":
        avoidable = pl.col("is_unplanned") & (
            (pl.col("age_group") != pqi_age_group)
            | in_value_set(pl.col("principal_dx"), pqi_principal_dx)
        )
    else:
        raise ValueError(f"unknown avoidable-stay method {method!r}")
    return with_age.with_columns(avoidable.alias("is_avoidable")).drop("age_group")
