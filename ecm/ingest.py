"""Ingest: a feed directory into the DuckDB warehouse.

For every feed of the contract (data_contracts/), in order:

1. *discover* its files in the feed directory (`NAME.csv`, `.csv.gz`, `.txt`/`.psv`
   (pipe-delimited, also gzipped), `.parquet`, files named `NAME_<anything>` with those
   endings, or a folder `NAME/` of such files: monthly drops);
2. *read* each file as text columns, header names matched case-insensitively, with the
   file and line every row came from (`raw__NAME`);
3. *stage* it: check each row with the checks generated from its contract
   (`checked__NAME`, data_contracts/sql.py), then cast and normalise codes with
   `sql/staging/stg__NAME.sql` (`stg_checked__NAME`); rows that break an `error` rule go
   to the `quarantine` table with the rule and the raw row, the rest are the view
   `stg__NAME` (rows failing a `warn` rule are kept and counted in `warnings`).
   read = staged + quarantined is checked for every feed.

Then the claim versions are resolved: `int__medical_claim_version` (the current,
unvoided version of each claim) and the view `int__medical_claim_current` of its lines.
A file that cannot be read stops the ingest with an `InputError` that names the file, the
column or line, and what was expected. Nothing here logs member data: only counts and
file names.
"""

from __future__ import annotations

import csv
import gzip
import io
import logging
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import polars as pl

from data_contracts import FeedContract, load_contracts
from data_contracts.sql import ELIGIBILITY_MEMBERS_SQL, checked_select, warning_checks
from ecm.errors import InputError
from ecm.rules import Rules
from ecm.sql import install_macros, load_sql

log = logging.getLogger("ecm.ingest")

TEXT_SUFFIXES = {
    ".csv": ",",
    ".csv.gz": ",",
    ".txt": "|",
    ".txt.gz": "|",
    ".psv": "|",
    ".psv.gz": "|",
}
PARQUET_SUFFIXES = (".parquet",)
META_COLUMNS = ("_source_file", "_line")

Progress = Callable[[str], None]


def _suffix(path: Path) -> str | None:
    name = path.name.lower()
    for suffix in (*sorted(TEXT_SUFFIXES, key=len, reverse=True), *PARQUET_SUFFIXES):
        if name.endswith(suffix):
            return suffix
    return None


def _stem(path: Path) -> str:
    suffix = _suffix(path) or path.suffix
    return path.name[: len(path.name) - len(suffix)].lower()


@dataclass(frozen=True)
class FeedFiles:
    """The files that make up one feed in a feed directory."""

    feed: str
    files: tuple[Path, ...]


@dataclass
class Discovery:
    """What a feed directory holds: files per feed, and what matched no feed."""

    feeds: dict[str, FeedFiles] = field(default_factory=dict)
    ignored: list[Path] = field(default_factory=list)


def discover_feeds(input_dir: Path, contracts: dict[str, FeedContract]) -> Discovery:
    """Find each feed's files; a required feed that is absent is an InputError."""
    input_dir = Path(input_dir)
    if not input_dir.is_dir():
        raise InputError(f"The input folder {input_dir} does not exist or is not a folder.")
    found: dict[str, list[Path]] = {name: [] for name in contracts}
    discovery = Discovery()
    for entry in sorted(input_dir.iterdir()):
        if entry.name.startswith("."):
            continue
        feed = _feed_of(entry, contracts)
        if feed is None:
            discovery.ignored.append(entry)
        elif entry.is_dir():
            drops = sorted(p for p in entry.rglob("*") if p.is_file() and _suffix(p))
            found[feed].extend(drops)
        else:
            found[feed].append(entry)
    for name, files in found.items():
        if files:
            discovery.feeds[name] = FeedFiles(name, tuple(files))
    missing = [c.name for c in contracts.values() if c.required and c.name not in discovery.feeds]
    if missing:
        expected = ", ".join(f"{m}.csv" for m in missing)
        raise InputError(
            f"The input folder {input_dir} has no {' and no '.join(missing)} feed, which a run "
            f"requires: expected a file such as {expected} (or .csv.gz, .txt, .psv, .parquet, "
            f"or a folder of monthly drops named after the feed)."
        )
    return discovery


def _feed_of(entry: Path, contracts: dict[str, FeedContract]) -> str | None:
    if entry.is_dir():
        stem = entry.name.lower()
    elif _suffix(entry):
        stem = _stem(entry)
    else:
        return None
    for name in contracts:
        if stem == name or re.fullmatch(rf"{re.escape(name)}[_\-.].+", stem):
            return name
    return None


# --- reading ---------------------------------------------------------------------------


def _normalise_header(names: list[str]) -> list[str]:
    return [n.strip().lstrip("\ufeff").lower() for n in names]


def _check_header(path: Path, columns: list[str], contract: FeedContract, sep: str | None) -> None:
    seen: set[str] = set()
    for col in columns:
        if col in seen:
            raise InputError(
                f"{path}: the header names column '{col}' twice (names are compared without "
                f"regard to case); each column must appear once."
            )
        seen.add(col)
    missing = [c for c in contract.required_columns if c not in seen]
    if not missing:
        return
    hint = ""
    if len(columns) == 1 and sep is not None:
        other = "|" if sep == "," else ","
        if other in columns[0]:
            hint = (
                f" The header is a single column holding '{other}': the file looks "
                f"delimited by '{other}', but a {path.name.split('.', 1)[-1]} file must be "
                f"delimited by '{sep}'."
            )
    raise InputError(
        f"{path}: the {contract.name} feed needs the column(s) {', '.join(missing)}, which "
        f"the header does not have.{hint} Found: {', '.join(columns[:12])}"
        f"{' …' if len(columns) > 12 else ''}."
    )


def _open_text(path: Path):
    opener = gzip.open if path.name.lower().endswith(".gz") else open
    return opener(path, "rb")


def _diagnose_text_file(path: Path, sep: str, exc: Exception) -> InputError:
    """Turn a reader failure into a sentence naming the line (runs only on failure)."""
    with _open_text(path) as handle:
        for number, raw in enumerate(handle, start=1):
            try:
                raw.decode("utf-8")
            except UnicodeDecodeError as err:
                return InputError(
                    f"{path}, line {number}: holds bytes that are not UTF-8 text "
                    f"({err.reason} at byte {err.start}); expected a UTF-8 (optionally "
                    f"BOM-prefixed) '{sep}'-delimited file."
                )
    with (
        _open_text(path) as binary,
        io.TextIOWrapper(binary, encoding="utf-8-sig", newline="") as handle,
    ):
        reader = csv.reader(handle, delimiter=sep, quotechar='"')
        header = next(reader, [])
        for fields in reader:
            if len(fields) > len(header):
                return InputError(
                    f"{path}, line {reader.line_num}: has {len(fields)} fields where the "
                    f"header names {len(header)}; expected '{sep}'-delimited fields with "
                    f"'\"' quoting around any value that holds '{sep}'."
                )
    message = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return InputError(f"{path}: cannot be read as a '{sep}'-delimited text file: {message}.")


def _relative(path: Path, input_dir: Path) -> str:
    return str(path.relative_to(input_dir)) if path.is_relative_to(input_dir) else str(path)


def _quoted(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def scan_text_file(path: Path, contract: FeedContract, input_dir: Path) -> pl.LazyFrame:
    """One text feed file as a lazy frame of text columns plus `_source_file` and `_line`.

    `_line` is the line of the file the row starts on when no field spans lines (the
    header is line 1). Columns the contract names but the file lacks are added empty.
    """
    sep = TEXT_SUFFIXES[_suffix(path)]
    try:
        lf = pl.scan_csv(
            path,
            separator=sep,
            infer_schema=False,
            has_header=True,
            quote_char='"',
            raise_if_empty=True,
            with_column_names=_normalise_header,
        )
        columns = lf.collect_schema().names()
    except Exception as exc:
        raise _diagnose_text_file(path, sep, exc) from None
    _check_header(path, columns, contract, sep)
    missing = [c for c in contract.columns if c not in columns]
    return (
        lf.with_row_index("_line", offset=2)
        .with_columns(
            pl.col("_line").cast(pl.Int64),
            pl.lit(_relative(path, input_dir)).alias("_source_file"),
            *(pl.lit(None, dtype=pl.String).alias(c) for c in missing),
        )
        .select(
            *META_COLUMNS, *contract.columns, *[c for c in columns if c not in contract.columns]
        )
    )


def parquet_select(path: Path, contract: FeedContract, input_dir: Path) -> str:
    """A DuckDB select reading one Parquet feed file as text columns plus `_source_file`
    and `_line` (the row number, from 1). DuckDB reads the file in place: no copy."""
    try:
        names = pl.scan_parquet(path).collect_schema().names()
    except Exception as exc:
        raise InputError(f"{path}: cannot be read as a Parquet file: {exc}.") from None
    columns = _normalise_header(names)
    _check_header(path, columns, contract, None)
    by_name = dict(zip(columns, names, strict=True))
    selected = [
        f"cast({_quoted(by_name[c])} as varchar) as {_quoted(c)}"
        if c in by_name
        else f"cast(null as varchar) as {_quoted(c)}"
        for c in contract.columns
    ] + [
        f"cast({_quoted(by_name[c])} as varchar) as {_quoted(c)}"
        for c in columns
        if c not in contract.columns
    ]
    return (
        f"select '{_sql_literal(_relative(path, input_dir))}' as _source_file, "
        f"cast(file_row_number + 1 as bigint) as _line, {', '.join(selected)} "
        f"from read_parquet('{_sql_literal(str(path))}', file_row_number = true)"
    )


def _raw_selects(
    feed: FeedFiles, contract: FeedContract, input_dir: Path, work_dir: Path
) -> list[str]:
    """One select per file of a feed, all with the same leading columns.

    Text files are read by Polars (for their line numbers) into Parquet under work_dir;
    Parquet files are read by DuckDB where they are.
    """
    folder = work_dir / f"raw__{feed.feed}"
    folder.mkdir(parents=True, exist_ok=True)
    selects = []
    for i, path in enumerate(feed.files):
        if path.stat().st_size == 0:
            raise InputError(
                f"{path}: the file is empty; expected a header row naming the columns."
            )
        if _suffix(path) in PARQUET_SUFFIXES:
            selects.append(parquet_select(path, contract, input_dir))
            continue
        target = folder / f"{i:05d}.parquet"
        try:
            scan_text_file(path, contract, input_dir).sink_parquet(target)
        except pl.exceptions.PolarsError as exc:
            raise _diagnose_text_file(path, TEXT_SUFFIXES[_suffix(path)], exc) from None
        selects.append(f"select * from read_parquet('{_sql_literal(str(target))}')")
    return selects


# --- staging ---------------------------------------------------------------------------


@dataclass(frozen=True)
class FeedCounts:
    """Rows of one feed: read = staged + quarantined."""

    files: int
    read: int
    staged: int
    quarantined: int

    def as_dict(self) -> dict[str, int]:
        return {
            "files": self.files,
            "read": self.read,
            "staged": self.staged,
            "quarantined": self.quarantined,
        }


@dataclass
class IngestResult:
    """What an ingest did: counts per feed, feeds absent, files that matched no feed."""

    feeds: dict[str, FeedCounts]
    missing_feeds: list[str]
    ignored_files: list[str]
    claim_versions: dict[str, int]
    # Staged rows that failed a `warn` check: {feed, rule, rows, detail}, no row values.
    warnings: list[dict] = field(default_factory=list)


QUARANTINE_DDL = """
create or replace table quarantine (
    feed varchar,
    source_file varchar,
    line bigint,
    rule varchar,
    detail varchar,
    raw_row varchar
)
"""


def replace_relation(
    con: duckdb.DuckDBPyConnection, name: str, kind: str, sql: str, params: dict | None = None
) -> None:
    """Create table or view `name` as `sql`, dropping whatever relation had the name (an
    earlier version of the warehouse may hold a table where a view now belongs)."""
    existing = con.execute(
        "select table_type from information_schema.tables where table_name = ? "
        "and table_schema = 'main'",
        [name],
    ).fetchall()
    if existing:
        con.execute(f"drop {'view' if existing[0][0] == 'VIEW' else 'table'} {name}")
    con.execute(f"create {kind} {name} as {sql}", params)


def _stage_feed(
    con: duckdb.DuckDBPyConnection, contract: FeedContract
) -> tuple[int, int, list[dict]]:
    """Stage one feed.

    The contract's row checks (generated by `data_contracts.sql`) are the view
    `checked__<feed>` over `raw__<feed>`; the staging model `sql/staging/stg__<feed>.sql`
    renames and casts it into the table `stg_checked__<feed>`: every row with its
    `_reject` (null when it passed) and `_warn`. `stg__<feed>` is the view of the rows
    that passed, `quarantine` gets the others with their raw row. Returns (staged,
    quarantined, warnings): warnings are the `warn` checks the staged rows failed, per
    rule, as {feed, rule, rows, detail} with no value of any row.
    """
    feed = contract.name
    checked = f"stg_checked__{feed}"
    con.execute(f"create or replace temp view checked__{feed} as {checked_select(contract)}")
    replace_relation(con, checked, "table", load_sql(f"staging/stg__{feed}"))
    replace_relation(
        con,
        f"stg__{feed}",
        "view",
        f"select * exclude (_reject, _warn) from {checked} where _reject is null",
    )
    if feed == "eligibility":
        con.execute(ELIGIBILITY_MEMBERS_SQL)
    staged, rejected, warned = con.execute(
        f"select count(*) filter (where _reject is null), "
        f"count(*) filter (where _reject is not null), "
        f"count(*) filter (where _reject is null and _warn is not null) from {checked}"
    ).fetchall()[0]
    warnings = _warnings(con, contract, checked) if warned else []
    if rejected == 0:  # the join below rereads every raw column: skip it when it is empty
        return staged, 0, warnings
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
        from {checked} as chk
        inner join (select * from raw__{feed}) as raw
            on chk._source_file = raw._source_file and chk._line = raw._line
        where chk._reject is not null
        """
    )
    return staged, rejected, warnings


def _warnings(con: duckdb.DuckDBPyConnection, contract: FeedContract, checked: str) -> list[dict]:
    """Staged rows per failed `warn` check (the rows with any are few: scanned once)."""
    checks = warning_checks(contract)
    counts = con.execute(
        f"select number, count(*) from (select unnest(string_split(_warn, ',')) as number "
        f"from {checked} where _reject is null and _warn is not null) group by number"
    ).fetchall()
    by_number = {int(n): rows for n, rows in counts}
    return [
        {"feed": contract.name, "rule": c.rule, "rows": by_number[i], "detail": c.summary}
        for i, c in enumerate(checks)
        if i in by_number
    ]


def _create_empty_raw(con: duckdb.DuckDBPyConnection, contract: FeedContract) -> None:
    cols = ", ".join(
        ["_source_file varchar", "_line bigint"] + [f'"{c}" varchar' for c in contract.columns]
    )
    con.execute(f"create or replace temp table raw__{contract.name} ({cols})")


def _sql_literal(text: str) -> str:
    """Text as the body of a SQL string literal (views cannot take parameters)."""
    return str(text).replace("'", "''")


def ingest(
    con: duckdb.DuckDBPyConnection,
    input_dir: Path,
    rules: Rules,
    work_dir: Path,
    progress: Progress | None = None,
) -> IngestResult:
    """Load a feed directory into the warehouse: raw__*, stg__*, quarantine, claims current."""
    say = progress or (lambda _msg: None)
    input_dir = Path(input_dir)
    contracts = load_contracts()
    discovery = discover_feeds(input_dir, contracts)
    install_macros(con)
    con.execute(QUARANTINE_DDL)
    counts: dict[str, FeedCounts] = {}
    warnings: list[dict] = []
    for name, contract in contracts.items():
        feed = discovery.feeds.get(name)
        if feed is None:
            # An absent optional feed is staged empty so every model can read it; the
            # run summary reports the populations that need it as not evaluated.
            _create_empty_raw(con, contract)
            _stage_feed(con, contract)
            continue
        say(f"reading {name} ({len(feed.files)} file{'s' if len(feed.files) != 1 else ''})")
        selects = _raw_selects(feed, contract, input_dir, work_dir)
        # A temporary view, not a copy: the raw rows stay in the input's Parquet files or
        # the work folder's for the length of the ingest; quarantine keeps those it needs.
        con.execute(
            f"create or replace temp view raw__{name} as "
            + "\nunion all by name\n".join(f"({select})" for select in selects)
        )
        try:
            read = con.execute(f"select count(*) from raw__{name}").fetchall()[0][0]
        except duckdb.Error as exc:
            raise InputError(f"The {name} feed cannot be read: {exc}") from None
        if read == 0 and contract.required:
            raise InputError(
                f"The {name} feed ({', '.join(str(f) for f in feed.files)}) has a header but "
                f"no rows; a run needs at least one."
            )
        staged, quarantined, feed_warnings = _stage_feed(con, contract)
        warnings.extend(feed_warnings)
        if staged + quarantined != read:
            raise AssertionError(
                f"{name}: read {read} rows but staged {staged} and quarantined {quarantined}"
            )
        counts[name] = FeedCounts(len(feed.files), read, staged, quarantined)
        log.info("%s: read %d, staged %d, quarantined %d", name, read, staged, quarantined)
    say("resolving claim versions")
    claim_versions = resolve_claim_versions(con, rules)
    return IngestResult(
        feeds=counts,
        missing_feeds=[n for n in contracts if n not in discovery.feeds],
        ignored_files=[p.name for p in discovery.ignored],
        claim_versions=claim_versions,
        warnings=warnings,
    )


def resolve_claim_versions(con: duckdb.DuckDBPyConnection, rules: Rules) -> dict[str, int]:
    """Build the current claim versions (a key table and the view of their lines); returns
    line and claim counts before and after."""
    replace_relation(
        con,
        "int__medical_claim_version",
        "table",
        load_sql("intermediate/int__medical_claim_version"),
        {"void_frequency": str(rules.setting("claims.void_bill_type_frequency"))},
    )
    replace_relation(
        con,
        "int__medical_claim_current",
        "view",
        load_sql("intermediate/int__medical_claim_current"),
    )
    row = con.execute(
        """
        select
            (select count(*) from stg__medical_claim),
            (select count(*) from (select distinct data_source, claim_id from stg__medical_claim)),
            (select count(*) from int__medical_claim_current),
            (select count(*) from int__medical_claim_version)
        """
    ).fetchall()[0]
    return {
        "staged_lines": row[0],
        "staged_claims": row[1],
        "current_lines": row[2],
        "current_claims": row[3],
    }
