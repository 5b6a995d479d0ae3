"""Proposals for members with no ECM provider (loop.md, section 4): part of the loop's stage,
once per run after the merge of the shards, so that room is counted across the whole run in
member_id order and the proposals do not depend on the number of shards.

It reads the roster (`stg__ecm_provider`; none when the feed was not delivered), the
provider_assignment spans covering D of every member (whether or not they hold a
population), and takes from the loop the members enrolled in ECM on D (the RTF) and from
the shards each candidate's county and primary care provider (the merged `primary_care`);
the rules are pure, in transforms/proposals.py.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

import duckdb
import polars as pl

from data_contracts.sql import ident
from ecm.loop.inputs import staged
from ecm.warehouse.inputs import input_selects
from transforms import proposals

ECM_PROVIDER = "ecm_provider"


@dataclass(frozen=True)
class Proposals:
    """The run's proposals (`frame`: PROPOSAL_SCHEMA, one row per candidate), the
    assignments with their two columns, and capacity use per roster provider."""

    frame: pl.DataFrame
    assignments: pl.DataFrame
    capacity: pl.DataFrame
    roster_providers: int

    def counts(self) -> dict[str, Any]:
        """summary.json's `proposals` (docs/OUTPUTS.md)."""
        reasons = dict(
            self.frame.filter(pl.col("proposal_reason").is_not_null())
            .group_by("proposal_reason")
            .len()
            .iter_rows()
        )
        return {
            "roster_providers": self.roster_providers,
            "candidates": self.frame.height,
            "by_reason": {r: int(reasons.get(r, 0)) for r in proposals.PROPOSAL_REASONS},
            "none": self.frame.filter(pl.col("proposal_reason").is_null()).height,
            "capacity": self.capacity.to_dicts(),
        }


def roster_of(con: duckdb.DuckDBPyConnection) -> pl.DataFrame:
    """The staged roster (ROSTER_SCHEMA); no rows when the feed was never delivered."""
    schema = proposals.ROSTER_SCHEMA
    relation = staged(con, ECM_PROVIDER)
    if relation is None:
        return pl.DataFrame(schema=schema)
    columns = ", ".join(ident(c) for c in schema)
    return con.sql(f"select {columns} from {relation} order by provider_npi").pl().cast(schema)


def spans_on(con: duckdb.DuckDBPyConnection, as_of: dt.date) -> pl.DataFrame:
    """Every member × provider with a provider_assignment span covering `as_of` (the run's
    input `provider_assignment`), whether or not the member holds a population; none
    when the warehouse has no staged provider_assignment."""
    if staged(con, "provider_assignment") is None:
        return pl.DataFrame(schema={"member_id": pl.String, "provider_npi": pl.String})
    select = input_selects()["provider_assignment"].sql
    return (
        con.sql(
            f"select distinct member_id, provider_npi from ({select}) "
            "where start_date <= ? and (end_date is null or end_date >= ?) order by all",
            params=[as_of, as_of],
        )
        .pl()
        .cast({"member_id": pl.String, "provider_npi": pl.String})
    )


def propose_providers(
    con: duckdb.DuckDBPyConnection,
    assignments: pl.DataFrame,
    primary_care: pl.DataFrame,
    enrollments: pl.LazyFrame,
    as_of: dt.date,
) -> Proposals:
    """The proposals of the run of `as_of`: `assignments` the merged ones, `primary_care`
    the shards' merged frame (PRIMARY_CARE_SCHEMA), `enrollments` who is enrolled in ECM
    with which provider on D (transforms.loop.ecm_enrollments)."""
    roster = roster_of(con)
    taken = proposals.taken_places(spans_on(con, as_of).lazy(), enrollments).collect()
    members = (
        proposals.candidates(assignments.lazy())
        .join(primary_care.lazy(), on="member_id", how="left")
        .collect()
    )
    frame = proposals.propose(members, roster, taken)
    return Proposals(
        frame=frame,
        assignments=proposals.with_proposals(assignments.lazy(), frame.lazy()).collect(),
        capacity=proposals.capacity_use(roster, taken, frame),
        roster_providers=roster.height,
    )
