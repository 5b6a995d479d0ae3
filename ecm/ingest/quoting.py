"""SQL text of the names and values the ingest writes into the SQL it generates (DuckDB
views take no parameters): a column name as a quoted identifier, a text (a path, a time
zone) as the body of a string literal."""

from __future__ import annotations


def quoted(name: str) -> str:
    """A column name as a SQL identifier, quoted (any `"` in it doubled)."""
    return '"' + name.replace('"', '""') + '"'


def sql_literal(text: str) -> str:
    """Text as the body of a SQL string literal (views cannot take parameters)."""
    return str(text).replace("'", "''")
