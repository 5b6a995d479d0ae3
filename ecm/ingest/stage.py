"""Staging: a feed's files checked, cast and normalised into the warehouse, in pieces, the
quarantine guard counting each piece.

For each file to stage (`stage_files`): the disk must have room for it
(ecm.ingest.measure); it is read (ecm.ingest.read) in pieces of at most `PIECE_ROWS`
rows, and each piece is checked with the checks generated from the feed's contract
(`checked__<feed>`, data_contracts/sql.py), cast and normalised by
`sql/staging/stg__<feed>.sql` and inserted into `stg_checked__<feed>` with its verdict
(`_stage_file`). Once the file is staged whole, the rows that broke an `error` rule go
to the `quarantine` table with the rule and the raw row (`_finish_file`). The feed's
guard (`feed_quarantine_guard`, guards.QuarantineShare) stops the ingest as soon as its
quarantined share is certainly past the rules file's. `finish_feed` makes the view
`stg__<feed>` of the rows that passed.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import replace
from pathlib import Path

import duckdb

import ecm
from data_contracts import FeedContract
from data_contracts.sql import ELIGIBILITY_MEMBERS_SQL, checked_select, ident, ident_list
from ecm.config.rules import Rules
from ecm.ingest.claim_versions import touch_claims
from ecm.ingest.delivered import Keeping, delivered_view, keep_delivered, set_key
from ecm.ingest.discover import FeedFiles
from ecm.ingest.header import META_COLUMNS
from ecm.ingest.incremental import InputFile, drop_unknown_columns, staged_files, staging_sha256
from ecm.ingest.measure import FileMeasure, check_disk_room
from ecm.ingest.read import RawFile, file_pieces, raw_file
from ecm.ingest.read_parquet import find_unreadable_parquet, parquet_error
from ecm.ingest.tables import FILES_TABLE, SCHEMA_TABLE
from ecm.run.guards import QuarantineShare
from ecm.run.progress import Reporter
from ecm.warehouse.relations import columns_of, relation_kind, replace_relation
from ecm.warehouse.sql import load_sql

PIECE_ROWS = 1 << 20
"""A file is staged in pieces of at most this many rows (1,048,576), the quarantine guard
checked after each (guards.QuarantineShare): a broken file stops after its first pieces,
and a file of an ordinary monthly drop is one piece."""


def feed_quarantine_guard(
    con: duckdb.DuckDBPyConnection,
    contract: FeedContract,
    files: list[InputFile],
    to_stage: list[InputFile],
    measures: Mapping[str, FileMeasure],
    rules: Rules,
    refusing: str | None,
) -> QuarantineShare:
    """The quarantine guard of a feed about to be staged: its kept files' rows counted
    already, and at most how many rows it holds (the kept files' rows and each file to
    stage's bound, None when one cannot be known before it is read). `refusing`: "run"
    (refuse as soon as certain), "validation" (stop reading a feed past its first piece)
    or None (only count)."""
    stored = staged_files(con, contract.name)
    kept = [stored[f.relative] for f in files if f not in to_stage]
    bounds = [measures[f.relative].rows_at_most for f in to_stage]
    rows_at_most = None if None in bounds else sum(bounds) + sum(k.read for k in kept)
    return QuarantineShare(
        contract.name,
        rules.setting("guards.max_quarantined_share") if refusing else None,
        rows_at_most,
        read=sum(k.read for k in kept),
        quarantined=sum(k.quarantined for k in kept),
        read_before_refusing=PIECE_ROWS if refusing == "validation" else 0,
        refusing=refusing or "run",
    )


def stage_files(
    con: duckdb.DuckDBPyConnection,
    contract: FeedContract,
    files: list[InputFile],
    to_stage: list[InputFile],
    input_dir: Path,
    work_dir: Path,
    encoding: str,
    progress: Reporter,
    measures: Mapping[str, FileMeasure],
    guard: QuarantineShare,
    version: str,
    keeping: Keeping | None = None,
) -> list[RawFile]:
    """Read and stage each file of `to_stage` (in the feed's file order), recording it in
    `ingest_files` with the feed's staging code (`version`, its staging_sha256), each
    reported to `progress` with its rows and seconds; the raw files staged. A feed kept
    whole keeps each file as delivered where `keeping` says
    (ecm.ingest.delivered). Before a file
    is read, the disk holding the warehouse must have room for it (`check_disk_room`, from
    its `measures`); it is staged in pieces of PIECE_ROWS rows (`file_pieces`), `guard`
    counting each, so that a feed whose quarantined share is certainly past the rules
    file's stops the ingest before the rest is read."""
    name = contract.name
    staged_raw: list[RawFile] = []
    for index, file in enumerate(files):
        if file not in to_stage:
            continue
        measure = measures[file.relative]
        check_disk_room(con, work_dir, file.path, measure)
        with progress.file(file.relative, feed=name) as reported:
            raw = raw_file(
                file.path,
                index,
                contract,
                input_dir,
                work_dir,
                encoding,
                measure,
                piece_rows=PIECE_ROWS,
            )
            # A Parquet file whose footer reads but whose pages do not fails only here,
            # when DuckDB reads the pages: name the file.
            try:
                raw, (read, staged, quarantined, stored) = _stage_pieces(
                    con,
                    contract,
                    raw,
                    file_pieces(raw, file.path, measure.rows_at_most, PIECE_ROWS),
                    guard,
                )
            except duckdb.Error:
                unreadable = find_unreadable_parquet(con, FeedFiles(name, (file.path,)))
                if unreadable is None:
                    raise
                raise parquet_error(unreadable) from None
            reported.count(read, "rows read", staged=staged, quarantined=quarantined)
        if contract.kept_whole and keeping is not None:
            key = set_key(file.relative, file.sha256, version, ecm.__version__)
            keep_delivered(raw, file.path, key, file.sha256, keeping)
        con.execute(
            f"insert into {FILES_TABLE} values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [
                name,
                file.relative,
                file.sha256,
                file.size,
                list(raw.columns),
                sorted(raw.delivered),
                read,
                staged,
                quarantined,
                version,
                ecm.__version__,
                stored,
            ],
        )
        staged_raw.append(raw)
    return staged_raw


def _stage_pieces(
    con: duckdb.DuckDBPyConnection,
    contract: FeedContract,
    raw: RawFile,
    pieces: Iterator[RawFile],
    guard: QuarantineShare,
) -> tuple[RawFile, tuple[int, int, int, list[str]]]:
    """Stage a file's pieces one after another, `guard` counting each (it raises
    SanityGuardError once the feed's quarantined share is certain: the rest is never
    read), then finish the file (`_finish_file`). Returns the whole file as read (the
    columns any piece delivered) and its (read, staged, quarantined, stored columns)."""
    read = staged = quarantined = staged_pieces = 0
    delivered: set[str] = set()
    stored: dict[str, None] = {}
    for piece in pieces:
        staged_pieces += 1
        counts = _stage_file(con, contract, piece)
        read, staged, quarantined = read + counts[0], staged + counts[1], quarantined + counts[2]
        delivered.update(piece.delivered)
        stored.update(dict.fromkeys(counts[3]))
        guard.count(counts[0], counts[2])
    whole = replace(raw, delivered=frozenset(delivered), pieces=None)
    _finish_file(con, contract, whole, quarantined, staged_pieces)
    return whole, (read, staged, quarantined, list(stored))


def _stage_file(
    con: duckdb.DuckDBPyConnection, contract: FeedContract, raw: RawFile
) -> tuple[int, int, int, list[str]]:
    """Stage one file of a feed, or one piece of it (`raw.lines`), into
    `stg_checked__<feed>`: every row with its `_reject` (null when it passed) and `_warn`.
    Returns (read, staged, quarantined, the staged columns it stored); once the file is
    staged whole, `_finish_file` puts its rejected rows into the quarantine.

    The contract's row checks (generated by `data_contracts.sql`, skipping columns the file
    cannot hold a value in) are the view `checked__<feed>` over `raw__<feed>` (the file);
    the staging model `sql/staging/stg__<feed>.sql` renames and casts it."""
    feed = contract.name
    table = f"stg_checked__{feed}"
    filled = _filled_from_others(con, contract)
    _define_raw_and_checked(con, contract, raw)
    read = con.execute(f"select count(*) from raw__{feed}").fetchall()[0][0]
    con.execute(f"create or replace temp view staging__{feed} as {_staging_model(feed)}")
    stored = _stored_columns(con, contract, raw, filled)
    staging = f"select {ident_list(stored)} from staging__{feed}"
    if relation_kind(con, table) != "BASE TABLE":
        con.execute(f"create table {table} as {staging}")
    else:
        _add_missing_columns(con, table, f"({staging})")
        con.execute(f"insert into {table} by name {staging}")
    rows = "_source_file = ?" + (" and _line between ? and ?" if raw.lines else "")
    staged, rejected = con.execute(
        f"select count(*) filter (where _reject is null), "
        f"count(*) filter (where _reject is not null) from {table} where {rows}",
        [raw.file, *(raw.lines or ())],
    ).fetchall()[0]
    return read, staged, rejected, stored


def _add_missing_columns(con: duckdb.DuckDBPyConnection, table: str, sql: str) -> None:
    """Add to `table` (as text) the columns of `sql` it lacks: a file's unknown columns."""
    have = columns_of(con, table)
    for name, kind, *_ in con.execute(f"describe {sql}").fetchall():
        if name not in have:
            con.execute(f"alter table {table} add column {ident(name)} {kind}")


def _finish_file(
    con: duckdb.DuckDBPyConnection,
    contract: FeedContract,
    raw: RawFile,
    rejected: int,
    pieces: int = 1,
) -> None:
    """A file staged whole: note its claims (`touch_claims`), put its `rejected` rows into
    `quarantine` with their raw rows, and leave `raw__<feed>` / `checked__<feed>` as the
    views of the whole file (those of its piece when it was staged in one: binding the
    checks again costs ~20 ms a file)."""
    feed = contract.name
    table = f"stg_checked__{feed}"
    if pieces > 1:
        _define_raw_and_checked(con, contract, raw)
    touch_claims(con, feed, "where chk._source_file = ?", [raw.file])
    # The raw row as delivered: every column as text, a typed one too (`text_select`).
    if rejected:  # the join below rereads every raw column: skip it when nothing failed
        con.execute(
            f"""
            insert into quarantine
            select
                '{feed}' as feed,
                chk._source_file,
                chk._line,
                split_part(chk._reject, '|', 1) as rule,
                split_part(chk._reject, '|', 2) as detail,
                to_json(raw) as raw_row
            from {table} as chk
            inner join ({raw.text_select}) as raw
                on chk._source_file = raw._source_file and chk._line = raw._line
            where chk._source_file = ? and chk._reject is not null
            """,
            [raw.file],
        )


def _define_raw_and_checked(
    con: duckdb.DuckDBPyConnection, contract: FeedContract, raw: RawFile
) -> None:
    """The views `raw__<feed>` (the file, or piece, as read: its typed columns in their
    type) and `checked__<feed>` (its rows checked)."""
    feed = contract.name
    con.execute(f"create or replace temp view raw__{feed} as {raw.select}")
    con.execute(
        f"create or replace temp view checked__{feed} as "
        f"{checked_select(contract, raw.delivered, raw.typed)}"
    )


def _staging_model(feed: str) -> str:
    return load_sql(f"staging/stg__{feed}")


# Per feed and staging code: the staging columns filled from another column (see below),
# and (per file columns too) the staging model's columns and types.
_FILLED: dict[tuple[str, str], frozenset[str]] = {}
_DESCRIBED: dict[tuple[str, str, tuple[str, ...]], list[tuple[str, str]]] = {}
PROBE_VALUE = "20260101"  # a date (YYYYMMDD), a whole number and a code alike


def _filled_from_others(con: duckdb.DuckDBPyConnection, contract: FeedContract) -> frozenset[str]:
    """The staging model's columns that can hold a value when their own input column is
    empty (person_id from member_id, data_source as ''), found once per feed and staging
    code by running the model on a probe: row i holds every input column but the i-th.
    Staging models only rename, cast and normalise (tests/test_staging_checks.py), so any
    other column is empty wherever its input is. Leaves raw__/checked__<feed> to be
    defined again."""
    key = (contract.name, staging_sha256(contract))
    if key in _FILLED:
        return _FILLED[key]
    feed = contract.name
    columns = list(contract.columns)
    probe = f"_probe__{feed}"
    con.execute(
        f"create or replace temp table {probe} as select '' as _source_file, "
        f"i as _line, "
        + ", ".join(
            f"case when i = {j + 1} then null else '{PROBE_VALUE}' end as {ident(c)}"
            for j, c in enumerate(columns)
        )
        + f" from range(1, {len(columns) + 1}) as t(i)"
    )
    con.execute(f"create or replace temp view raw__{feed} as select * from {probe}")
    con.execute(f"create or replace temp view checked__{feed} as {checked_select(contract)}")
    result = con.execute(f"select * from ({_staging_model(feed)}) order by _line")
    names = [d[0] for d in result.description]
    out = result.fetchall()
    filled = frozenset(
        c for i, c in enumerate(columns) if c in names and out[i][names.index(c)] is not None
    )
    con.execute(f"drop table {probe}")
    _FILLED[key] = filled
    return filled


def _stored_columns(
    con: duckdb.DuckDBPyConnection,
    contract: FeedContract,
    raw: RawFile,
    filled: frozenset[str],
) -> list[str]:
    """The columns of `staging__<feed>` (this file staged) that the staged table stores:
    all but the contract columns this file does not deliver (a Parquet or staged text
    file's statistics show them empty in every row) and the staging model does not fill
    from another column (`filled`). A column no row holds a value in is not written (a
    constant null column costs DuckDB as much to store as one with values: 92 empty
    claim columns were half the ingest); `stg__<feed>` shows it as null. The keys and
    required columns the checks read stay. A feed kept whole stores, of the rest, only
    its `stored_columns` (its files are kept as delivered: ecm.ingest.delivered).
    Records the staging model's columns and types in `staged_columns`."""
    feed = contract.name
    key = (feed, staging_sha256(contract), raw.columns)
    if key not in _DESCRIBED:
        _DESCRIBED[key] = [
            (name, kind) for name, kind, *_ in con.execute(f"describe staging__{feed}").fetchall()
        ]
    described = _DESCRIBED[key]
    unknown = {c for c in raw.columns if c not in contract.columns}
    schema = [(name, kind) for name, kind in described if name not in unknown]
    con.execute(f"delete from {SCHEMA_TABLE} where feed = ?", [feed])
    con.execute(
        f"insert into {SCHEMA_TABLE} values " + ", ".join("(?, ?, ?, ?)" for _ in schema),
        [v for i, (name, kind) in enumerate(schema) for v in (feed, i, name, kind)],
    )
    keys = {*contract.grain_key, *([contract.member_key] if contract.member_key else [])}
    keys.update(spec.name for spec in contract.specs if spec.not_null)
    valued = {*raw.delivered, *filled}
    if contract.kept_whole:
        kept = {*META_COLUMNS, "_reject", "_warn", *keys}
        kept.update(c for c in contract.stored_columns if c in valued)
        return [name for name, _kind in described if name in kept]
    kept = {*META_COLUMNS, "_reject", "_warn", *unknown, *valued, *keys}
    return [name for name, _kind in described if name in kept or name not in contract.columns]


def finish_feed(
    con: duckdb.DuckDBPyConnection,
    contract: FeedContract,
    staged_raw: list[RawFile] = (),
    keeping: Keeping | None = None,
) -> None:
    """The view `stg__<feed>` of the rows that passed; for a feed kept whole, the view
    `delivered__<feed>` of its files as delivered, where `keeping` keeps them; for eligibility, the
    members the other feeds are checked against; `raw__<feed>` / `checked__<feed>` as the
    temporary views of the files this run read (for `tests.bench.validation_cost`)."""
    feed = contract.name
    replace_relation(
        con, f"stg__{feed}", "view", f"{_staged_select(con, contract)} where _reject is null"
    )
    if contract.kept_whole and keeping is not None:
        delivered_view(con, contract, keeping)
    if feed == "eligibility":
        con.execute(ELIGIBILITY_MEMBERS_SQL)
    if len(staged_raw) > 1:
        # one type per column: the files' typed columns when they agree, else all as text
        typed = {raw.typed for raw in staged_raw}
        same = len(typed) == 1
        con.execute(
            f"create or replace temp view raw__{feed} as "
            + "\nunion all by name\n".join(
                f"({raw.select if same else raw.text_select})" for raw in staged_raw
            )
        )
        delivered = frozenset().union(*(raw.delivered for raw in staged_raw))
        checked = checked_select(contract, delivered, typed.pop() if same else frozenset())
        con.execute(f"create or replace temp view checked__{feed} as {checked}")


def _staged_select(con: duckdb.DuckDBPyConnection, contract: FeedContract) -> str:
    """Every column of the feed's staging model from `stg_checked__<feed>`, in the model's
    order (null, typed, where the table stores none), then the unknown columns it holds;
    of a feed kept whole, only the row key and its `stored_columns`."""
    feed = contract.name
    schema = con.execute(
        f"select column_name, column_type from {SCHEMA_TABLE} where feed = ? order by position",
        [feed],
    ).fetchall()
    if contract.kept_whole:
        shown = {*META_COLUMNS, *contract.stored_columns}
        schema = [(name, kind) for name, kind in schema if name in shown]
    table = f"stg_checked__{feed}"
    have = [r[0] for r in con.execute(f"describe {table}").fetchall()]
    hidden = {"_reject", "_warn"}
    named = {name for name, _kind in schema}
    columns = [
        ident(name) if name in have else f"cast(null as {kind}) as {ident(name)}"
        for name, kind in schema
        if name not in hidden
    ] + [ident(name) for name in have if name not in named and name not in hidden]
    return f"select {', '.join(columns)} from {table}"


def stage_absent_feed(
    con: duckdb.DuckDBPyConnection,
    contract: FeedContract,
    dropped: list[str],
    keeping: Keeping | None = None,
) -> None:
    """An absent optional feed is staged empty so every model can read it; the run
    summary reports the populations that need it as not evaluated."""
    if relation_kind(con, f"stg_checked__{contract.name}") != "BASE TABLE":
        _stage_file(con, contract, _create_empty_raw(con, contract))
    elif dropped:
        drop_unknown_columns(con, contract, [])
    finish_feed(con, contract, keeping=keeping)


def _create_empty_raw(con: duckdb.DuckDBPyConnection, contract: FeedContract) -> RawFile:
    cols = ", ".join(
        ["_source_file varchar", "_line bigint"] + [f"{ident(c)} varchar" for c in contract.columns]
    )
    con.execute(f"create or replace temp table _empty_raw__{contract.name} ({cols})")
    return RawFile("", (), f"select * from _empty_raw__{contract.name}", frozenset())
