"""The project's SQL files, loaded by name (never assembled from user input)."""

from __future__ import annotations

from functools import cache

import duckdb

from ecm.paths import SQL_DIR


@cache
def load_sql(name: str) -> str:
    """The text of `sql/<name>.sql`, e.g. `staging/stg__eligibility`."""
    path = SQL_DIR / f"{name}.sql"
    if not path.is_file():
        raise FileNotFoundError(f"No SQL model named {name!r} (looked for {path}).")
    return path.read_text(encoding="utf-8")


def install_macros(con: duckdb.DuckDBPyConnection) -> None:
    """Prepare a connection: DuckDB's own progress bar off (the run logs its steps), and
    the shared normalisation and check macros created."""
    con.execute("set enable_progress_bar = false")
    con.execute(load_sql("macros"))
