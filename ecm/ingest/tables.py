"""The tables the ingest keeps in the warehouse beside the staged feeds, each created by
`prepare_warehouse` before a feed is staged: `quarantine` (the rows that broke an error
rule), `ingest_files` (every file staged, the record an incremental ingest decides
from), `staged_columns` (each feed's staging columns), `ingest_member_checks` (the
eligibility each feed's rows were checked against), `claim_version_settings`, and the
temporary `_touched_claims` (the claims whose versions this ingest resolves again).
"""

from __future__ import annotations

import hashlib
import json

import duckdb

from ecm.warehouse.relations import drop_relation, relation_kind
from ecm.warehouse.sql import install_macros

QUARANTINE_DDL = """
create table if not exists quarantine (
    feed varchar,
    source_file varchar,
    line bigint,
    rule varchar,
    detail varchar,
    raw_row varchar
)
"""

FILES_TABLE = "ingest_files"
FILES_DDL = f"""
create table if not exists {FILES_TABLE} (
    feed varchar,
    source_file varchar,
    sha256 varchar,
    size_bytes bigint,
    columns varchar[],
    delivered varchar[],
    rows_read bigint,
    rows_staged bigint,
    rows_quarantined bigint,
    staging_sha256 varchar,
    ecm_version varchar,
    stored varchar[]
)
"""
"""One row per input file staged in this warehouse: the feed, its path relative to the
input folder, its sha256 and size, its columns (as in its header) and those that may hold
a value, its rows read / staged / quarantined, the sha256 of the staging code and
contract (`staging_sha256`), the ecm version it was staged with, and the staged columns
it wrote (`stored`: those holding a value in at least one of its rows)."""

SCHEMA_TABLE = "staged_columns"
SCHEMA_DDL = f"""
create table if not exists {SCHEMA_TABLE} (
    feed varchar,
    position integer,
    column_name varchar,
    column_type varchar
)
"""
"""Per feed, every column its staging model gives (in order, with its type), whether or
not the staged table stores it: `stg__<feed>` shows each, null where no file had a value."""

MEMBER_CHECKS_TABLE = "ingest_member_checks"
MEMBER_CHECKS_DDL = f"""
create table if not exists {MEMBER_CHECKS_TABLE} (feed varchar, eligibility_sha256 varchar)
"""
"""Per feed with a member key, the eligibility its staged rows were checked against (a
sha256 of the eligibility files' sha256s and staging code): the kept rows are checked
again only when this run's eligibility differs."""


TOUCHED_CLAIMS = "_touched_claims"
"""A temporary table of the claims (data_source, claim_id) whose versions this ingest
resolves again: those of rows staged, deleted, or whose member verdict changed."""
VERSION_SETTINGS_TABLE = "claim_version_settings"
"""The void frequency the claim versions were resolved with: another resolves every claim
again."""


def prepare_warehouse(con: duckdb.DuckDBPyConnection) -> None:
    """Macros, and the tables an incremental ingest keeps (`quarantine`, `ingest_files`,
    and the others above); a warehouse staged before `ingest_files` existed has its
    quarantine rebuilt."""
    install_macros(con)
    if relation_kind(con, FILES_TABLE) is None:
        drop_relation(con, "quarantine")
    con.execute(QUARANTINE_DDL)
    con.execute(FILES_DDL)
    con.execute(SCHEMA_DDL)
    # A warehouse staged before `stored` existed: its files are staged again (their
    # staging code differs), so the column only needs to be there.
    con.execute(f"alter table {FILES_TABLE} add column if not exists stored varchar[]")
    con.execute(MEMBER_CHECKS_DDL)
    con.execute(
        f"create or replace temp table {TOUCHED_CLAIMS} (data_source varchar, claim_id varchar)"
    )
    con.execute(f"create table if not exists {VERSION_SETTINGS_TABLE} (void_frequency varchar)")


def staged_digest(con: duckdb.DuckDBPyConnection) -> str:
    """sha256 of what the warehouse has staged, as the ingest records it: every file
    staged with the code that staged it (`ingest_files`), the member checks' eligibility,
    the claim-version settings and the row count of every staged table. Two warehouses
    with one digest hold the same staged rows; what is made from them alone (a run's
    shard inputs, the contracts' suites) may be kept under it."""
    digest = hashlib.sha256()
    for table in (FILES_TABLE, MEMBER_CHECKS_TABLE, VERSION_SETTINGS_TABLE):
        rows = (
            con.execute(f"select * from {table} order by all").fetchall()
            if relation_kind(con, table) is not None
            else None
        )
        digest.update(table.encode())
        digest.update(json.dumps(rows, default=str).encode())
    staged = [
        name
        for (name,) in con.execute(
            "select table_name from information_schema.tables "
            "where table_schema = 'main' and table_type = 'BASE TABLE' "
            "and (starts_with(table_name, 'stg') or starts_with(table_name, 'int__medical_claim')) "
            "order by table_name"
        ).fetchall()
    ]
    counts = [(t, con.execute(f'select count(*) from "{t}"').fetchone()[0]) for t in staged]
    digest.update(json.dumps(counts).encode())
    return digest.hexdigest()


def staged_feeds(con: duckdb.DuckDBPyConnection) -> frozenset[str]:
    """The feeds the warehouse's last ingest found in its feed folder: those with a file
    staged (`ingest_files` keeps a row per file of the feed folder, an empty or header-only
    one too, and drops the rows of files gone). Only reads; none without `ingest_files`."""
    if relation_kind(con, FILES_TABLE) is None:
        return frozenset()
    return frozenset(
        r[0] for r in con.execute(f"select distinct feed from {FILES_TABLE}").fetchall()
    )


def staged_void_frequency(con: duckdb.DuckDBPyConnection) -> str | None:
    """The void frequency the warehouse's claim versions were resolved with
    (`VERSION_SETTINGS_TABLE`), or None when they never were. Only reads."""
    if relation_kind(con, VERSION_SETTINGS_TABLE) is None:
        return None
    rows = con.execute(f"select void_frequency from {VERSION_SETTINGS_TABLE}").fetchall()
    return rows[0][0] if rows else None
