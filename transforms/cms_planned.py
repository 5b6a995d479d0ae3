"""Planned stays by the CMS planned-admission algorithm v4 (method `cms_planned`).

populations.md, "Avoidable and unplanned": the optional method `cms_planned` lets the CMS
algorithm decide planned vs not. A stay is planned when

(a) its principal diagnosis falls in an always-planned CCS diagnosis category
    (maintenance chemotherapy, rehabilitation: CCS 45, 254); or
(b) any procedure on any of its claims falls in an always-planned CCS procedure category
    (transplants: CCS 64, 105, 176); or
(c) any procedure on its claims is potentially planned (its CCS procedure category is in
    the potentially-planned list, or its ICD-10-PCS code is in the potentially-planned
    ICD-10-PCS list) and the principal diagnosis is not acute (its ICD-10-CM code is not
    in the acute diagnosis list and its CCS diagnosis category is not in the acute CCS
    list).

The code lists and ICD-10 → CCS crosswalks come in as frames (`CmsPlannedTables`, read by
`ecm.config.cms_planned.load_cms_planned_tables`); nothing here reads a file.
"""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

from transforms.codes import in_value_set


@dataclass(frozen=True)
class CmsPlannedTables:
    """The CMS planned-admission lists and the ICD-10 → CCS crosswalks they are keyed on.

    Crosswalks have columns `code` (ICD-10, upper case, no dots) and `ccs_category` (text,
    e.g. "122"). The lists are value sets (`code_system, code, match, description,
    value_set`, every row `exact`), as `transforms.codes.in_value_set` reads them.
    """

    dx_ccs: pl.DataFrame
    pcs_ccs: pl.DataFrame
    always_planned_dx_ccs: pl.DataFrame
    always_planned_px_ccs: pl.DataFrame
    potentially_planned_px_ccs: pl.DataFrame
    potentially_planned_pcs: pl.DataFrame
    acute_dx_ccs: pl.DataFrame
    acute_dx_icd10cm: pl.DataFrame
    crosswalk_source: str = ""


def _ccs_of(frame: pl.LazyFrame, code: str, crosswalk: pl.DataFrame, alias: str) -> pl.LazyFrame:
    """`frame` with the CCS category of column `code` as `alias` (null when unmapped)."""
    lookup = crosswalk.lazy().select(
        pl.col("code").alias(code), pl.col("ccs_category").alias(alias)
    )
    return frame.join(lookup, on=code, how="left")


def mark_planned_cms(
    stays: pl.LazyFrame, procedures: pl.LazyFrame, tables: CmsPlannedTables
) -> pl.LazyFrame:
    """Add `is_planned_cms` to every stay (CMS planned-admission algorithm v4).

    `stays` needs `member_id`, `principal_dx` and `claim_ids` (list of claim_id, as
    `transforms.stays.merge_stays` builds them); `procedures` needs `member_id`,
    `claim_id` and `code` (ICD-10-PCS, sql int__claim_procedure). A stay's procedures are
    those of its claims, matched on (member_id, claim_id): stays keep claim ids but not
    their data_source, so two feeds delivering the same claim_id for the same member
    would share procedures. A procedure on another claim of the member never counts.

    A stay without a principal diagnosis is treated as acute: rule (a) cannot apply and
    rule (c) does not make it planned, so only an always-planned procedure (b) does.
    Missing information leans to unplanned, as an empty admit type does in method
    `admit_type`. A principal diagnosis that is present but not in the crosswalk has no
    CCS category: it is acute only if its code is in the acute ICD-10-CM list.

    Grain unchanged: one row per input stay, same columns plus `is_planned_cms`.
    """
    keyed = stays.with_row_index("_stay_row")

    stay_procedures = (
        keyed.select("_stay_row", "member_id", pl.col("claim_ids").alias("claim_id"))
        .explode("claim_id")
        .join(
            procedures.select("member_id", "claim_id", "code").unique(),
            on=["member_id", "claim_id"],
            how="inner",
        )
    )
    procedure_flags = (
        _ccs_of(stay_procedures, "code", tables.pcs_ccs, "_px_ccs")
        .group_by("_stay_row")
        .agg(
            in_value_set(pl.col("_px_ccs"), tables.always_planned_px_ccs)
            .any()
            .alias("_has_always_planned_px"),
            (
                in_value_set(pl.col("_px_ccs"), tables.potentially_planned_px_ccs)
                | in_value_set(pl.col("code"), tables.potentially_planned_pcs)
            )
            .any()
            .alias("_has_potentially_planned_px"),
        )
    )

    with_dx = _ccs_of(keyed, "principal_dx", tables.dx_ccs, "_dx_ccs")
    is_always_planned_dx = in_value_set(pl.col("_dx_ccs"), tables.always_planned_dx_ccs)
    is_acute_dx = (
        pl.col("principal_dx").is_null()
        | in_value_set(pl.col("principal_dx"), tables.acute_dx_icd10cm)
        | in_value_set(pl.col("_dx_ccs"), tables.acute_dx_ccs)
    )
    has_always_planned_px = pl.col("_has_always_planned_px").fill_null(False)
    has_potentially_planned_px = pl.col("_has_potentially_planned_px").fill_null(False)

    return (
        with_dx.join(procedure_flags, on="_stay_row", how="left")
        .with_columns(
            (
                is_always_planned_dx
                | has_always_planned_px
                | (has_potentially_planned_px & ~is_acute_dx)
            ).alias("is_planned_cms")
        )
        .sort("_stay_row")
        .drop("_stay_row", "_dx_ccs", "_has_always_planned_px", "_has_potentially_planned_px")
    )
