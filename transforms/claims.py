"""Claim-level fields read from claim lines."""

from __future__ import annotations

import polars as pl


def claim_type_of_bill() -> pl.Expr:
    """The claim's type of bill on every one of its lines: the first bill type, by line
    number, that any line of the claim (data_source, claim_id) carries.

    Whether a claim is inpatient is a property of the claim (populations.md: "ED lines on
    an inpatient claim", "institutional claims with bill type 11x or 12x"), so a line that
    leaves the bill type empty still belongs to its claim's type.
    """
    return (
        pl.col("bill_type_code")
        .sort_by("claim_line_number", nulls_last=True)
        .drop_nulls()
        .first()
        .over(["data_source", "claim_id"])
    )
