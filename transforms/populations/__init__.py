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
