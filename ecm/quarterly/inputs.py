"""What the quarterly file reads from the warehouse (read only): the runs of the quarter
and their assignments (ecm.warehouse.history), the staged RTF and OTF (a feed never
delivered has no rows), the eligibility spans of the members the RTF names, and the
homelessness rows that made a child the index of a household population in a run
recorded before the history said which assignments are held through the household."""

from __future__ import annotations

import datetime as dt

import duckdb
import polars as pl

from ecm.loop.inputs import OUTREACH, PROVIDER_RETURN, read_staged, staged
from ecm.warehouse import history
from ecm.warehouse.relations import columns_of, relation_kind
from transforms.loop import OTF_SCHEMA, month_start
from transforms.quarterly import (
    ASSIGNMENT_SCHEMA,
    QUARTERLY_OTF_SCHEMA,
    QUARTERLY_RTF_SCHEMA,
)

HOMELESSNESS = "homelessness"
HOUSEHOLD = "has_household_evidence"
OTF_READ = OTF_SCHEMA


def quarter_runs(con: duckdb.DuckDBPyConnection, first: dt.date, last: dt.date) -> pl.DataFrame:
    """The recorded runs whose as-of dates fall in `first`..`last` (run_id, as_of_date);
    none when the warehouse has no history (the connection is read only)."""
    if relation_kind(con, history.RUNS) is None:
        return pl.DataFrame(schema={"run_id": pl.String, "as_of_date": pl.Date})
    return con.sql(
        f"select run_id, as_of_date from {history.RUNS} where as_of_date between ? and ? "
        "order by as_of_date",
        params=[first, last],
    ).pl()


def assignments_of(con: duckdb.DuckDBPyConnection, run_ids: list[str]) -> pl.DataFrame:
    """Every member × population × age group × has_household_evidence the runs `run_ids`
    assigned (distinct; has_household_evidence empty in a warehouse written before the
    history kept it: the connection is read only, so it is not added here)."""
    wanted = pl.DataFrame({"run_id": run_ids}, schema={"run_id": pl.String})
    household = (
        "a.has_household_evidence"
        if HOUSEHOLD in columns_of(con, history.RUN_ASSIGNMENTS)
        else "null::boolean as has_household_evidence"
    )
    con.register("_quarter_runs", wanted)
    try:
        frame = con.sql(
            f"select distinct a.member_id, a.pof_code, a.age_group, {household} "
            f"from {history.RUN_ASSIGNMENTS} a join _quarter_runs r using (run_id) order by all"
        ).pl()
    finally:
        con.unregister("_quarter_runs")
    return frame.cast(ASSIGNMENT_SCHEMA)


def provider_returns(con: duckdb.DuckDBPyConnection, last: dt.date) -> pl.DataFrame:
    """The staged RTF rows of reporting periods through `last`'s month."""
    return read_staged(
        con, PROVIDER_RETURN, QUARTERLY_RTF_SCHEMA, "reporting_period <= ?", [month_start(last)]
    )


def outreach_attempts(
    con: duckdb.DuckDBPyConnection, first: dt.date, last: dt.date
) -> pl.DataFrame:
    """The staged OTF attempts dated in `first`..`last`."""
    return read_staged(
        con, OUTREACH, OTF_READ, "attempt_date between ? and ?", [first, last]
    ).select(*QUARTERLY_OTF_SCHEMA)


def homeless_members(con: duckdb.DuckDBPyConnection, last: dt.date) -> pl.DataFrame:
    """The members with a staged homelessness row entered by `last` (member_id)."""
    relation = staged(con, HOMELESSNESS)
    if relation is None:
        return pl.DataFrame(schema={"member_id": pl.String})
    return con.sql(
        f"select distinct member_id from {relation} where entry_date <= ? order by 1",
        params=[last],
    ).pl()
