"""Claim versions: of the staged claim lines, the current, unvoided version of each claim
(`int__medical_claim_version`, the view `int__medical_claim_current` of its lines, and
`int__medical_claim_current_codes` of their code positions), resolved again only for the
claims this ingest touched (`touch_claims`) when the rest can be kept.
"""

from __future__ import annotations

import re

import duckdb

from data_contracts import load_contracts
from ecm.config.rules import Rules
from ecm.ingest.tables import TOUCHED_CLAIMS, VERSION_SETTINGS_TABLE
from ecm.warehouse.relations import columns_of, relation_kind, replace_relation
from ecm.warehouse.sql import load_sql

VERSIONED_FEED = "medical_claim"
"""The feed whose rows are versions of claims."""
VOID_FREQUENCY = "claims.void_bill_type_frequency"
"""The rules file's setting the claim versions are resolved with: the one setting that
decides which staged rows the rules read (`ecm diff` compares rules over what is staged)."""


def touch_claims(con: duckdb.DuckDBPyConnection, feed: str, rows_sql: str, params=None) -> None:
    """Note the claims (data_source, claim_id) of the staged rows `rows_sql` selects (from
    stg_checked__medical_claim as `chk`): their versions are resolved again this ingest
    (resolve_claim_versions), the others' are kept. Nothing to note when every claim is
    resolved again (no staged claims file kept: `touch_every_claim`)."""
    if feed != VERSIONED_FEED or relation_kind(con, TOUCHED_CLAIMS) is None:
        return
    con.execute(
        f"insert into {TOUCHED_CLAIMS} select distinct chk.data_source, chk.claim_id "
        f"from stg_checked__{feed} as chk {rows_sql}",
        params,
    )


def touch_every_claim(con: duckdb.DuckDBPyConnection) -> None:
    """Every claim's versions are resolved again this ingest: stop noting touched claims
    (on a full ingest of 47M claim lines the notes took 3.8 s for nothing)."""
    con.execute(f"drop table if exists {TOUCHED_CLAIMS}")


CODE_POSITIONS = re.compile(r"^(diagnosis|procedure)_code_([0-9]+)$")


def _current_codes_select(con: duckdb.DuckDBPyConnection) -> str:
    """The current claims' keys, service dates and the diagnosis and procedure positions
    some staged row holds a code in (position 1 always): what int__claim_diagnosis and
    int__claim_procedure unpivot. Unpivoting the 25 positions of each when a feed fills
    nine read 25 columns of nulls (300k members: 21 s against 7 s)."""
    stored = columns_of(con, "stg_checked__medical_claim")
    codes = [
        c
        for c in load_contracts()["medical_claim"].columns
        if (m := CODE_POSITIONS.match(c)) and (c in stored or m.group(2) == "1")
    ]
    keys = "member_id, data_source, claim_id, claim_type, claim_line_start_date, claim_start_date"
    return f"select {keys}, {', '.join(codes)} from int__medical_claim_current"


def resolve_claim_versions(
    con: duckdb.DuckDBPyConnection, rules: Rules, *, every_claim: bool = True
) -> dict[str, int]:
    """Build the current claim versions (a key table and the view of their lines); returns
    line and claim counts before and after.

    Incremental unless `every_claim` (no staged file was kept), the version table is
    missing or the void frequency changed: only the claims this ingest touched (rows
    staged, deleted, or whose member verdict changed: `_touched_claims`) are resolved
    again, the rest kept; the table equals a full build (tests/test_ingest_incremental)."""
    void = str(rules.setting(VOID_FREQUENCY))
    model = load_sql("intermediate/int__medical_claim_version")
    settled = con.execute(f"select void_frequency from {VERSION_SETTINGS_TABLE}").fetchall()
    if (
        every_claim
        or settled != [(void,)]
        or relation_kind(con, "int__medical_claim_version") != "BASE TABLE"
        # an older ecm's, without the line or version counts
        or not {"lines", "versions"} <= set(columns_of(con, "int__medical_claim_version"))
    ):
        replace_relation(
            con, "int__medical_claim_version", "table", model, {"void_frequency": void}
        )
        con.execute(f"delete from {VERSION_SETTINGS_TABLE}")
        con.execute(f"insert into {VERSION_SETTINGS_TABLE} values (?)", [void])
    else:
        con.execute(
            f"create or replace temp view _claims_to_version as select lines.* "
            f"from stg__medical_claim as lines semi join {TOUCHED_CLAIMS} as t "
            f"on lines.data_source = t.data_source and lines.claim_id = t.claim_id"
        )
        # The model reads the staged lines in one place: here, the touched claims' lines.
        assert model.count("from stg__medical_claim") == 1
        touched = model.replace("from stg__medical_claim", "from _claims_to_version")
        con.execute(
            f"delete from int__medical_claim_version as v using "
            f"(select distinct * from {TOUCHED_CLAIMS}) as t "
            f"where v.data_source = t.data_source and v.claim_id = t.claim_id"
        )
        con.execute(f"insert into int__medical_claim_version {touched}", {"void_frequency": void})
    replace_relation(
        con,
        "int__medical_claim_current",
        "view",
        load_sql("intermediate/int__medical_claim_current"),
    )
    replace_relation(con, "int__medical_claim_current_codes", "view", _current_codes_select(con))
    row = con.execute(
        """
        select
            (select count(*) from stg__medical_claim),
            (select count(*) from int__medical_claim_version),
            (select coalesce(sum(lines), 0) from int__medical_claim_version where not is_void),
            (select count(*) from int__medical_claim_version where not is_void)
        """
    ).fetchall()[0]
    return {
        "staged_lines": row[0],
        "staged_claims": row[1],
        "current_lines": row[2],
        "current_claims": row[3],
    }
