"""The incremental ingest: which of a feed's files to stage, keep or drop, and the
member checks of the rows kept.

A file staged before in this warehouse with the same sha256, the same contract and
staging code (`staging_sha256`) and the same ecm version is kept, not read again; the
rows of a file changed or gone are deleted (`plan_feed`). The rows kept are checked
again against this run's eligibility when it differs from the one they were checked
against (`recheck_kept_rows`). The record of every file staged is the table
`ingest_files` (ecm.ingest.tables).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import duckdb

import data_contracts.sql as data_contracts_sql
import ecm
from data_contracts import CONTRACT_DIR, FeedContract
from data_contracts.sql import ELIGIBILITY_MEMBERS, MEMBER_QUARANTINED, UNKNOWN_MEMBER, ident, lit
from ecm import files as outputs
from ecm.ingest.claim_versions import touch_claims
from ecm.ingest.delivered import Keeping, is_kept, set_key
from ecm.ingest.discover import FeedFiles, relative_to_input
from ecm.ingest.header import META_COLUMNS
from ecm.ingest.tables import FILES_TABLE, MEMBER_CHECKS_TABLE
from ecm.warehouse.relations import drop_relation, relation_kind
from ecm.warehouse.sql import SQL_DIR

STAGING_CODE = (
    *sorted(Path(__file__).resolve().parent.glob("*.py")),
    Path(data_contracts_sql.__file__).resolve(),
    CONTRACT_DIR / "shapes.toml",
    SQL_DIR / "macros.sql",
)
"""What decides the staged rows of every feed besides its contract and staging model:
every module of this package (reading, staging and the member checks decide them; a
list of some would miss the next module that does), the check generator, the shapes and
the macros."""


def staging_sha256(contract: FeedContract) -> str:
    """sha256 of what decides a feed's staged rows: its contract, the shapes, the staging
    model and `STAGING_CODE`, and the rules file's aliases of its values the contract
    carries (`FeedContract.with_value_aliases`: they decide the value staged, or the row
    quarantined). A file staged with another is staged again."""
    digest = hashlib.sha256()
    for path in (contract.path, SQL_DIR / "staging" / f"stg__{contract.name}.sql", *STAGING_CODE):
        digest.update(str(Path(path).name).encode())
        digest.update(Path(path).read_bytes())
    aliases = [(s.name, s.value_aliases) for s in contract.specs if s.value_aliases]
    if aliases:
        digest.update(json.dumps(aliases).encode())
    return digest.hexdigest()


@dataclass(frozen=True)
class InputFile:
    """One input file of a feed: where it is, its path relative to the input folder (the
    `_source_file` of its rows), its sha256 and size."""

    path: Path
    relative: str
    sha256: str
    size: int


@dataclass(frozen=True)
class StagedFile:
    """A row of `ingest_files`."""

    relative: str
    sha256: str
    columns: tuple[str, ...]
    delivered: frozenset[str]
    read: int
    staged: int
    quarantined: int
    stored: frozenset[str] = frozenset()


def input_files(
    feed: FeedFiles | None, input_dir: Path, file_hashes: Mapping[str, str]
) -> list[InputFile]:
    """A feed's files as InputFiles (none for an absent feed), hashed unless `file_hashes`
    has their sha256 by relative path."""
    files = []
    for path in feed.files if feed else ():
        relative = relative_to_input(path, input_dir)
        digest = file_hashes.get(relative) or outputs.sha256_file(path)
        files.append(InputFile(path, relative, digest, path.stat().st_size))
    return files


def staged_files(con: duckdb.DuckDBPyConnection, feed: str) -> dict[str, StagedFile]:
    """The `ingest_files` rows of a feed, by relative path."""
    rows = con.execute(
        f"select source_file, sha256, columns, delivered, rows_read, rows_staged, "
        f"rows_quarantined, stored from {FILES_TABLE} where feed = ?",
        [feed],
    ).fetchall()
    return {
        r[0]: StagedFile(
            r[0], r[1], tuple(r[2]), frozenset(r[3]), r[4], r[5], r[6], frozenset(r[7] or ())
        )
        for r in rows
    }


def current_files(
    con: duckdb.DuckDBPyConnection, feed: str, files: list[InputFile]
) -> list[StagedFile]:
    """The `ingest_files` rows of a feed's current files, in the feed's file order."""
    stored = staged_files(con, feed)
    return [stored[f.relative] for f in files]


def plan_feed(
    con: duckdb.DuckDBPyConnection,
    contract: FeedContract,
    files: list[InputFile],
    version: str,
    keeping: Keeping | None = None,
) -> tuple[list[InputFile], list[str]]:
    """Which of a feed's files to stage, and which staged files to drop: a file staged
    before with the same sha256, contract and staging code and ecm version is kept; one
    changed or gone is dropped (its rows deleted); a new or changed one is staged. When
    the contract or code changed (or the staged table is missing), the whole feed is. A
    file of a feed kept whole whose delivered set the warehouse's folder lacks (`keeping`;
    removed by hand) is staged again, and so kept again."""
    feed = contract.name
    stored = con.execute(
        f"select source_file, sha256, staging_sha256, ecm_version from {FILES_TABLE} "
        f"where feed = ?",
        [feed],
    ).fetchall()
    table_ok = relation_kind(con, f"stg_checked__{feed}") == "BASE TABLE"
    untracked = not stored  # staged by an ecm before `ingest_files`, or never
    if (
        untracked
        or not table_ok
        or any(v != version or e != ecm.__version__ for *_f, v, e in stored)
    ):
        drop_relation(con, f"stg_checked__{feed}")
        con.execute("delete from quarantine where feed = ?", [feed])
        con.execute(f"delete from {FILES_TABLE} where feed = ?", [feed])
        return files, [f for f, *_ in stored]
    current = {f.relative: f.sha256 for f in files}
    if contract.kept_whole and keeping is not None:
        current = {
            f: sha
            for f, sha in current.items()
            if is_kept(keeping.folder, set_key(f, sha, version, ecm.__version__))
        }
    gone = [f for f, sha, *_ in stored if current.get(f) != sha]
    kept = {f for f, sha, *_ in stored if current.get(f) == sha}
    _forget_files(con, feed, gone)
    return [f for f in files if f.relative not in kept], gone


def _forget_files(con: duckdb.DuckDBPyConnection, feed: str, files: list[str]) -> None:
    """Delete the staged and quarantined rows of `files` and their `ingest_files` rows."""
    if not files:
        return
    con.execute("create or replace temp table _forget (source_file varchar)")
    con.executemany("insert into _forget values (?)", [[f] for f in files])
    if relation_kind(con, f"stg_checked__{feed}") == "BASE TABLE":
        touch_claims(con, feed, "where chk._source_file in (select * from _forget)")
        con.execute(
            f"delete from stg_checked__{feed} where _source_file in (select * from _forget)"
        )
    con.execute(
        "delete from quarantine where feed = ? and source_file in (select * from _forget)", [feed]
    )
    con.execute(
        f"delete from {FILES_TABLE} where feed = ? and source_file in (select * from _forget)",
        [feed],
    )


def recheck_kept_rows(
    con: duckdb.DuckDBPyConnection,
    contract: FeedContract,
    files: list[InputFile],
    to_stage: list[InputFile],
) -> list[InputFile]:
    """The files to stage once the kept rows' members are checked again
    (`_recheck_members`, only when the eligibility differs from the one they were checked
    against): `to_stage` and the kept files it returns, whose rows were deleted. A feed
    whose member check is a warning has its kept files staged again instead. Records the
    eligibility the feed's rows are now checked against."""
    if not contract.member_key:
        return to_stage
    eligibility = _eligibility_sha256(con)
    checked = con.execute(
        f"select eligibility_sha256 from {MEMBER_CHECKS_TABLE} where feed = ?", [contract.name]
    ).fetchall()
    if checked == [(eligibility,)]:
        return to_stage
    if not _has_rows(con, contract.name):
        restage: set[str] = set()
    elif contract.member_severity != "error":  # the verdict is among the `_warn` numbers
        restage = {f.relative for f in files if f not in to_stage}
    else:
        restage = set(_recheck_members(con, contract))
    con.execute(f"delete from {MEMBER_CHECKS_TABLE} where feed = ?", [contract.name])
    con.execute(f"insert into {MEMBER_CHECKS_TABLE} values (?, ?)", [contract.name, eligibility])
    if not restage:
        return to_stage
    _forget_files(con, contract.name, sorted(restage))
    return [f for f in files if f.relative in restage or f in to_stage]


def _eligibility_sha256(con: duckdb.DuckDBPyConnection) -> str:
    """Which eligibility the warehouse holds: its files' sha256s and staging code."""
    rows = con.execute(
        f"select source_file, sha256, staging_sha256 from {FILES_TABLE} "
        f"where feed = 'eligibility' order by source_file"
    ).fetchall()
    return hashlib.sha256(repr(rows).encode()).hexdigest()


def _has_rows(con: duckdb.DuckDBPyConnection, feed: str) -> bool:
    if relation_kind(con, f"stg_checked__{feed}") != "BASE TABLE":
        return False
    return bool(con.execute(f"select count(*) from stg_checked__{feed}").fetchall()[0][0])


MEMBER_RULES = ("unknown_member", "member_eligibility_quarantined")
"""The member rules: the verdicts of the member check, the last check of a row."""


def _recheck_members(con: duckdb.DuckDBPyConnection, contract: FeedContract) -> list[str]:
    """Check the member of every kept staged row against this run's eligibility, in place.

    The member check is the last check of a row, so a row's verdict can change only when
    it passed every other check (`_reject` null, or a member rule). A row that passed and
    now fails needs its raw row in the quarantine: its files are returned, to be staged
    again; every other change (a member now known, or another member rule) is an update of
    `_reject`, the quarantine and the file's counts. Costs one join of the staged member
    ids, against re-reading every file."""
    feed = contract.name
    table = f"stg_checked__{feed}"
    member_rules = " or ".join(f"chk._reject like '{r}|%'" for r in MEMBER_RULES)
    con.execute(
        f"""
        create or replace temp table _member_changes as
        select * from (
            select chk._source_file, chk._line, chk._reject as old,
                {_member_verdict_sql(contract)} as new
            from {table} as chk
            left join {ELIGIBILITY_MEMBERS} as _members
                on ecm_text(chk.{ident(contract.member_key)}) = _members._member_id
            where chk._reject is null or {member_rules}
        )
        where old is distinct from new
        """
    )
    touch_claims(
        con,
        feed,
        "semi join _member_changes as c on chk._source_file = c._source_file "
        "and chk._line = c._line",
    )
    restage = [
        r[0]
        for r in con.execute(
            "select distinct _source_file from _member_changes where old is null order by 1"
        ).fetchall()
    ]
    con.execute(
        "delete from _member_changes where _source_file in "
        "(select _source_file from _member_changes where old is null)"
    )
    changed = [
        r[0] for r in con.execute("select distinct _source_file from _member_changes").fetchall()
    ]
    if not changed:
        return restage
    con.execute(
        f"update {table} as t set _reject = c.new from _member_changes as c "
        f"where t._source_file = c._source_file and t._line = c._line"
    )
    con.execute(
        "delete from quarantine as q using _member_changes as c where q.feed = ? "
        "and q.source_file = c._source_file and q.line = c._line and c.new is null",
        [feed],
    )
    con.execute(
        "update quarantine as q set rule = split_part(c.new, '|', 1), "
        "detail = split_part(c.new, '|', 2) from _member_changes as c where q.feed = ? "
        "and q.source_file = c._source_file and q.line = c._line and c.new is not null",
        [feed],
    )
    con.execute(
        f"""
        update {FILES_TABLE} as f
        set rows_staged = n.staged, rows_quarantined = n.quarantined
        from (
            select _source_file, count(*) filter (where _reject is null) as staged,
                count(*) filter (where _reject is not null) as quarantined
            from {table}
            where _source_file in (select _source_file from _member_changes)
            group by all
        ) as n
        where f.feed = ? and f.source_file = n._source_file
        """,
        [feed],
    )
    return restage


def _member_verdict_sql(contract: FeedContract) -> str:
    """The member check's verdict on a staged row (`chk`) against `eligibility_members`
    (`_members`), as the generated check gives it."""
    return (
        f"case when ecm_text(chk.{ident(contract.member_key)}) is not null then case "
        f"when _members._member_id is null then {lit('unknown_member|' + UNKNOWN_MEMBER)} "
        f"when not _members._has_staged_row "
        f"then {lit('member_eligibility_quarantined|' + MEMBER_QUARANTINED)} end end"
    )


def drop_unknown_columns(
    con: duckdb.DuckDBPyConnection, contract: FeedContract, files: list[StagedFile]
) -> None:
    """Drop from the staged table the columns no current file stored (they came with a
    file that is gone), so the table is what a full ingest would build."""
    table = f"stg_checked__{contract.name}"
    keep = {*META_COLUMNS, "_reject", "_warn"}
    keep.update(c for f in files for c in f.stored)
    for (name,) in con.execute(f"select column_name from (describe {table})").fetchall():
        if name not in keep:
            con.execute(f"alter table {table} drop column {ident(name)}")
