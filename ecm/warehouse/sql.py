"""The project's SQL files, loaded by name (never assembled from user input)."""

from __future__ import annotations

import os
from functools import cache

import duckdb

from ecm.config.paths import SQL_DIR


@cache
def load_sql(name: str) -> str:
    """The text of `sql/<name>.sql`, e.g. `staging/stg__eligibility`."""
    path = SQL_DIR / f"{name}.sql"
    if not path.is_file():
        raise FileNotFoundError(f"No SQL model named {name!r} (looked for {path}).")
    return path.read_text(encoding="utf-8")


# DuckDB may use this share of the run's memory budget (the rules file's [run]
# memory_budget_gib, or the machine's memory when it is smaller or no run set one),
# spilling to disk beyond it; the rest is left for Python, Arrow and the Polars steps that
# run in the same process.
DUCKDB_MEMORY_SHARE = 0.5

_budget = {"bytes": None}


def use_memory_budget(gib: float | None) -> None:
    """Bound the DuckDB connections this process prepares from now on
    (`install_macros`) by a run's memory budget, `gib` GiB (the rules file's `[run]
    memory_budget_gib`); None: by the machine's memory alone. A process runs one command:
    the command sets it once, before its first connection."""
    _budget["bytes"] = None if gib is None else int(gib * 2**30)


def duckdb_memory_limit() -> int:
    """The bytes DuckDB may hold before it spills to disk: DUCKDB_MEMORY_SHARE of the run's
    memory budget, or of the machine's memory when that is smaller or no budget is set."""
    machine = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    budget = _budget["bytes"]
    return int(min(machine, budget if budget is not None else machine) * DUCKDB_MEMORY_SHARE)


def install_macros(con: duckdb.DuckDBPyConnection) -> None:
    """Prepare a connection: DuckDB's own progress bar off (the run logs its steps), its
    memory bounded by the run's budget, and the shared normalisation and check macros created.

    Memory: DuckDB need not keep rows in insertion order (no result depends on it: every
    output is sorted and every tie broken on values) and is capped at a share of the
    run's memory budget (`duckdb_memory_limit`). Measured on 1M members x 24 months
    (31.2M lines): with DuckDB's defaults the ingest ran the 24 GiB machine out of memory;
    with these it took 121 s at 3.4 GiB peak.
    """
    con.execute("set enable_progress_bar = false")
    con.execute("set preserve_insertion_order = false")
    con.execute(f"set memory_limit = '{duckdb_memory_limit() // 2**20}MiB'")
    con.execute(load_sql("macros"))


def staged_text(value: str) -> str | None:
    """`value` as the staging SQL keeps a text field such as member_id: the macro
    `ecm_text` of sql/macros.sql (trimmed of spaces, empty as None), called rather than
    copied, so that an id a person types matches the one the ingest stored."""
    with duckdb.connect() as con:
        con.execute(load_sql("macros"))
        return con.execute("select ecm_text(?)", [value]).fetchall()[0][0]
