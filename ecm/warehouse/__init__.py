"""The warehouse: the DuckDB file every stage reads and writes.

Owns the project's SQL files and the macros every connection installs (`sql`), its
tables and views by name (`relations`: replaced whatever kind they were), the run's
inputs as selects over the staged tables, declared once from the contracts (`inputs`),
and the record of every run (`history`: runs and their assignments, which
`changes.parquet` and the report's trend are read from; who each run's member
information files listed and its referrals, which the referral loop, ecm.loop, reads).

May import: `ecm.errors`, `ecm.config`, `data_contracts`, `transforms` (the names the
history records, e.g. HOMELESS_FAMILY's household criterion). Imports no stage.
"""
