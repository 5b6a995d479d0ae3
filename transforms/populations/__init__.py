"""Population of focus rules. Each rule returns a `PopulationResult`: who qualifies (with
`qualifying_date` and a one-line `evidence_summary`) and the facts behind it."""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

QUALIFIED_SCHEMA = {
    "member_id": pl.String,
    "pof_code": pl.String,
    "qualifying_date": pl.Date,
    "evidence_summary": pl.String,
}
EVIDENCE_SCHEMA = {
    "member_id": pl.String,
    "pof_code": pl.String,
    "criterion": pl.String,
    "source_feed": pl.String,
    "source_key": pl.String,
    "event_date": pl.Date,
    "code": pl.String,
}


@dataclass(frozen=True)
class PopulationResult:
    """Qualified members (one row per member × population) and their evidence rows
    (one row per member × population × supporting fact)."""

    qualified: pl.LazyFrame
    evidence: pl.LazyFrame

    @staticmethod
    def empty() -> PopulationResult:
        return PopulationResult(
            pl.LazyFrame(schema=QUALIFIED_SCHEMA), pl.LazyFrame(schema=EVIDENCE_SCHEMA)
        )

    @staticmethod
    def concat(results: list[PopulationResult]) -> PopulationResult:
        if not results:
            return PopulationResult.empty()
        return PopulationResult(
            pl.concat(
                [r.qualified.select(list(QUALIFIED_SCHEMA)).cast(QUALIFIED_SCHEMA) for r in results]
            ),
            pl.concat(
                [r.evidence.select(list(EVIDENCE_SCHEMA)).cast(EVIDENCE_SCHEMA) for r in results]
            ),
        )


def fact_summary(facts: pl.LazyFrame) -> pl.LazyFrame:
    """One line per member × population naming each criterion's facts:
    `ed_visit 3 2026-01-02..2026-05-01; smi_dx 1 2026-02-03`. Grain: member × pof."""
    per_criterion = (
        facts.group_by("member_id", "pof_code", "criterion")
        .agg(
            pl.len().alias("n"),
            pl.col("event_date").min().alias("first"),
            pl.col("event_date").max().alias("last"),
        )
        .with_columns(
            pl.when(pl.col("first") == pl.col("last"))
            .then(pl.format("{} {} {}", "criterion", "n", pl.col("first").dt.to_string("%Y-%m-%d")))
            .otherwise(
                pl.format(
                    "{} {} {}..{}",
                    "criterion",
                    "n",
                    pl.col("first").dt.to_string("%Y-%m-%d"),
                    pl.col("last").dt.to_string("%Y-%m-%d"),
                )
            )
            .alias("part")
        )
    )
    return per_criterion.group_by("member_id", "pof_code").agg(
        pl.col("part").sort().str.join("; ").alias("evidence_summary")
    )


def qualify_by_facts(
    pof_code: str, qualifying: pl.LazyFrame, facts: pl.LazyFrame
) -> PopulationResult:
    """Members in `qualifying` (member_id) hold `pof_code`; their `facts` are the evidence.

    `qualifying_date` is the latest date among the facts that met the rule
    (populations.md, "What each assignment carries").
    """
    evidence = facts.join(
        qualifying.select("member_id").unique(), on="member_id", how="semi"
    ).with_columns(pl.lit(pof_code).alias("pof_code"))
    qualified = (
        evidence.group_by("member_id", "pof_code")
        .agg(pl.col("event_date").max().alias("qualifying_date"))
        .join(fact_summary(evidence), on=["member_id", "pof_code"], how="left")
    )
    return PopulationResult(qualified, evidence)
