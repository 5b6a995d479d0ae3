"""The warehouse: the DuckDB file every stage reads and writes.

Owns the project's SQL files and the macros every connection installs (`sql`), and the
record of every run (`history`: a run's record, built from its summary, and its
assignments, which `changes.parquet`, the MIF's Assignment Status and the report's trend
are read from).

May import: `ecm.errors`, `ecm.config`. Imports no stage.
"""
