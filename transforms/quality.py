"""Data-quality checks that are reported, never used to drop rows."""

from __future__ import annotations

import polars as pl

# The Luhn sum of the card-issuer prefix 80840 that NPIs are checked under (CMS, "NPI
# check digit"): adding it lets the 10-digit NPI be checked with its own 9 digits.
NPI_PREFIX_LUHN_SUM = 24


def npi_check_digit_ok(npi: pl.Expr) -> pl.Expr:
    """True where `npi` is 10 digits whose last is the Luhn check digit of the first nine
    (with the 80840 prefix); False for any other value; null stays null."""
    digits = [npi.str.slice(i, 1).cast(pl.Int32, strict=False) for i in range(10)]
    total = pl.lit(NPI_PREFIX_LUHN_SUM)
    for i in range(9):
        if i % 2 == 0:  # from the right of the nine digits, every other one is doubled
            doubled = digits[i] * 2
            total = total + doubled // 10 + doubled % 10
        else:
            total = total + digits[i]
    check = (10 - total % 10) % 10
    return (
        pl.when(npi.is_null())
        .then(None)
        .otherwise(
            npi.str.contains(r"^\d{10}$").fill_null(False) & (check == digits[9]).fill_null(False)
        )
    )


def npi_failures(npi_counts: pl.LazyFrame) -> pl.LazyFrame:
    """Per feed and column, the NPIs that fail their check digit.

    `npi_counts`: feed, column, npi, lines (how many rows carry it). Grain of the result:
    one row per feed × column with failures: distinct_npis, lines.
    """
    return (
        npi_counts.filter(~npi_check_digit_ok(pl.col("npi")))
        .group_by("feed", "column")
        .agg(pl.len().alias("distinct_npis"), pl.col("lines").sum().alias("lines"))
        .sort("feed", "column")
    )
