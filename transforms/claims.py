"""Claim-level fields read from claim lines."""

from __future__ import annotations

import polars as pl

CLAIM_TYPE_OF_BILL = "claim_bill_type_code"


def with_claim_type_of_bill(claim_lines: pl.LazyFrame) -> pl.LazyFrame:
    """Add `claim_bill_type_code`: the claim's type of bill on every one of its lines, the
    first bill type by line number that any line of the claim (data_source, claim_id)
    carries. A frame that already has the column is returned as it is.

    Whether a claim is inpatient is a property of the claim (populations.md: "ED lines on
    an inpatient claim", "institutional claims with bill type 11x or 12x"), so a line that
    leaves the bill type empty still belongs to its claim's type.
    """
    if CLAIM_TYPE_OF_BILL in claim_lines.collect_schema().names():
        return claim_lines
    per_claim = (
        claim_lines.filter(pl.col("bill_type_code").is_not_null())
        .group_by("data_source", "claim_id")
        .agg(
            pl.col("bill_type_code")
            .sort_by("claim_line_number", nulls_last=True)
            .first()
            .alias(CLAIM_TYPE_OF_BILL)
        )
    )
    return claim_lines.join(per_claim, on=["data_source", "claim_id"], how="left")
