"""Emergency department visits and their NYU classification.

populations.md, "Events built from claims" and "Avoidable and unplanned":
- an ED line is revenue code 0450–0459/0981 on an institutional claim, HCPCS 99281–99285 /
  G0380–G0384 on any claim, or place of service 23 on a professional claim (value sets);
- ED lines on an inpatient claim belong to the stay;
- one visit per member per date (the line's service date, else the claim start);
- a visit on the admission date of an acute stay, or the day before, belongs to the stay;
- the primary diagnosis is diagnosis_code_1 of the institutional ED claim that date, else
  of the professional one; ties broken by the smallest claim_id compared as text;
- the NYU ED algorithm with the Johnston patch: exact code, else the longest prefix of 3+
  characters in the table.
"""

from __future__ import annotations

import polars as pl

from transforms.claims import CLAIM_TYPE_OF_BILL, with_claim_type_of_bill
from transforms.codes import in_value_set

NYU_PROBABILITIES = ("edcnnpa", "edcnpa", "epct", "noner")
NYU_SPECIAL = ("injury", "psych", "alcohol", "drug")


def ed_lines(
    claim_lines: pl.LazyFrame,
    *,
    revenue_codes: pl.DataFrame,
    procedure_codes: pl.DataFrame,
    place_of_service: pl.DataFrame,
    inpatient_bill_types: pl.DataFrame,
) -> pl.LazyFrame:
    """Claim lines that make an ED visit, with their visit date.

    Grain: one row per ED claim line (not on an inpatient claim).
    """
    institutional = pl.col("claim_type") == "institutional"
    professional = pl.col("claim_type") == "professional"
    is_ed_line = (
        (institutional & in_value_set(pl.col("revenue_center_code"), revenue_codes))
        | in_value_set(pl.col("hcpcs_code"), procedure_codes)
        | (professional & in_value_set(pl.col("place_of_service_code"), place_of_service))
    )
    on_inpatient_claim = institutional & in_value_set(
        pl.col(CLAIM_TYPE_OF_BILL), inpatient_bill_types
    )
    lines = with_claim_type_of_bill(claim_lines)
    return lines.filter(is_ed_line & ~on_inpatient_claim).select(
        "member_id",
        pl.coalesce("claim_line_start_date", "claim_start_date").alias("visit_date"),
        "data_source",
        "claim_id",
        "claim_type",
        "diagnosis_code_1",
    )


def ed_visits(
    lines: pl.LazyFrame, acute_stays: pl.LazyFrame, days_before_admission: int
) -> pl.LazyFrame:
    """One ED visit per member per date, visits that belong to an acute stay removed.

    Grain: one row per member_id × visit_date. `primary_dx` comes from the institutional
    claim that date, else the professional one, smallest claim_id first; claims without a
    first diagnosis are passed over. `source_key` lists the visit's claim ids.
    """
    ranked = lines.sort(
        [
            "member_id",
            "visit_date",
            pl.col("diagnosis_code_1").is_null(),
            pl.col("claim_type") != "institutional",
            "claim_id",
            "data_source",
        ]
    )
    visits = ranked.group_by(["member_id", "visit_date"], maintain_order=True).agg(
        pl.col("diagnosis_code_1").first().alias("primary_dx"),
        pl.col("claim_id").first().alias("primary_claim_id"),
        pl.col("claim_id").unique().sort().str.join("; ").alias("source_key"),
    )
    belongs_to_stay = (
        acute_stays.select(
            "member_id",
            pl.date_ranges(
                pl.col("admission_date") - pl.duration(days=days_before_admission),
                pl.col("admission_date"),
            ).alias("visit_date"),
        )
        .explode("visit_date")
        .unique()
    )
    return visits.join(belongs_to_stay, on=["member_id", "visit_date"], how="anti")


def nyu_lookup(
    codes: pl.LazyFrame, nyu_table: pl.LazyFrame, min_prefix_length: int
) -> pl.LazyFrame:
    """Each distinct `code` with the NYU row of its longest table prefix of at least
    `min_prefix_length` characters (3 in populations.md).

    An exact match is the longest prefix. Grain: one row per input code that matched;
    `nyu_code` is the table code used.
    """
    distinct = codes.select("code").unique().drop_nulls()
    table = nyu_table.rename({"icd10": "nyu_code"})
    candidates = (
        distinct.with_columns(
            pl.int_ranges(min_prefix_length, pl.col("code").str.len_chars() + 1).alias("_length")
        )
        .explode("_length")
        .drop_nulls("_length")
        .with_columns(pl.col("code").str.slice(0, pl.col("_length")).alias("nyu_code"))
    )
    return (
        candidates.join(table, on="nyu_code", how="inner")
        .sort(["code", "_length"], descending=[False, True])
        .unique(subset="code", keep="first", maintain_order=True)
        .drop("_length")
    )


def classify_ed_visits(
    visits: pl.LazyFrame,
    nyu_table: pl.LazyFrame,
    *,
    method: str,
    threshold: float,
    min_prefix_length: int,
) -> pl.LazyFrame:
    """Add the NYU classification and the avoidable weight to each visit.

    Columns added: nyu_code, the four probabilities, `nyu_group` (`classified`, `injury`,
    `psych`, `alcohol`, `drug`, `unclassified`), `avoidable_weight` (1/0, or the expected
    fraction under `nyu_expected`) and `is_avoidable` (weight > 0).
    Methods: `nyu_threshold` (noner + epct + edcnpa > threshold), `nyu_max` (the largest
    probability is noner, epct or edcnpa; a tie with edcnnpa is not avoidable),
    `nyu_expected` (noner + epct + edcnpa as a fraction), `all_ed` (every visit).
    """
    looked_up = nyu_lookup(
        visits.select(pl.col("primary_dx").alias("code")), nyu_table, min_prefix_length
    )
    joined = visits.join(looked_up, left_on="primary_dx", right_on="code", how="left")
    special = pl.lit(None, dtype=pl.String)
    for flag in reversed(NYU_SPECIAL):
        special = pl.when(pl.col(flag) >= 1).then(pl.lit(flag)).otherwise(special)
    group = (
        pl.when(pl.col("nyu_code").is_null())
        .then(pl.lit("unclassified"))
        .otherwise(pl.coalesce(special, pl.lit("classified")))
    )
    classified = pl.col("_nyu_group") == "classified"
    avoidable_sum = pl.col("noner") + pl.col("epct") + pl.col("edcnpa")
    if method == "nyu_threshold":
        weight = (classified & (avoidable_sum > threshold)).cast(pl.Float64)
    elif method == "nyu_max":
        top_avoidable = pl.max_horizontal("noner", "epct", "edcnpa")
        weight = (classified & (top_avoidable > pl.col("edcnnpa"))).cast(pl.Float64)
    elif method == "nyu_expected":
        weight = pl.when(classified).then(avoidable_sum).otherwise(0.0)
    elif method == "all_ed":
        weight = pl.lit(1.0)
    else:
        raise ValueError(f"unknown avoidable-ED method {method!r}")
    return (
        joined.with_columns(group.alias("_nyu_group"))
        .with_columns(weight.fill_null(0.0).alias("avoidable_weight"))
        .with_columns(
            pl.col("_nyu_group").alias("nyu_group"),
            (pl.col("avoidable_weight") > 0).alias("is_avoidable"),
        )
        .drop("_nyu_group", *NYU_SPECIAL)
    )
