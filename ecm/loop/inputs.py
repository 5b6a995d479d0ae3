"""What the referral loop reads from the run's warehouse copy: the staged RTF and OTF
(`stg__provider_return`, `stg__outreach`; a feed never delivered has no rows), the
eligibility spans of the members in the loop, and the history of earlier runs
(ecm.warehouse.history).

Memory follows the members in the loop, not the plan: DuckDB reads the eligibility spans
of only the members listed, referred or named by a provider, and the RTF and OTF rows
dated through the as-of date."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

import duckdb
import polars as pl

from data_contracts import load_contract
from data_contracts.sql import ident
from ecm.warehouse.inputs import input_selects
from ecm.warehouse.relations import columns_of, relation_kind
from transforms.loop import OTF_SCHEMA, RTF_SCHEMA, month_start

PROVIDER_RETURN = "provider_return"
OUTREACH = "outreach"
# The eligibility columns the loop reads: who is with the plan on D, and since when not.
ELIGIBILITY_SCHEMA = {
    "member_id": pl.String,
    "birth_date": pl.Date,
    "death_date": pl.Date,
    "enrollment_start_date": pl.Date,
    "enrollment_end_date": pl.Date,
}


REASON_CODE = "discontinuation_reason_code"


def discontinuation_reason_codes() -> tuple[str, ...]:
    """The RTF's discontinuation reason codes, as the provider_return contract allows
    them (staged case, its order)."""
    return load_contract(PROVIDER_RETURN).spec(REASON_CODE).allowed_values


def discontinuation_reason_names() -> dict[str, str]:
    """Each discontinuation reason code's name (DHCS's), as the provider_return contract
    names it (`value_names`)."""
    return load_contract(PROVIDER_RETURN).spec(REASON_CODE).names_of_values


def staged(con: duckdb.DuckDBPyConnection, feed: str) -> str | None:
    """The staged relation of `feed` (`stg__<feed>`), or None when the warehouse has none."""
    name = f"stg__{feed}"
    return name if relation_kind(con, name) is not None else None


def read_staged(
    con: duckdb.DuckDBPyConnection,
    feed: str,
    schema: dict[str, pl.DataType],
    where: str,
    params: list,
) -> pl.DataFrame:
    """The columns of `schema` of a staged feed's rows that `where` keeps, cast; no rows
    when the feed was never staged."""
    relation = staged(con, feed)
    if relation is None:
        return pl.DataFrame(schema=schema)
    missing = sorted(set(schema) - columns_of(con, relation))
    if missing:  # a staging older than the loop's interface is a bug, not bad input
        raise ValueError(f"{relation} lacks the columns {', '.join(missing)}.")
    columns = ", ".join(ident(c) for c in schema)
    frame = con.sql(f"select {columns} from {relation} where {where}", params=params).pl()
    return frame.cast(schema).sort("member_id", "provider_npi", "_source_file", "_line")


def provider_returns(con: duckdb.DuckDBPyConnection, as_of: dt.date) -> pl.DataFrame:
    """The staged RTF rows of reporting periods through `as_of`'s month (RTF_SCHEMA)."""
    return read_staged(
        con, PROVIDER_RETURN, RTF_SCHEMA, "reporting_period <= ?", [month_start(as_of)]
    )


def outreach_attempts(con: duckdb.DuckDBPyConnection, as_of: dt.date) -> pl.DataFrame:
    """The staged OTF attempts dated on or before `as_of` (OTF_SCHEMA)."""
    return read_staged(con, OUTREACH, OTF_SCHEMA, "attempt_date <= ?", [as_of])


def eligibility_of(
    con: duckdb.DuckDBPyConnection,
    members: Iterable[str],
    schema: dict[str, pl.DataType] | None = None,
) -> pl.DataFrame:
    """Every eligibility span of `members`, the columns of `schema` (default the loop's,
    ELIGIBILITY_SCHEMA; the quarterly file asks for its own), from the run's input
    `eligibility` (ecm.warehouse.inputs: the rows and columns the rules read)."""
    schema = ELIGIBILITY_SCHEMA if schema is None else schema
    wanted = pl.DataFrame({"member_id": sorted(set(members))}, schema={"member_id": pl.String})
    select = input_selects()["eligibility"].sql
    con.register("_wanted_members", wanted)
    try:
        columns = ", ".join(f"e.{ident(c)}" for c in schema)
        frame = con.sql(
            f"select {columns} from ({select}) e "
            "join _wanted_members m on m.member_id = e.member_id "
            "order by all"
        ).pl()
    finally:
        con.unregister("_wanted_members")
    return frame.cast(schema)
