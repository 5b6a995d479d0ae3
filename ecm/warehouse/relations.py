"""The warehouse's tables and views by name: what a name is (`relation_kind`), its columns,
and a relation replaced whatever kind it was before (`replace_relation`)."""

from __future__ import annotations

import duckdb


def replace_relation(
    con: duckdb.DuckDBPyConnection, name: str, kind: str, sql: str, params: dict | None = None
) -> None:
    """Create table or view `name` as `sql`, dropping whatever relation had the name (an
    earlier version of the warehouse may hold a table where a view now belongs)."""
    drop_relation(con, name)
    con.execute(f"create {kind} {name} as {sql}", params)


def relation_kind(con: duckdb.DuckDBPyConnection, name: str) -> str | None:
    """`BASE TABLE`, `VIEW` (or another kind DuckDB names), or None when the main schema
    has no relation `name`."""
    existing = con.execute(
        "select table_type from information_schema.tables where table_name = ? "
        "and table_schema = 'main'",
        [name],
    ).fetchall()
    return existing[0][0] if existing else None


def drop_relation(con: duckdb.DuckDBPyConnection, name: str) -> None:
    """Drop the table or view `name`, if there is one."""
    kind = relation_kind(con, name)
    if kind is not None:
        con.execute(f"drop {'view' if kind == 'VIEW' else 'table'} {name}")


def columns_of(con: duckdb.DuckDBPyConnection, table: str) -> set[str]:
    """The column names of `table` (or of a parenthesised select)."""
    return {r[0] for r in con.execute(f"describe {table}").fetchall()}
