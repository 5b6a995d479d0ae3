"""Exclusions: members enrolled on the as-of date D in a program that duplicates ECM
(docs/POPULATIONS.md, "Exclusions"; loop.md, section 1).

Two sources, each giving one row per member × program × source:

- the `program_enrollment` feed: a row whose program is in force (the rules file's
  `[exclusions] programs`) and whose span covers D (start_date ≤ D, end_date empty or
  ≥ D); its source_key is the row's `file:line`;
- hospice from claims: an institutional claim whose type of bill (the claim's, as stays
  read it: transforms.claims) is in the hospice bill types and whose service dates touch
  the `days` days ending on D (D − days + 1 .. D); its program is `hospice`, its
  source_key the claim_id. A line's service dates are its claim_line_start_date ..
  claim_line_end_date, else the claim's claim_start_date .. claim_end_date (an empty end:
  the start).

An excluded member keeps every population they hold: `with_excluded_by` adds the
programs to each assignment (`excluded_by`: the codes, sorted, `;`-joined; '' when none).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

import polars as pl

from transforms.claims import CLAIM_TYPE_OF_BILL, with_claim_type_of_bill
from transforms.codes import in_value_set
from transforms.criteria import row_key

PROGRAM_FEED = "program_enrollment"
CLAIMS_FEED = "medical_claim"
# The program that hospice claims stand for (reference/exclusion_programs.csv's code).
HOSPICE = "hospice"
EXCLUDED_BY = "excluded_by"
EXCLUDED_BY_SEPARATOR = ";"

EXCLUSION_SCHEMA = {
    "member_id": pl.String,
    "program": pl.String,
    "source_feed": pl.String,
    "source_key": pl.String,
    "start_date": pl.Date,
    "end_date": pl.Date,
}
EXCLUSION_KEY = ("member_id", "program", "source_feed", "source_key")
"""The grain of the exclusions: one row per member × program × source."""


def enrollment_exclusions(
    program_enrollment: pl.LazyFrame,
    members: pl.LazyFrame,
    programs: Sequence[str],
    as_of: dt.date,
) -> pl.LazyFrame:
    """The program_enrollment rows that exclude a member of `members` on `as_of`: a
    program of `programs` (those in force), a span covering `as_of`. Columns of
    EXCLUSION_SCHEMA; a repeated row (same member, program and file:line) once."""
    day = pl.lit(as_of)
    return (
        program_enrollment.filter(
            pl.col("program").is_in(list(programs))
            & (pl.col("start_date") <= day)
            & (pl.col("end_date").is_null() | (pl.col("end_date") >= day))
        )
        .join(members.select("member_id"), on="member_id", how="semi")
        .select(
            "member_id",
            "program",
            pl.lit(PROGRAM_FEED).alias("source_feed"),
            row_key().alias("source_key"),
            "start_date",
            "end_date",
        )
        .cast(EXCLUSION_SCHEMA)
    )


def hospice_claim_exclusions(
    claim_lines: pl.LazyFrame,
    members: pl.LazyFrame,
    bill_types: pl.DataFrame,
    as_of: dt.date,
    days: int,
) -> pl.LazyFrame:
    """The hospice claims of members of `members` whose service dates touch the `days`
    days ending on `as_of`: institutional claims whose type of bill is in `bill_types`.
    One row per member × claim_id (program `hospice`), its start and end the earliest
    and latest service date of the claim's lines."""
    first_day = as_of - dt.timedelta(days=days - 1)
    start = pl.coalesce("claim_line_start_date", "claim_start_date")
    end = pl.coalesce(
        pl.when(pl.col("claim_line_start_date").is_not_null()).then("claim_line_end_date"),
        "claim_end_date",
        start,
    )
    # claim_type is the claim's (the Tuva input layer): the claim's type of bill is read
    # among its institutional lines, the few of all lines.
    institutional = claim_lines.filter(pl.col("claim_type") == "institutional")
    lines = (
        with_claim_type_of_bill(institutional)
        .filter(in_value_set(pl.col(CLAIM_TYPE_OF_BILL), bill_types))
        .join(members.select("member_id"), on="member_id", how="semi")
        .select("member_id", "claim_id", start.alias("_start"), end.alias("_end"))
        .with_columns(pl.max_horizontal("_start", "_end").alias("_end"))
        .filter(pl.col("_start").is_not_null())
    )
    touches = (pl.col("_start") <= pl.lit(as_of)) & (pl.col("_end") >= pl.lit(first_day))
    return (
        lines.group_by("member_id", "claim_id")
        .agg(
            touches.any().alias("_touches"),
            pl.col("_start").min().alias("start_date"),
            pl.col("_end").max().alias("end_date"),
        )
        .filter(pl.col("_touches"))
        .select(
            "member_id",
            pl.lit(HOSPICE).alias("program"),
            pl.lit(CLAIMS_FEED).alias("source_feed"),
            pl.col("claim_id").alias("source_key"),
            "start_date",
            "end_date",
        )
        .cast(EXCLUSION_SCHEMA)
    )


def exclusions(
    *,
    program_enrollment: pl.LazyFrame,
    claim_lines: pl.LazyFrame,
    members: pl.LazyFrame,
    programs: Sequence[str],
    hospice_bill_types: pl.DataFrame,
    hospice_claim_days: int,
    as_of: dt.date,
) -> pl.LazyFrame:
    """Every exclusion of a member of `members` (enrolled on `as_of`) on `as_of`.

    Grain: one row per member × program × source (source_feed, source_key), sorted by
    them, then the dates. Hospice from claims counts only while `hospice` is among the
    programs in force (`programs`)."""
    parts = [enrollment_exclusions(program_enrollment, members, programs, as_of)]
    if HOSPICE in programs:
        parts.append(
            hospice_claim_exclusions(
                claim_lines, members, hospice_bill_types, as_of, hospice_claim_days
            )
        )
    # Each part is unique on the key by construction (a feed row's file:line; a claim
    # grouped by member and claim_id).
    return pl.concat(parts).sort([*EXCLUSION_KEY, "start_date", "end_date"], nulls_last=True)


def excluded_by(exclusions: pl.LazyFrame) -> pl.LazyFrame:
    """One row per excluded member: member_id, excluded_by (the member's program codes,
    each once, sorted, `;`-joined)."""
    return (
        exclusions.group_by("member_id")
        .agg(pl.col("program").unique().sort().str.join(EXCLUDED_BY_SEPARATOR).alias(EXCLUDED_BY))
        .sort("member_id")
    )


def with_excluded_by(assignments: pl.LazyFrame, exclusions: pl.LazyFrame) -> pl.LazyFrame:
    """The assignments with `excluded_by` last: the member's programs, '' (never null)
    when none. Rows and their order unchanged: an excluded member keeps every population."""
    return assignments.join(
        excluded_by(exclusions), on="member_id", how="left", maintain_order="left"
    ).with_columns(pl.col(EXCLUDED_BY).fill_null(""))
