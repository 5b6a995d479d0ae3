"""Assignments: qualified members × populations, with age group, provider and rules version."""

from __future__ import annotations

import datetime as dt

import polars as pl

from transforms.populations import PopulationResult

ASSIGNMENT_COLUMNS = [
    "member_id",
    "pof_code",
    "age_group",
    "as_of_date",
    "qualifying_date",
    "provider_npi",
    "evidence_summary",
    "rules_version",
]


def finalize_assignments(
    result: PopulationResult,
    members: pl.LazyFrame,
    providers: pl.LazyFrame,
    as_of: dt.date,
    rules_version: str,
) -> tuple[pl.LazyFrame, pl.LazyFrame]:
    """The assignments and evidence of enrolled members, sorted by member_id, pof_code.

    Grain: assignments one row per member × population; evidence one row per member ×
    population × criterion × source row. Only members of `members` (enrolled on the
    as-of date, alive) are kept; members without a provider get provider_npi null.
    """
    enrolled = members.select("member_id", "age_group")
    assignments = (
        result.qualified.join(enrolled, on="member_id", how="inner")
        .join(providers.select("member_id", "provider_npi"), on="member_id", how="left")
        .with_columns(
            pl.lit(as_of).alias("as_of_date"),
            pl.lit(rules_version).alias("rules_version"),
        )
        .select(ASSIGNMENT_COLUMNS)
        .sort(["member_id", "pof_code"])
    )
    evidence = (
        result.evidence.join(
            assignments.select("member_id", "pof_code"), on=["member_id", "pof_code"], how="semi"
        )
        .unique()
        .sort(
            ["member_id", "pof_code", "criterion", "event_date", "source_key", "code"],
            nulls_last=True,
        )
    )
    return assignments, evidence
