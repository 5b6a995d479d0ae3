"""Ingest: a feed directory into the DuckDB warehouse.

For every feed of the contract (data_contracts/), in order:

1. *discover* its files in the feed directory (`NAME.csv`, `.txt`/`.psv` (pipe-delimited),
   `.tsv` (tab-delimited), each also gzipped, `.parquet`, `.xlsx`, files named
   `NAME_<anything>` with those endings, or a folder `NAME/` of such files: monthly drops);
2. *read* each file as text columns, header names matched case-insensitively, with the
   file and line every row came from (`raw__NAME`); a text file in an encoding other than
   UTF-8 (`encodings`) is first copied to UTF-8 in the work folder; typed files are read by
   meaning (a Parquet column by its Arrow type, an `.xlsx` cell by its value's);
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

import codecs
import csv
import errno
import gzip
import hashlib
import io
import logging
import re
import shutil
import stat
import zipfile
import zlib
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from functools import cache, reduce
from pathlib import Path

import duckdb
import fastexcel
import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

import data_contracts.sql as data_contracts_sql
import ecm
from data_contracts import CONTRACT_DIR, FeedContract, load_contracts
from data_contracts.sql import (
    ELIGIBILITY_MEMBERS,
    ELIGIBILITY_MEMBERS_SQL,
    MEMBER_QUARANTINED,
    UNKNOWN_MEMBER,
    checked_select,
    ident,
    ident_list,
    lit,
    warning_checks,
)
from ecm import files as outputs
from ecm.config.rules import Rules
from ecm.errors import InputError, MachineError, SanityGuardError
from ecm.run.guards import QuarantineShare
from ecm.run.machine import human_size
from ecm.run.progress import NO_PROGRESS, Reporter
from ecm.warehouse.sql import SQL_DIR, install_macros, load_sql

log = logging.getLogger("ecm.ingest")

TEXT_SUFFIXES = {
    ".csv": ",",
    ".csv.gz": ",",
    ".txt": "|",
    ".txt.gz": "|",
    ".psv": "|",
    ".psv.gz": "|",
    ".tsv": "\t",
    ".tsv.gz": "\t",
}
PARQUET_SUFFIXES = (".parquet",)
EXCEL_SUFFIXES = (".xlsx",)
EXCEL_LOCK_PREFIX = "~$"
"""Excel's lock file beside a workbook open in Excel (`~$eligibility.xlsx`): no feed file."""
META_COLUMNS = ("_source_file", "_line")
DELIMITER_NAMES = {",": "','", "|": "'|'", "\t": "tab"}

ALL_FEEDS = "*"
"""The key of an encodings mapping that applies to every feed without its own entry."""
DEFAULT_ENCODING = "utf-8"
POLARS_ENCODINGS = frozenset({"utf-8", "utf-8-sig"})
"""Encodings Polars reads itself; a file in any other is transcoded to UTF-8 first."""
TRANSCODE_CHUNK_BYTES = 1 << 20

GZIP_ERRORS = (EOFError, gzip.BadGzipFile, zlib.error)

Progress = Reporter
"""Where the ingest reports each file it reads and stages (ecm.run.progress)."""


def _suffix(path: Path) -> str | None:
    name = path.name.lower()
    if name.startswith(EXCEL_LOCK_PREFIX):
        return None
    for suffix in (
        *sorted(TEXT_SUFFIXES, key=len, reverse=True),
        *PARQUET_SUFFIXES,
        *EXCEL_SUFFIXES,
    ):
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
    """Find each feed's files; a required feed that is absent is an InputError, and so is
    a feed's file that is not a regular file (`check_regular_file`). Nothing is opened:
    entries that match no feed are only listed."""
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
            drops = sorted(
                p
                for p in entry.rglob("*")
                if _suffix(p) and not p.name.startswith(".") and not p.is_dir()
            )
            for drop in drops:
                check_regular_file(drop)
            found[feed].extend(drops)
        else:
            check_regular_file(entry)
            found[feed].append(entry)
    for name, files in found.items():
        if files:
            discovery.feeds[name] = FeedFiles(name, tuple(files))
    missing = [c.name for c in contracts.values() if c.required and c.name not in discovery.feeds]
    if missing:
        expected = ", ".join(f"{m}.csv" for m in missing)
        raise InputError(
            f"The input folder {input_dir} has no {' and no '.join(missing)} feed, which a run "
            f"requires: expected a file such as {expected} (or .csv.gz, .txt, .psv, .tsv, "
            f".parquet, .xlsx, or a folder of monthly drops named after the feed)."
        )
    return discovery


NOT_REGULAR_KINDS = (
    (stat.S_ISFIFO, "a named pipe (FIFO)"),
    (stat.S_ISSOCK, "a socket"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISDIR, "a folder"),
)
REGULAR_EXPECTED = "expected a regular file (or a symbolic link to one)"


def check_regular_file(path: Path) -> None:
    """An InputError naming `path` unless it is a regular file or a symbolic link to one.

    Found with stat alone, which never opens the file: opening a named pipe waits for a
    writer forever, and a device may never end."""
    try:
        mode = path.stat().st_mode
    except OSError as exc:
        raise InputError(
            f"{path}: {_unreachable(path, exc)}; {REGULAR_EXPECTED}: point the link at the "
            f"extract, or remove it."
        ) from None
    if stat.S_ISREG(mode):
        return
    kind = next((name for is_kind, name in NOT_REGULAR_KINDS if is_kind(mode)), "not a file")
    via = f" (the symbolic link leads to {path.resolve()})" if path.is_symlink() else ""
    raise InputError(
        f"{path}: is {kind}{via}, not a regular file; {REGULAR_EXPECTED}: a feed is never "
        f"read from a pipe, socket or device, so copy the extract into the input folder."
    )


def _unreachable(path: Path, exc: OSError) -> str:
    """Why stat failed on an entry the folder lists: a dangling or looping symbolic link
    (or the file went away, or a permission)."""
    if exc.errno == errno.ELOOP:
        return "is a symbolic link that loops (it leads back to itself)"
    if path.is_symlink() and exc.errno == errno.ENOENT:
        return f"is a symbolic link to {path.readlink()}, which does not exist"
    return f"cannot be examined ({exc.strerror})"


def is_regular_file(path: Path) -> bool:
    """Whether `path` is a regular file or a symbolic link to one (stat only: never opens
    it), for code that lists a folder's files and must never open a pipe."""
    try:
        return stat.S_ISREG(path.stat().st_mode)
    except OSError:
        return False


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


# --- encodings ---------------------------------------------------------------------------


def parse_encoding_options(values: list[str]) -> dict[str, str]:
    """The `--encoding` options as an encodings mapping for `ingest(encodings=...)`.

    Each value is `ENC` (every feed) or `FEED=ENC` (one feed); names are Python codec
    names or aliases (`cp1252`, `windows-1252`, `latin-1`) and come back canonical. An
    unknown feed or encoding is an InputError."""
    feeds = load_contracts()
    encodings: dict[str, str] = {}
    for value in values:
        feed, has_feed, name = value.rpartition("=")
        key = feed.strip().lower() if has_feed else ALL_FEEDS
        if key not in feeds and key != ALL_FEEDS:
            raise InputError(
                f"--encoding {value}: '{feed.strip()}' is not a feed; expected ENCODING for "
                f"every feed or FEED=ENCODING with FEED one of {', '.join(feeds)}."
            )
        encodings[key] = _canonical_encoding(name.strip(), value)
    return encodings


def _canonical_encoding(name: str, option: str) -> str:
    try:
        "\n".encode(name)  # a bytes-to-bytes codec such as base64 fails here too
        return codecs.lookup(name).name
    except LookupError:
        raise InputError(
            f"--encoding {option}: '{name}' is not an encoding Python knows as text; "
            f"expected a name such as utf-8, cp1252 (Windows-1252) or latin-1."
        ) from None


def _encoding_of(feed: str, encodings: Mapping[str, str] | None) -> str:
    encodings = encodings or {}
    name = encodings.get(feed) or encodings.get(ALL_FEEDS) or DEFAULT_ENCODING
    return _canonical_encoding(name, f"{feed}={name}")


# --- reading -------------------------------------------------------------------------------


def _delimited(sep: str) -> str:
    return f"{DELIMITER_NAMES.get(sep, repr(sep))}-delimited"


def _normalise_header(names: list[str]) -> list[str]:
    return [n.strip().lstrip("\ufeff").lower() for n in names]


_DATA_LIKE = re.compile(
    r"[-+]?\d+([.,]\d+)?|\d{4}-\d{1,2}-\d{1,2}.*|\d{1,2}/\d{1,2}/\d{2,4}|[A-Za-z]?\d{5,}"
)


def _looks_like_data(columns: list[str], contract: FeedContract) -> bool:
    """A first line that names none of the contract's columns, or holds several values
    shaped like dates, numbers or ids, is taken for a data row (never echoed)."""
    if not set(columns) & set(contract.columns):
        return True
    return sum(1 for c in columns if _DATA_LIKE.fullmatch(c)) >= 2


def _check_header(
    path: Path | str, names: list[str], contract: FeedContract, sep: str | None
) -> list[str]:
    """The header's column names, normalised; an InputError when a name repeats or a
    required column is absent. The message lists the names only when they look like a
    header: a data row taken for one would put a member's values into the error."""
    columns = _normalise_header(names)
    seen: set[str] = set()
    repeated = [c for c in columns if c in seen or seen.add(c)]
    missing = [c for c in contract.required_columns if c not in seen]
    if not (missing or repeated):
        return columns
    needs = (
        f"{path}: the {contract.name} feed needs the column(s) {', '.join(missing)}, which the "
        f"header does not have"
    )
    if missing and sep is not None and len(columns) == 1:
        for other, other_name in DELIMITER_NAMES.items():
            if other != sep and other in names[0]:
                split = _normalise_header(names[0].split(other))
                found = (
                    " (the first line looks like a data row, not a header)"
                    if _looks_like_data(split, contract)
                    else ""
                )
                raise InputError(
                    f"{needs}{found}. The header is a single column: the file looks delimited by "
                    f"{other_name}, but a {_suffix(path)} file must be "
                    f"{_delimited(sep)}."
                )
    # Before naming a repeated or missing column: a data row's repeated values
    # (member_id = person_id) or empty fields are no header's names, never echoed.
    if _looks_like_data(columns, contract):
        raise InputError(
            f"{path}: the first line looks like a data row, not a header (its values are not "
            f"shown); expected a first line naming the {contract.name} feed's columns, such "
            f"as {', '.join(contract.required_columns)}."
        )
    if repeated:
        named = f"column '{repeated[0]}'" if repeated[0] else "an empty column name"
        raise InputError(
            f"{path}: the header names {named} twice (names are compared without regard to "
            f"case); each column must appear once, with a name."
        )
    raise InputError(
        f"{needs}. Found: {', '.join(columns[:12])}{' …' if len(columns) > 12 else ''}."
    )


def _open_text(path: Path):
    opener = gzip.open if path.name.lower().endswith(".gz") else open
    return opener(path, "rb")


def _gzip_error(path: Path, sep: str, exc: Exception) -> InputError:
    expected = f"expected a complete gzip-compressed {_delimited(sep)} text file"
    if isinstance(exc, EOFError):
        return InputError(
            f"{path}: the gzip data ends early (the file looks truncated); {expected}."
        )
    if isinstance(exc, gzip.BadGzipFile) and str(exc).startswith("Not a gzipped file"):
        return InputError(
            f"{path}: is not a gzip file (it does not start with the gzip signature); "
            f"{expected}, or a file named without .gz."
        )
    return InputError(f"{path}: the gzip data is corrupt ({exc}); {expected}.")


@contextmanager
def _gzip_errors_name(path: Path, sep: str):
    """Turn a failure to decompress `path` into an InputError naming it."""
    try:
        yield
    except GZIP_ERRORS as exc:
        raise _gzip_error(path, sep, exc) from None


def _check_gzip(path: Path, sep: str) -> None:
    """Decompress a gzip file to its end (on failure only): an InputError when it is
    truncated or corrupt."""
    if not path.name.lower().endswith(".gz"):
        return
    with _gzip_errors_name(path, sep), gzip.open(path, "rb") as handle:
        while handle.read(TRANSCODE_CHUNK_BYTES):
            pass


def _not_utf8(path: Path, number: int, raw: bytes, err: UnicodeDecodeError, sep: str, feed: str):
    return InputError(
        f"{path}, line {number}: holds bytes that are not UTF-8 text (byte "
        f"{raw[err.start]:#04x} at position {err.start + 1} of the line: {err.reason}); "
        f"expected a UTF-8 (optionally BOM-prefixed) {_delimited(sep)} file. If the extract "
        f"is Windows-1252, read it with --encoding {feed}=cp1252 (or --encoding cp1252 for "
        f"every feed)."
    )


def _read_header(path: Path, source: Path, sep: str, feed: str) -> list[str]:
    """The names on the first line of a text file as written (before any reader renames a
    repeated one). `source` is the UTF-8 text of `path` (itself, or its transcoded copy)."""
    with _gzip_errors_name(path, sep), _open_text(source) as binary:
        first = binary.readline()
    if not first:
        raise InputError(f"{path}: the file is empty; expected a header row naming the columns.")
    try:
        text = first.decode("utf-8-sig").rstrip("\r\n")
    except UnicodeDecodeError as err:
        raise _not_utf8(path, 1, first, err, sep, feed) from None
    if not text.strip():
        raise InputError(f"{path}, line 1: is blank; expected a header row naming the columns.")
    return next(csv.reader([text], delimiter=sep, quotechar='"'))


def _transcode_to_utf8(path: Path, encoding: str, target: Path, sep: str) -> Path:
    """Copy a text file in another encoding to UTF-8 (decompressed), in chunks."""
    decoder = codecs.getincrementaldecoder(encoding)(errors="strict")
    line = 1
    with (
        _gzip_errors_name(path, sep),
        _open_text(path) as source,
        target.open("w", encoding="utf-8", newline="") as out,
    ):
        while chunk := source.read(TRANSCODE_CHUNK_BYTES):
            try:
                out.write(decoder.decode(chunk))
            except UnicodeDecodeError as err:
                at = line + chunk.count(b"\n", 0, err.start)
                raise InputError(
                    f"{path}, line {at}: holds byte "
                    f"{chunk[err.start]:#04x}, which is not {encoding} text ({err.reason}); "
                    f"expected a {encoding} {_delimited(sep)} file, as --encoding says."
                ) from None
            line += chunk.count(b"\n")
        try:
            out.write(decoder.decode(b"", final=True))
        except UnicodeDecodeError:
            raise InputError(
                f"{path}, line {line}: ends inside a {encoding} character; expected a complete "
                f"{encoding} {_delimited(sep)} file."
            ) from None
    return target


def _diagnose_text_file(
    path: Path, source: Path, sep: str, feed: str, exc: Exception
) -> InputError:
    """Turn a reader failure into a sentence naming the line (runs only on failure)."""
    _check_gzip(path, sep)
    with _open_text(source) as handle:
        for number, raw in enumerate(handle, start=1):
            try:
                raw.decode("utf-8")
            except UnicodeDecodeError as err:
                return _not_utf8(path, number, raw, err, sep, feed)
    with (
        _open_text(source) as binary,
        io.TextIOWrapper(binary, encoding="utf-8-sig", newline="") as handle,
    ):
        reader = csv.reader(handle, delimiter=sep, quotechar='"', strict=True)
        header = next(reader, [])
        try:
            for fields in reader:
                if len(fields) > len(header):
                    return InputError(
                        f"{path}, line {reader.line_num}: has {len(fields)} fields where the "
                        f"header names {len(header)}; expected {_delimited(sep)} fields with "
                        f"'\"' quoting around any value that holds the delimiter."
                    )
        except csv.Error as err:
            unclosed = "end of data" in str(err)
            return InputError(
                f"{path}, line {reader.line_num}: "
                + (
                    "a quote opens a value that never closes"
                    if unclosed
                    else "a quoted value goes on after its closing quote"
                )
                + f"; expected {_delimited(sep)} fields, each either unquoted or quoted whole "
                f"with any quote inside doubled ('\"\"')."
            )
    if isinstance(exc, OSError):
        raise exc  # not the file's fault (the work folder's disk, say): an internal failure
    # The reader's own message may quote the file's contents: only its kind is shown.
    return InputError(
        f"{path}: cannot be read as a {_delimited(sep)} text file (the reader reports "
        f"{type(exc).__name__}); expected a header row and {_delimited(sep)} rows, each value "
        f"unquoted or quoted whole (a '\"' inside an unquoted value is a common cause)."
    )


def _relative(path: Path, input_dir: Path) -> str:
    return str(path.relative_to(input_dir)) if path.is_relative_to(input_dir) else str(path)


def _row_start_lines(source: Path) -> pl.DataFrame | None:
    """The line each data row starts on (`_row` from 0, `_line`), when a quoted value
    spans lines; None when every row is one line, as in almost every file.

    A row starts on a line when the quotes before it are even in number ('""' inside a
    quoted value counts two). Costs one pass over the lines, and a second to build the map
    only when some value spans lines."""
    lines = pl.scan_lines(source).select(
        (
            pl.col("line").str.count_matches('"', literal=True).cum_sum().shift(1, fill_value=0) % 2
            == 0
        ).alias("is_row_start")
    )
    counts = lines.select(pl.len(), pl.col("is_row_start").sum()).collect()
    n_lines, n_starts = counts.row(0)
    if n_lines == n_starts:
        return None
    return (
        lines.with_row_index("_line", offset=1)
        .filter(pl.col("is_row_start"), pl.col("_line") > 1)
        .with_row_index("_row")
        .select(pl.col("_row").cast(pl.Int64), pl.col("_line").cast(pl.Int64))
        .collect()
    )


def scan_text_file(
    path: Path,
    contract: FeedContract,
    input_dir: Path,
    *,
    source: Path | None = None,
    quoted_line_breaks: bool = True,
) -> tuple[pl.LazyFrame, list[str]]:
    """One text feed file as a lazy frame of text columns plus `_source_file` and `_line`,
    and the file's own columns (normalised names, in file order).

    `source` is the file's UTF-8 text when `path` is in another encoding (see
    `_transcode_to_utf8`). `_line` is the line of the file the row starts on (the header
    is line 1), also after a quoted value that spans lines (`quoted_line_breaks` False:
    the caller knows none does, `measure_file`, and the pass that looks is saved). Lines
    that hold no value (blank, or only delimiters) are skipped: they are not rows.
    Columns the contract names but the file lacks are added empty.
    """
    source = source or path
    sep = TEXT_SUFFIXES[_suffix(path)]
    columns = _check_header(path, _read_header(path, source, sep, contract.name), contract, sep)
    try:
        lf = pl.scan_csv(
            source,
            separator=sep,
            infer_schema=False,
            has_header=True,
            quote_char='"',
            raise_if_empty=True,
            with_column_names=_normalise_header,
        )
        if lf.collect_schema().names() != columns:
            raise InputError(
                f"{path}: the reader finds other column names on the first line than "
                f"{_delimited(sep)} quoting gives; expected a plain header line."
            )
        starts = _row_start_lines(source) if quoted_line_breaks else None
    except (pl.exceptions.PolarsError, OSError) as exc:  # Polars raises IO errors as OSError
        raise _diagnose_text_file(path, source, sep, contract.name, exc) from None
    missing = [c for c in contract.columns if c not in columns]
    lf = lf.with_row_index("_row")
    if starts is None:
        lf = lf.with_columns((pl.col("_row").cast(pl.Int64) + 2).alias("_line"))
    else:  # rows stay in file order: the ingest stages a file in pieces of its lines
        lf = lf.with_columns(pl.col("_row").cast(pl.Int64)).join(
            starts.lazy(), on="_row", how="left", maintain_order="left"
        )
    lf = (
        lf.filter(pl.any_horizontal(pl.col(columns).is_not_null()))
        .with_columns(
            pl.lit(_relative(path, input_dir)).alias("_source_file"),
            *(pl.lit(None, dtype=pl.String).alias(c) for c in missing),
        )
        .select(
            *META_COLUMNS, *contract.columns, *[c for c in columns if c not in contract.columns]
        )
    )
    return lf, columns


def _parquet_error(path: Path) -> InputError:
    return InputError(
        f"{path}: cannot be read as a Parquet file: it looks truncated or corrupt; expected "
        f"a complete Parquet file."
    )


FIXED_OFFSET = re.compile(r"([+-])([0-9]{2}):?([0-9]{2})")
"""An Arrow time zone given as a fixed offset (`+05:30`, `-0800`), which DuckDB's time-zone
database does not name."""


@cache
def _duckdb_knows_time_zone(zone: str) -> bool:
    with duckdb.connect() as con:
        try:
            con.execute("select timezone(?, timestamptz '2000-01-01 00:00:00+00')", [zone])
        except duckdb.Error:
            return False
    return True


def _wall_clock(sql: str, zone: str, path: Path, column: str) -> str:
    """SQL for the wall-clock time in `zone` of the instants of a zoned timestamp column
    (DuckDB reads it as `timestamp with time zone`, an instant): its calendar date is the
    date in that zone. DuckDB's ICU time zones are built in (no download)."""
    if offset := FIXED_OFFSET.fullmatch(zone):
        sign, hours, minutes = offset.groups()
        return f"(timezone('UTC', {sql}) + to_minutes({sign}{int(hours) * 60 + int(minutes)}))"
    if not _duckdb_knows_time_zone(zone):
        raise InputError(
            f"{path}: column {column} holds timestamps in the time zone '{zone}', which is not "
            f"a time zone DuckDB knows; expected an IANA name such as America/Los_Angeles or "
            f"UTC, or an offset such as -08:00."
        )
    return f"timezone({lit(zone)}, {sql})"


def _typed_as_text(sql: str, kind: pa.DataType, *, is_date: bool, path: Path, column: str) -> str:
    """SQL reading a Parquet column of Arrow type `kind` as the text its value means
    (feeds.md: typed files are read by meaning, one expression per column):

    - a timestamp is its wall-clock time, in its own zone when it has one; in a column the
      contract types `date` (`is_date`), its calendar date there (`YYYY-MM-DD`);
    - a float holding a whole number is the integer's digits (`22.0` is `22`: how pandas
      writes an integer column with empty rows); NaN is empty; any other float keeps its
      text (`22.5`, `inf`), which the checks then judge;
    - a decimal holding a whole number is its digits too (`3.00` is `3`);
    - anything else (text, integers, dates, booleans) is DuckDB's text of it."""
    if pa.types.is_dictionary(kind):
        kind = kind.value_type
    if pa.types.is_timestamp(kind):
        local = sql if kind.tz is None else _wall_clock(sql, kind.tz, path, column)
        return f"cast(cast({local} as date) as varchar)" if is_date else f"cast({local} as varchar)"
    if pa.types.is_floating(kind):
        return (
            f"case when isnan({sql}) then null when {sql} = trunc({sql}) and abs({sql}) < 1e18 "
            f"then cast(cast({sql} as bigint) as varchar) else cast({sql} as varchar) end"
        )
    if pa.types.is_decimal(kind) and kind.scale > 0:
        return (
            f"case when {sql} = trunc({sql}) then cast(cast({sql} as hugeint) as varchar) "
            f"else cast({sql} as varchar) end"
        )
    return f"cast({sql} as varchar)"


def parquet_select(
    path: Path, contract: FeedContract, input_dir: Path
) -> tuple[str, list[str], set[str]]:
    """A DuckDB select reading one Parquet feed file as text columns plus `_source_file`
    and `_line` (the row number, from 1), the file's own columns (normalised names), and
    those of its contract columns whose statistics say every value is null (selected as
    null: not read). DuckDB reads the file in place: no copy. Each column is read by the
    meaning of its Arrow type (`_typed_as_text`)."""
    try:
        schema = pq.read_schema(path)
    except (pa.ArrowException, OSError):
        raise _parquet_error(path) from None
    names = schema.names  # as written: a repeated name stays repeated
    columns = _check_header(path, names, contract, None)
    by_name = dict(zip(columns, names, strict=True))
    empty = _empty_parquet_columns(path, columns, names)

    def text(c: str) -> str:
        return _typed_as_text(
            ident(by_name[c]),
            schema.field(by_name[c]).type,
            is_date=c in contract.columns and contract.spec(c).type == "date",
            path=path,
            column=c,
        )

    selected = [
        f"{text(c)} as {ident(c)}"
        if c in by_name and c not in empty
        else f"cast(null as varchar) as {ident(c)}"
        for c in contract.columns
    ] + [f"{text(c)} as {ident(c)}" for c in columns if c not in contract.columns]
    select = (
        f"select {lit(_relative(path, input_dir))} as _source_file, "
        f"cast(file_row_number + 1 as bigint) as _line, {', '.join(selected)} "
        f"from read_parquet({lit(path)}, file_row_number = true)"
    )
    return select, columns, empty


def _excel_error(path: Path, exc: Exception) -> InputError:
    # The reader's own message is not shown: it may quote the workbook's contents.
    return InputError(
        f"{path}: cannot be read as an Excel workbook (the reader reports "
        f"{type(exc).__name__}): it is damaged, truncated or not an .xlsx file; expected a "
        f"workbook saved as .xlsx (Excel Workbook), not password-protected."
    )


def _excel_sheet(path: Path, feed: str) -> tuple[str, pa.Table, list]:
    """The sheet of a workbook that holds `feed` (named after it, case-insensitively and
    without surrounding spaces, else the first sheet), its cells as text with one row per
    sheet row from row 1, and the cells holding an Excel error value.

    calamine (through fastexcel) gives each cell the text of its value: a date as an ISO
    date-time, a whole number as its digits (`22`), another number as its shortest text
    (`22.5`), a boolean as `true`/`false`, text as it is."""
    try:
        workbook = fastexcel.read_excel(path)
        names = workbook.sheet_names
        if not names:
            raise InputError(f"{path}: the workbook has no sheet; expected a sheet of rows.")
        sheet = next((n for n in names if n.strip().lower() == feed), names[0])
        cells, errors = workbook.load_sheet(
            sheet, header_row=None, skip_rows=0, dtypes="string"
        ).to_arrow_with_errors()
    except (fastexcel.FastExcelError, pa.ArrowException) as exc:
        raise _excel_error(path, exc) from None
    return sheet, pa.Table.from_batches([cells]), list(errors.errors if errors else ())


def _has_value(table: pa.Table) -> pa.ChunkedArray:
    """Per row of a table of columns, whether any holds a value."""
    return reduce(pc.or_, (pc.is_valid(c) for c in table.columns))


def excel_to_parquet(
    path: Path, contract: FeedContract, input_dir: Path, target: Path
) -> list[str]:
    """Write the feed's sheet of an `.xlsx` workbook to `target` as a Parquet file of text
    columns laid out as a text file's (`_source_file`, `_line`, the contract's columns,
    then the sheet's others), and return the sheet's columns (normalised names).

    The header is the first row that holds a value (row 1 as a rule) and is checked as a
    text file's; `_line` is the sheet's row number. Rows without a value are skipped, as
    blank lines are; a column with neither a name nor a value is no column. A cell holding
    an Excel error value (#N/A, #DIV/0!) is an InputError naming its row and column: its
    value is lost, and an empty cell in its place would be a guess."""
    sheet, cells, errors = _excel_sheet(path, contract.name)
    label = f"{path}, sheet '{sheet}'"
    cells = pa.table(
        {
            str(i): pc.if_else(pc.equal(column, ""), pa.scalar(None, pa.string()), column)
            for i, column in enumerate(cells.columns)
        }
    )
    if cells.num_rows == 0 or cells.num_columns == 0:
        raise InputError(f"{label}: the sheet is empty; expected a header row naming the columns.")
    header_row = pc.index(_has_value(cells), True).as_py()
    if header_row < 0:
        raise InputError(f"{label}: the sheet is empty; expected a header row naming the columns.")
    header = cells.slice(header_row, 1).to_pylist()[0]
    below = cells.slice(header_row + 1)
    kept = [
        i
        for i, name in enumerate(header.values())
        if name is not None or pc.any(pc.is_valid(below.column(i))).as_py()
    ]
    columns = _check_header(label, [header[str(i)] or "" for i in kept], contract, None)
    if errors:
        row, column = errors[0].position
        name = dict(zip(kept, columns, strict=True)).get(column, f"number {column + 1}")
        kind = re.search(r"'([^']*)'", errors[0].detail)
        raise InputError(
            f"{label}, row {row + 1}, column {name}: holds an Excel error value"
            f"{f' ({kind.group(1)})' if kind else ''} where a value or an empty cell was "
            f"expected; correct the cell (or its formula) and save the workbook again."
        )
    data = below.select([str(i) for i in kept]).rename_columns(columns)
    lines = pa.array(range(header_row + 2, header_row + 2 + data.num_rows), pa.int64())
    has_value = _has_value(data)
    data, lines = data.filter(has_value), lines.filter(has_value)
    out = {
        "_source_file": pa.repeat(_relative(path, input_dir), data.num_rows),
        "_line": lines,
    }
    for c in (*contract.columns, *(c for c in columns if c not in contract.columns)):
        out[c] = data.column(c) if c in columns else pa.nulls(data.num_rows, pa.string())
    pq.write_table(pa.table(out), target)
    return columns


def _find_unreadable_parquet(con: duckdb.DuckDBPyConnection, feed: FeedFiles) -> Path | None:
    """The first Parquet file of a feed whose pages DuckDB cannot read (on failure only:
    reads every column of every file)."""
    for path in feed.files:
        if _suffix(path) not in PARQUET_SUFFIXES:
            continue
        try:
            reader = con.sql(f"select * from read_parquet({lit(path)})").arrow()
            for _batch in reader:
                pass
        except duckdb.Error:
            return path
    return None


@dataclass(frozen=True)
class RawFile:
    """One file of a feed as read: the select that reads it, the columns it has, and the
    contract columns that may hold a value (its own columns, less those a Parquet file's
    statistics show empty in every row group): the checks of the others are skipped."""

    file: str
    columns: tuple[str, ...]
    select: str
    delivered: frozenset[str] = frozenset()
    # A piece of a file (ecm stages a file in pieces, `_pieces`): the first and last
    # `_line` it holds; None for a whole file.
    lines: tuple[int, int] | None = None
    # A text file's rows, read into Parquet a piece at a time as this is iterated
    # (`_sink_pieces`); None for a file read in place.
    pieces: Iterator[RawFile] | None = field(default=None, compare=False, repr=False)


def _empty_parquet_columns(path: Path, columns: list[str], names: list[str]) -> set[str]:
    """The columns (normalised names) whose every row group's statistics count only
    nulls: no value to check. Read from the footer alone; a column without statistics
    counts as holding values."""
    try:
        meta = pq.read_metadata(path)
    except (pa.ArrowException, OSError):
        return set()
    by_name = dict(zip(names, columns, strict=True))
    index = {meta.schema.column(i).name: i for i in range(meta.num_columns)}
    empty = set()
    for name, column in by_name.items():
        i = index.get(name)
        if i is None or meta.num_row_groups == 0:
            continue
        groups = [meta.row_group(g).column(i) for g in range(meta.num_row_groups)]
        if all(
            g.statistics is not None
            and g.statistics.has_null_count
            and g.statistics.null_count == g.num_values
            for g in groups
        ):
            empty.add(column)
    return empty


def _raw_file(
    path: Path,
    index: int,
    contract: FeedContract,
    input_dir: Path,
    work_dir: Path,
    encoding: str = DEFAULT_ENCODING,
    measure: FileMeasure | None = None,
) -> RawFile:
    """The select reading one file of a feed, with the same leading columns as every other.

    A text file is read by Polars (for its line numbers) into Parquet pieces under
    work_dir as the caller iterates `pieces` (`_sink_pieces`), after a copy to UTF-8 there
    when `encoding` is one Polars does not read; an `.xlsx` workbook's sheet is written
    there as text by `excel_to_parquet`; a Parquet file is read by DuckDB where it is.
    `measure` (measure_file's) tells whether a quoted value may span lines.
    """
    folder = work_dir / f"raw__{contract.name}"
    folder.mkdir(parents=True, exist_ok=True)
    relative = _relative(path, input_dir)
    if path.stat().st_size == 0:
        raise InputError(f"{path}: the file is empty; expected a header row naming the columns.")
    if _suffix(path) in PARQUET_SUFFIXES:
        select, columns, empty = parquet_select(path, contract, input_dir)
        delivered = frozenset(c for c in columns if c in contract.columns and c not in empty)
        return RawFile(relative, tuple(columns), select, delivered)
    if _suffix(path) in EXCEL_SUFFIXES:
        target = folder / f"{index:05d}.parquet"
        columns = excel_to_parquet(path, contract, input_dir, target)
        return _work_parquet(relative, columns, target, contract)
    sep = TEXT_SUFFIXES[_suffix(path)]
    source = path
    if encoding not in POLARS_ENCODINGS:
        source = _transcode_to_utf8(path, encoding, folder / f"{index:05d}.utf8.txt", sep)
    stem = folder / f"{index:05d}"
    spans = measure is None or measure.has_quoted_line_breaks or source != path
    lf, columns = scan_text_file(path, contract, input_dir, source=source, quoted_line_breaks=spans)
    pieces = lit(f"{stem}.*.parquet")
    raw = RawFile(relative, tuple(columns), f"select * from read_parquet({pieces})")
    rows = measure.rows_at_most if measure else None
    return replace(raw, pieces=_sink_pieces(lf, raw, contract, stem, path, source, sep, rows))


PIECE_ROWS = 1 << 20
"""A file is staged in pieces of at most this many rows (1,048,576), the quarantine guard
checked after each (guards.QuarantineShare): a broken file stops after its first pieces,
and a file of an ordinary monthly drop is one piece."""
PART_ROWS = 122_880
"""A text file's piece is written as Parquet parts of this many rows (DuckDB's row group
size), as Polars streams them."""


class _PieceWriter:
    """One piece of a text file being written: Parquet parts `<stem>.<piece>.<part>.parquet`
    of PART_ROWS rows, written by Polars as the rows come; `filled`, the columns some row
    of the piece holds a value in."""

    def __init__(self, stem: Path, number: int = 0, after: int = 0) -> None:
        self.stem, self.number = stem, number
        self.rows = self.parts = 0
        self.after = after  # the last line of the piece before
        self.lines: tuple[int, int] | None = None
        self.filled: set[str] = set()
        self._held: list[pl.DataFrame] = []
        self._held_rows = 0

    @property
    def select(self) -> str:
        parts = lit(f"{self.stem}.{self.number:05d}.*.parquet")
        return f"select * from read_parquet({parts})"

    def add(self, frame: pl.DataFrame) -> None:
        first, last = frame["_line"][0], frame["_line"][-1]
        # A piece is a range of lines (its rows are counted by it): rows come in file order.
        if not frame["_line"].is_sorted() or first <= (self.lines[1] if self.lines else self.after):
            raise AssertionError("a text file's rows came out of their file order")
        self.lines = (self.lines[0] if self.lines else first, last)
        self._held.append(frame)
        self._held_rows += frame.height
        self.rows += frame.height
        if self._held_rows >= PART_ROWS:
            self._write()

    def _write(self) -> None:
        part = pl.concat(self._held)
        nulls = part.null_count().row(0)
        self.filled.update(c for c, n in zip(part.columns, nulls, strict=True) if n < part.height)
        name = f"{self.stem.name}.{self.number:05d}.{self.parts:05d}.parquet"
        part.write_parquet(self.stem.with_name(name))
        self.parts += 1
        self._held, self._held_rows = [], 0

    def close(self, empty: pl.LazyFrame) -> None:
        """Write what is held (no row at all: one part of `empty`'s columns)."""
        if not self.parts and not self._held:
            self._held = [empty.clear().collect()]
        if self._held:
            self._write()

    def next(self) -> _PieceWriter:
        """The writer of the piece after this one."""
        return _PieceWriter(self.stem, self.number + 1, self.lines[1])


def _sink_pieces(
    lf: pl.LazyFrame,
    raw: RawFile,
    contract: FeedContract,
    stem: Path,
    path: Path,
    source: Path,
    sep: str,
    rows_at_most: int | None = None,
) -> Iterator[RawFile]:
    """Read a text file's rows (`lf`, from scan_text_file, in file order) into Parquet
    pieces of PIECE_ROWS rows in the work folder, yielding each piece as written: the next
    is read only when the caller asks, so a file refused after its first pieces is never
    read whole. Polars streams the rows (a gzip too) in batches of bounded memory. A file
    of at most PIECE_ROWS rows (`rows_at_most`, from measure_file) is one piece,
    `<stem>.00000.parquet`, sunk by Polars in one go as before there were pieces (the
    streaming query is not held open while DuckDB stages it); a header-only file is one
    empty piece. `source` is the UTF-8 text read (`path`, or its transcoded copy, removed
    at the end)."""
    columns = list(raw.columns)

    def delivered(filled: set[str]) -> frozenset[str]:
        return frozenset(c for c in columns if c in contract.columns and c in filled)

    def written(writer: _PieceWriter) -> RawFile:
        writer.close(lf)
        return replace(
            raw, select=writer.select, delivered=delivered(writer.filled), lines=writer.lines
        )

    try:
        if rows_at_most is not None and rows_at_most <= PIECE_ROWS:
            whole = stem.with_name(f"{stem.name}.00000.parquet")
            lf.sink_parquet(whole)
            filled = set(columns) - _empty_parquet_columns(whole, columns, columns)
            select = f"select * from read_parquet({lit(whole)})"
            yield replace(raw, select=select, delivered=delivered(filled))
        else:
            writer = _PieceWriter(stem)
            for batch in lf.collect_batches():
                rest = batch
                while rest.height:
                    room = PIECE_ROWS - writer.rows
                    writer.add(rest.head(room))
                    rest = rest.slice(room)
                    if writer.rows == PIECE_ROWS:
                        yield written(writer)
                        writer = writer.next()
            if writer.rows or writer.number == 0:
                yield written(writer)
    except (pl.exceptions.PolarsError, OSError) as exc:  # Polars: IO errors are OSError
        raise _diagnose_text_file(path, source, sep, contract.name, exc) from None
    if source != path:
        source.unlink()


def _pieces(raw: RawFile, path: Path, rows: int | None) -> Iterator[RawFile]:
    """The pieces a file is staged in: a text file's as it is read (`raw.pieces`); a
    Parquet file of more than PIECE_ROWS rows (`rows`, from its footer) in ranges of its
    `_line` (its row number: DuckDB reads only the row groups a range needs); any other
    file whole."""
    if raw.pieces is not None:
        yield from raw.pieces
    elif _suffix(path) in PARQUET_SUFFIXES and rows is not None and rows > PIECE_ROWS:
        for first in range(1, rows + 1, PIECE_ROWS):
            last = min(first + PIECE_ROWS - 1, rows)
            select = f"select * from ({raw.select}) where _line between {first} and {last}"
            yield replace(raw, select=select, lines=(first, last))
    else:
        yield raw


# --- never trusted for its size ------------------------------------------------------------

MEASURE_CHUNK_BYTES = 4 << 20
"""The bytes `measure_file` reads at a time: its memory, whatever the file holds."""
LINE_FEED, CARRIAGE_RETURN, QUOTE = 0x0A, 0x0D, 0x22


@dataclass(frozen=True)
class FileMeasure:
    """What a feed file holds, found before it is read (`measure_file`).

    `uncompressed_bytes`: the bytes it holds once decompressed (a gzip's expanded size, not
    its own; a Parquet file's uncompressed column data, or its size when larger).
    `rows_at_most`: a bound of its rows: a text file's lines less the header (a row takes
    at least one line), a Parquet file's row count (exact); None when only reading the
    file can tell. `has_quoted_line_breaks`: whether a quoted value may span lines (False
    only when a text file's every line end lies outside quotes: then each line starts a
    row, and scan_text_file need not look for the lines rows start on)."""

    uncompressed_bytes: int
    rows_at_most: int | None
    has_quoted_line_breaks: bool = True


def measure_file(path: Path, max_line_bytes: int) -> FileMeasure:
    """Measure a feed file before it is read: see FileMeasure. A text file (gzipped or not)
    is read once, in chunks of MEASURE_CHUNK_BYTES, and a line longer than `max_line_bytes`
    (the rules file's guards.max_line_bytes; its line end, LF or CRLF, not counted) is an
    InputError naming the file and line, found as soon as the line passes the limit."""
    suffix = _suffix(path)
    if suffix in TEXT_SUFFIXES:
        return _measure_text(path, TEXT_SUFFIXES[suffix], max_line_bytes)
    size = path.stat().st_size
    if suffix in PARQUET_SUFFIXES:
        try:
            meta = pq.read_metadata(path)
        except (pa.ArrowException, OSError):
            return FileMeasure(size, None)  # parquet_select names the file
        groups = (meta.row_group(g).total_byte_size for g in range(meta.num_row_groups))
        return FileMeasure(max(size, sum(groups)), meta.num_rows)
    if suffix in EXCEL_SUFFIXES:
        # A workbook is a zip: its sheets' XML, uncompressed, is what reading it takes.
        try:
            with zipfile.ZipFile(path) as workbook:
                expanded = sum(member.file_size for member in workbook.infolist())
        except (zipfile.BadZipFile, OSError):
            return FileMeasure(size, None)  # excel_to_parquet names the file
        return FileMeasure(max(size, expanded), None)
    return FileMeasure(size, None)


def _measure_text(path: Path, sep: str, max_line_bytes: int) -> FileMeasure:
    """One pass over a text file's (decompressed) bytes: numpy finds the line feeds of each
    chunk, so a line's length is the distance between two of them; only the length of the
    line the chunk ends inside is carried to the next. A line end after an odd number of
    quotes lies inside a quoted value (as `_row_start_lines` counts them)."""
    size = lines = quotes = 0
    spans = False  # a line end inside quotes seen
    open_line = 0  # bytes of the line not yet ended, before this chunk
    before = 0  # the byte before this chunk (a CR ending the previous chunk's last line)
    with _gzip_errors_name(path, sep), _open_text(path) as handle:
        while chunk := handle.read(MEASURE_CHUNK_BYTES):
            size += len(chunk)
            data = np.frombuffer(chunk, dtype=np.uint8)
            ends = np.flatnonzero(data == LINE_FEED)
            if not spans:
                marks = np.flatnonzero(data == QUOTE)
                if ends.size and (marks.size or quotes % 2):
                    spans = bool(((quotes + np.searchsorted(marks, ends)) % 2).any())
                quotes += marks.size
            if ends.size:
                lengths = np.diff(ends, prepend=-1 - open_line) - 1
                if lengths.max() > max_line_bytes:
                    for i in np.flatnonzero(lengths > max_line_bytes):
                        end = int(ends[i])
                        cr = (data[end - 1] if end else before) == CARRIAGE_RETURN
                        if lengths[i] - int(cr) > max_line_bytes:
                            raise _line_too_long(path, lines + int(i) + 1, max_line_bytes, sep)
                lines += ends.size
                open_line = len(chunk) - int(ends[-1]) - 1
            else:
                open_line += len(chunk)
            before = int(data[-1])
            if open_line > max_line_bytes + 1:  # too long even if a CR ends it
                raise _line_too_long(path, lines + 1, max_line_bytes, sep)
    if open_line:  # a last line without a line end
        lines += 1
        if open_line > max_line_bytes:
            raise _line_too_long(path, lines, max_line_bytes, sep)
    return FileMeasure(size, max(lines - 1, 0), spans)


def _line_too_long(path: Path, number: int, max_line_bytes: int, sep: str) -> InputError:
    return InputError(
        f"{path}: line {number} is longer than {max_line_bytes:,} bytes (the rules file's "
        f"guards.max_line_bytes); expected {_delimited(sep)} rows, each on its own line. A "
        f"line this long is no row of an extract: check that the file's lines end with LF "
        f"or CRLF (not CR alone) and that no value holds a whole document, or raise the "
        f"setting if such lines are expected."
    )


def _work_parquet(
    relative: str, columns: list[str], target: Path, contract: FeedContract
) -> RawFile:
    """A workbook's sheet read into the work folder's Parquet file `target` (text columns,
    laid out by `excel_to_parquet`), as a RawFile."""
    empty = _empty_parquet_columns(target, list(columns), list(columns))
    return RawFile(
        relative,
        tuple(columns),
        f"select * from read_parquet({lit(target)})",
        frozenset(c for c in columns if c in contract.columns and c not in empty),
    )


STAGING_DISK_FACTOR = 3
"""Before a file is staged, the disk holding the warehouse must have more than this many
times the file's uncompressed size free (docs/DECISIONS.md). Staging writes a Parquet
copy of a text file in the work folder beside the warehouse, the staged rows into the
warehouse and the quarantined rows as JSON: measured, 0.21x the text for a clean
generated feed, 2.9x for a feed quarantined whole (which `ecm validate` stages to report
it; a run's quarantine guard stops such a feed after a fifth of it)."""


def _check_disk_room(
    con: duckdb.DuckDBPyConnection, work_dir: Path, path: Path, measure: FileMeasure
) -> None:
    """A MachineError (exit 4) unless the disk holding the warehouse (the work folder lies
    beside it) has more than STAGING_DISK_FACTOR x the file's uncompressed bytes free."""
    folder = _warehouse_folder(con, work_dir)
    needed = int(STAGING_DISK_FACTOR * measure.uncompressed_bytes)
    free = shutil.disk_usage(folder).free
    if free > needed:
        return
    expands = "expands to" if path.name.lower().endswith(".gz") else "holds uncompressed"
    raise MachineError(
        f"The disk holding the warehouse ({folder}) has {human_size(free)} free ({free:,} "
        f"bytes), and staging {path} needs more than {human_size(needed)} ({needed:,} bytes: "
        f"{STAGING_DISK_FACTOR}x the {human_size(measure.uncompressed_bytes)} it {expands}): "
        f"free space on that disk, or put the warehouse on a disk with room (--warehouse), "
        f"then run again. Nothing was replaced."
    )


def _warehouse_folder(con: duckdb.DuckDBPyConnection, work_dir: Path) -> Path:
    """The folder of the connection's database file; for a database in memory, the work
    folder (or the nearest folder above it that exists)."""
    database = con.execute(
        "select path from duckdb_databases() where database_name = current_database()"
    ).fetchone()
    folder = Path(database[0]).resolve().parent if database and database[0] else Path(work_dir)
    while not folder.exists():
        folder = folder.parent
    return folder


def _column_differences(raw_files: list[RawFile], contract: FeedContract) -> list[dict]:
    """Per file of a feed, the optional columns other files have and it lacks, and the
    unknown columns it has and some other file lacks; only files that differ."""
    if len(raw_files) < 2:
        return []
    every = [set(f.columns) for f in raw_files]
    union = set().union(*every)
    common = set.intersection(*every)
    differences = []
    for raw, columns in zip(raw_files, every, strict=True):
        missing = [c for c in contract.optional_columns if c in union and c not in columns]
        extra = [c for c in raw.columns if c not in common and c not in contract.columns]
        if missing or extra:
            differences.append({"file": raw.file, "missing_optional": missing, "extra": extra})
    return differences


def _unknown_columns(raw_files: list[RawFile], contract: FeedContract) -> list[str]:
    """The columns of a feed's files that its contract does not name, in first-seen order."""
    unknown: dict[str, None] = {}
    for raw in raw_files:
        unknown.update((c, None) for c in raw.columns if c not in contract.columns)
    return list(unknown)


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
    """What an ingest did: counts per feed, feeds absent, files that matched no feed.

    `column_differences`: per feed whose files (drops) differ in columns, the files that
    differ, each `{file, missing_optional, extra}` (optional columns other drops have and it
    lacks, which read empty; unknown columns it has and some other drop lacks).
    `unknown_columns`: per feed, the columns its contract does not name (kept in the
    warehouse, ignored by the rules). `header_only_feeds`: optional feeds present with a
    header but no rows."""

    feeds: dict[str, FeedCounts]
    missing_feeds: list[str]
    ignored_files: list[str]
    claim_versions: dict[str, int]
    column_differences: dict[str, list[dict]] = field(default_factory=dict)
    unknown_columns: dict[str, list[str]] = field(default_factory=dict)
    header_only_feeds: list[str] = field(default_factory=list)
    # Staged rows that failed a `warn` check: {feed, rule, rows, detail}, no row values.
    warnings: list[dict] = field(default_factory=list)
    # Per feed, the files this ingest read (`staged`), kept from an earlier ingest of this
    # warehouse without reading them (`kept`), and whose rows it deleted (`dropped`).
    files: dict[str, dict[str, list[str]]] = field(default_factory=dict)


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

MEMBER_RULES = ("unknown_member", "member_eligibility_quarantined")
STAGING_CODE = (
    Path(__file__).resolve(),
    Path(data_contracts_sql.__file__).resolve(),
    CONTRACT_DIR / "shapes.toml",
    SQL_DIR / "macros.sql",
)


def replace_relation(
    con: duckdb.DuckDBPyConnection, name: str, kind: str, sql: str, params: dict | None = None
) -> None:
    """Create table or view `name` as `sql`, dropping whatever relation had the name (an
    earlier version of the warehouse may hold a table where a view now belongs)."""
    _drop_relation(con, name)
    con.execute(f"create {kind} {name} as {sql}", params)


def _relation_kind(con: duckdb.DuckDBPyConnection, name: str) -> str | None:
    existing = con.execute(
        "select table_type from information_schema.tables where table_name = ? "
        "and table_schema = 'main'",
        [name],
    ).fetchall()
    return existing[0][0] if existing else None


def _drop_relation(con: duckdb.DuckDBPyConnection, name: str) -> None:
    kind = _relation_kind(con, name)
    if kind is not None:
        con.execute(f"drop {'view' if kind == 'VIEW' else 'table'} {name}")


def staging_sha256(contract: FeedContract) -> str:
    """sha256 of what decides a feed's staged rows: its contract, the shapes, the staging
    model, the macros, the check generator and this module. A file staged with another
    is staged again."""
    digest = hashlib.sha256()
    for path in (contract.path, SQL_DIR / "staging" / f"stg__{contract.name}.sql", *STAGING_CODE):
        digest.update(str(Path(path).name).encode())
        digest.update(Path(path).read_bytes())
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


def _input_files(
    feed: FeedFiles | None, input_dir: Path, file_hashes: Mapping[str, str]
) -> list[InputFile]:
    files = []
    for path in feed.files if feed else ():
        relative = _relative(path, input_dir)
        digest = file_hashes.get(relative) or outputs.sha256_file(path)
        files.append(InputFile(path, relative, digest, path.stat().st_size))
    return files


def _staged_files(con: duckdb.DuckDBPyConnection, feed: str) -> dict[str, StagedFile]:
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


VERSIONED_FEED = "medical_claim"
TOUCHED_CLAIMS = "_touched_claims"
VERSION_SETTINGS_TABLE = "claim_version_settings"


def _touch_claims(con: duckdb.DuckDBPyConnection, feed: str, rows_sql: str, params=None) -> None:
    """Note the claims (data_source, claim_id) of the staged rows `rows_sql` selects (from
    stg_checked__medical_claim as `chk`): their versions are resolved again this ingest
    (resolve_claim_versions), the others' are kept. Nothing to note when every claim is
    resolved again (no staged claims file kept: `_touch_every_claim`)."""
    if feed != VERSIONED_FEED or _relation_kind(con, TOUCHED_CLAIMS) is None:
        return
    con.execute(
        f"insert into {TOUCHED_CLAIMS} select distinct chk.data_source, chk.claim_id "
        f"from stg_checked__{feed} as chk {rows_sql}",
        params,
    )


def _touch_every_claim(con: duckdb.DuckDBPyConnection) -> None:
    """Every claim's versions are resolved again this ingest: stop noting touched claims
    (on a full ingest of 47M claim lines the notes took 3.8 s for nothing)."""
    con.execute(f"drop table if exists {TOUCHED_CLAIMS}")


def _forget_files(con: duckdb.DuckDBPyConnection, feed: str, files: list[str]) -> None:
    """Delete the staged and quarantined rows of `files` and their `ingest_files` rows."""
    if not files:
        return
    con.execute("create or replace temp table _forget (source_file varchar)")
    con.executemany("insert into _forget values (?)", [[f] for f in files])
    if _relation_kind(con, f"stg_checked__{feed}") == "BASE TABLE":
        _touch_claims(con, feed, "where chk._source_file in (select * from _forget)")
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


def _plan_feed(
    con: duckdb.DuckDBPyConnection, contract: FeedContract, files: list[InputFile], version: str
) -> tuple[list[InputFile], list[str]]:
    """Which of a feed's files to stage, and which staged files to drop: a file staged
    before with the same sha256, contract and staging code and ecm version is kept; one
    changed or gone is dropped (its rows deleted); a new or changed one is staged. When
    the contract or code changed (or the staged table is missing), the whole feed is."""
    feed = contract.name
    stored = con.execute(
        f"select source_file, sha256, staging_sha256, ecm_version from {FILES_TABLE} "
        f"where feed = ?",
        [feed],
    ).fetchall()
    table_ok = _relation_kind(con, f"stg_checked__{feed}") == "BASE TABLE"
    untracked = not stored  # staged by an ecm before `ingest_files`, or never
    if (
        untracked
        or not table_ok
        or any(v != version or e != ecm.__version__ for *_f, v, e in stored)
    ):
        _drop_relation(con, f"stg_checked__{feed}")
        con.execute("delete from quarantine where feed = ?", [feed])
        con.execute(f"delete from {FILES_TABLE} where feed = ?", [feed])
        return files, [f for f, *_ in stored]
    current = {f.relative: f.sha256 for f in files}
    gone = [f for f, sha, *_ in stored if current.get(f) != sha]
    kept = {f for f, sha, *_ in stored if current.get(f) == sha}
    _forget_files(con, feed, gone)
    return [f for f in files if f.relative not in kept], gone


def _columns_of(con: duckdb.DuckDBPyConnection, table: str) -> set[str]:
    """The column names of `table` (or of a parenthesised select)."""
    return {r[0] for r in con.execute(f"describe {table}").fetchall()}


def _add_missing_columns(con: duckdb.DuckDBPyConnection, table: str, sql: str) -> None:
    """Add to `table` (as text) the columns of `sql` it lacks: a file's unknown columns."""
    have = _columns_of(con, table)
    for name, kind, *_ in con.execute(f"describe {sql}").fetchall():
        if name not in have:
            con.execute(f"alter table {table} add column {ident(name)} {kind}")


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
    con.execute(f"create or replace temp view raw__{feed} as {raw.select}")
    con.execute(
        f"create or replace temp view checked__{feed} as {checked_select(contract, raw.delivered)}"
    )
    read = con.execute(f"select count(*) from raw__{feed}").fetchall()[0][0]
    con.execute(f"create or replace temp view staging__{feed} as {_staging_model(feed)}")
    stored = _stored_columns(con, contract, raw, filled)
    staging = f"select {ident_list(stored)} from staging__{feed}"
    if _relation_kind(con, table) != "BASE TABLE":
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


def _finish_file(
    con: duckdb.DuckDBPyConnection,
    contract: FeedContract,
    raw: RawFile,
    rejected: int,
    pieces: int = 1,
) -> None:
    """A file staged whole: note its claims (`_touch_claims`), put its `rejected` rows into
    `quarantine` with their raw rows, and leave `raw__<feed>` / `checked__<feed>` as the
    views of the whole file (those of its piece when it was staged in one: binding the
    checks again costs ~20 ms a file)."""
    feed = contract.name
    table = f"stg_checked__{feed}"
    if pieces > 1:
        con.execute(f"create or replace temp view raw__{feed} as {raw.select}")
        con.execute(
            f"create or replace temp view checked__{feed} as "
            f"{checked_select(contract, raw.delivered)}"
        )
    _touch_claims(con, feed, "where chk._source_file = ?", [raw.file])
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
            inner join (select * from raw__{feed}) as raw
                on chk._source_file = raw._source_file and chk._line = raw._line
            where chk._source_file = ? and chk._reject is not null
            """,
            [raw.file],
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
    required columns the checks read stay. Records the staging model's columns and types
    in `staged_columns`."""
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
    kept = {*META_COLUMNS, "_reject", "_warn", *unknown, *raw.delivered, *keys, *filled}
    return [name for name, _kind in described if name in kept or name not in contract.columns]


def _member_verdict_sql(contract: FeedContract) -> str:
    """The member check's verdict on a staged row (`chk`) against `eligibility_members`
    (`_members`), as the generated check gives it."""
    return (
        f"case when ecm_text(chk.{ident(contract.member_key)}) is not null then case "
        f"when _members._member_id is null then {lit('unknown_member|' + UNKNOWN_MEMBER)} "
        f"when not _members._has_staged_row "
        f"then {lit('member_eligibility_quarantined|' + MEMBER_QUARANTINED)} end end"
    )


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
    _touch_claims(
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


def _drop_unknown_columns(
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


def _create_empty_raw(con: duckdb.DuckDBPyConnection, contract: FeedContract) -> RawFile:
    cols = ", ".join(
        ["_source_file varchar", "_line bigint"] + [f"{ident(c)} varchar" for c in contract.columns]
    )
    con.execute(f"create or replace temp table _empty_raw__{contract.name} ({cols})")
    return RawFile("", (), f"select * from _empty_raw__{contract.name}", frozenset())


@dataclass
class FileReport:
    """Per feed, the files this ingest read and staged, and the staged files it kept
    (same sha256, contract and code: not read again) or dropped (changed or gone)."""

    staged: list[str] = field(default_factory=list)
    kept: list[str] = field(default_factory=list)
    dropped: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, list[str]]:
        return {"staged": self.staged, "kept": self.kept, "dropped": self.dropped}


def ingest(
    con: duckdb.DuckDBPyConnection,
    input_dir: Path,
    rules: Rules,
    work_dir: Path,
    progress: Progress | None = None,
    *,
    encodings: Mapping[str, str] | None = None,
    file_hashes: Mapping[str, str] | None = None,
    quarantine_guard: str | None = None,
) -> IngestResult:
    """Load a feed directory into the warehouse: stg__*, quarantine, claims current.

    Incremental: a file already staged in this warehouse with the same sha256 (and the
    same contract, staging code and ecm version) is not read again; the rows of a file
    changed or gone are deleted; only new and changed files are read and staged. The
    checks that span files run over every staged row each time: the member check of the
    kept rows against this run's eligibility (`_recheck_members`), the claim versions,
    and (in `data_contracts.gx_suites`) the grain's duplicates. The result equals a full
    ingest of the folder.

    `file_hashes` maps a file's path relative to `input_dir` to its sha256 (the flow's
    input fingerprints: each file is hashed once a run); a file it lacks is hashed here.
    `encodings` maps a feed name, or `"*"` for every other feed, to the encoding of its
    text files (default UTF-8); `parse_encoding_options` builds it from `--encoding`.

    A file is never trusted for its size: each is measured before it is read
    (`measure_file`: a line longer than guards.max_line_bytes is an InputError), the disk
    holding the warehouse must have room for it (`_check_disk_room`: MachineError), and it
    is staged in pieces. With `quarantine_guard` `"run"`, a feed whose quarantined share
    passes guards.max_quarantined_share stops the ingest with SanityGuardError as soon as
    the share is certain (guards.QuarantineShare), carrying the partial summary of
    `_refused_summary`; with `"validation"` (`ecm validate`, which reports every broken
    row) only once more than a piece of the feed is read (a feed of one piece is read
    whole); without it the shares are only counted."""
    report_to = progress or NO_PROGRESS
    input_dir = Path(input_dir)
    contracts = load_contracts()
    discovery = discover_feeds(input_dir, contracts)
    _prepare_warehouse(con)
    hashes = dict(file_hashes or {})
    counts: dict[str, FeedCounts] = {}
    column_differences: dict[str, list[dict]] = {}
    unknown_columns: dict[str, list[str]] = {}
    header_only_feeds: list[str] = []
    warnings: list[dict] = []
    reports: dict[str, FileReport] = {}
    for name, contract in contracts.items():
        feed = discovery.feeds.get(name)
        files = _input_files(feed, input_dir, hashes)
        to_stage, dropped = _plan_feed(con, contract, files, staging_sha256(contract))
        report = reports[name] = FileReport(dropped=dropped)
        to_stage = _recheck_kept_rows(con, contract, files, to_stage)
        report.kept = [f.relative for f in files if f not in to_stage]
        if name == VERSIONED_FEED and not report.kept:
            _touch_every_claim(con)
        if feed is None:
            _stage_absent_feed(con, contract, dropped)
            continue
        # Every file to stage is measured first (its lines' length checked), so that
        # the guard knows at most how many rows the feed holds before any is staged.
        measures = {
            f.relative: measure_file(f.path, rules.setting("guards.max_line_bytes"))
            for f in to_stage
        }
        guard = _quarantine_guard(con, contract, files, to_stage, measures, rules, quarantine_guard)
        try:
            staged_raw = _stage_files(
                con,
                contract,
                files,
                to_stage,
                input_dir,
                work_dir,
                _encoding_of(name, encodings),
                report_to,
                measures,
                guard,
            )
            current = _current_files(con, name, files)
            read, staged, quarantined = _feed_totals(contract, feed, current)
            guard.check_feed(read, quarantined)
        except SanityGuardError as refused:
            refused.summary = _refused_summary(con, input_dir, discovery, counts, guard, files)
            raise
        report.staged = [raw.file for raw in staged_raw]
        if dropped:
            _drop_unknown_columns(con, contract, current)
        _finish_feed(con, contract, staged_raw)
        as_raw = [RawFile(f.relative, f.columns, "") for f in current]
        if differences := _column_differences(as_raw, contract):
            column_differences[name] = differences
        if unknown := _unknown_columns(as_raw, contract):
            unknown_columns[name] = unknown
        if read == 0:
            header_only_feeds.append(name)
        warnings.extend(_warnings(con, contract, f"stg_checked__{name}") if staged else [])
        counts[name] = FeedCounts(len(files), read, staged, quarantined)
        log.info(
            "%s: read %d, staged %d, quarantined %d (%d file(s) staged, %d kept, %d dropped)",
            name,
            read,
            staged,
            quarantined,
            len(report.staged),
            len(report.kept),
            len(report.dropped),
        )
    with report_to.step("resolving claim versions"):
        claim_versions = resolve_claim_versions(
            con, rules, every_claim=not reports[VERSIONED_FEED].kept
        )
    return IngestResult(
        feeds=counts,
        missing_feeds=[n for n in contracts if n not in discovery.feeds],
        ignored_files=[p.name for p in discovery.ignored],
        claim_versions=claim_versions,
        column_differences=column_differences,
        unknown_columns=unknown_columns,
        header_only_feeds=header_only_feeds,
        warnings=warnings,
        files={n: r.as_dict() for n, r in reports.items()},
    )


def _stage_absent_feed(
    con: duckdb.DuckDBPyConnection, contract: FeedContract, dropped: list[str]
) -> None:
    """An absent optional feed is staged empty so every model can read it; the run
    summary reports the populations that need it as not evaluated."""
    if _relation_kind(con, f"stg_checked__{contract.name}") != "BASE TABLE":
        _stage_file(con, contract, _create_empty_raw(con, contract))
    elif dropped:
        _drop_unknown_columns(con, contract, [])
    _finish_feed(con, contract)


def _current_files(
    con: duckdb.DuckDBPyConnection, feed: str, files: list[InputFile]
) -> list[StagedFile]:
    """The `ingest_files` rows of a feed's current files, in the feed's file order."""
    stored = _staged_files(con, feed)
    return [stored[f.relative] for f in files]


def _quarantine_guard(
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
    stored = _staged_files(con, contract.name)
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


def _refused_summary(
    con: duckdb.DuckDBPyConnection,
    input_dir: Path,
    discovery: Discovery,
    counts: Mapping[str, FeedCounts],
    guard: QuarantineShare,
    files: list[InputFile],
) -> dict:
    """The summary of a run the quarantine guard stopped during the ingest (partial: no
    member, population or output was counted). `feeds`: the feeds staged before, counted
    as in a run's summary, and the refused feed's rows when it stopped, with `rows_at_most`
    (the bound its share was certain against) and `refused`; the feeds after it are not
    listed (never read). `data_quality.quarantined_by_rule`: their quarantined rows per
    feed and rule, as in a run's summary."""
    feeds: dict[str, dict] = {n: {"present": True, **c.as_dict()} for n, c in counts.items()}
    feeds[guard.feed] = {
        "present": True,
        "files": len(files),
        "read": guard.read,
        "staged": guard.read - guard.quarantined,
        "quarantined": guard.quarantined,
        "rows_at_most": guard.rows_at_most,
        "refused": True,
    }
    by_rule = [
        {"feed": feed, "rule": rule, "rows": rows}
        for feed in feeds
        if _relation_kind(con, f"stg_checked__{feed}") == "BASE TABLE"
        for rule, rows in con.execute(
            f"select split_part(_reject, '|', 1) as rule, count(*) from stg_checked__{feed} "
            f"where _reject is not null group by rule order by rule"
        ).fetchall()
    ]
    return {
        "ecm_version": ecm.__version__,
        "refused_during": "ingest",
        "input": {
            "folder": str(Path(input_dir).resolve()),
            "ignored_files": [p.name for p in discovery.ignored],
        },
        "feeds": feeds,
        "data_quality": {"quarantined_by_rule": by_rule},
    }


def _eligibility_sha256(con: duckdb.DuckDBPyConnection) -> str:
    """Which eligibility the warehouse holds: its files' sha256s and staging code."""
    rows = con.execute(
        f"select source_file, sha256, staging_sha256 from {FILES_TABLE} "
        f"where feed = 'eligibility' order by source_file"
    ).fetchall()
    return hashlib.sha256(repr(rows).encode()).hexdigest()


def _recheck_kept_rows(
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


def _stage_files(
    con: duckdb.DuckDBPyConnection,
    contract: FeedContract,
    files: list[InputFile],
    to_stage: list[InputFile],
    input_dir: Path,
    work_dir: Path,
    encoding: str,
    progress: Progress,
    measures: Mapping[str, FileMeasure],
    guard: QuarantineShare,
) -> list[RawFile]:
    """Read and stage each file of `to_stage` (in the feed's file order), recording it in
    `ingest_files`, each reported to `progress` with its rows and seconds; the raw files
    staged. Before a file is read, the disk holding the warehouse must have room for it
    (`_check_disk_room`, from its `measures`); it is staged in pieces (`_pieces`), `guard`
    counting each, so that a feed whose quarantined share is certainly past the rules
    file's stops the ingest before the rest is read."""
    name = contract.name
    staged_raw: list[RawFile] = []
    for index, file in enumerate(files):
        if file not in to_stage:
            continue
        measure = measures[file.relative]
        _check_disk_room(con, work_dir, file.path, measure)
        with progress.file(file.relative, feed=name) as reported:
            raw = _raw_file(file.path, index, contract, input_dir, work_dir, encoding, measure)
            # A Parquet file whose footer reads but whose pages do not fails only here,
            # when DuckDB reads the pages: name the file.
            try:
                raw, (read, staged, quarantined, stored) = _stage_pieces(
                    con, contract, raw, _pieces(raw, file.path, measure.rows_at_most), guard
                )
            except duckdb.Error:
                unreadable = _find_unreadable_parquet(con, FeedFiles(name, (file.path,)))
                if unreadable is None:
                    raise
                raise _parquet_error(unreadable) from None
            reported.count(read, "rows read", staged=staged, quarantined=quarantined)
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
                staging_sha256(contract),
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


def _feed_totals(
    contract: FeedContract, feed: FeedFiles, current: list[StagedFile]
) -> tuple[int, int, int]:
    """Rows read, staged and quarantined of a feed's current files (read = staged +
    quarantined); a required feed with no row is an InputError."""
    read = sum(f.read for f in current)
    staged = sum(f.staged for f in current)
    quarantined = sum(f.quarantined for f in current)
    if read == 0 and contract.required:
        raise InputError(
            f"The {contract.name} feed ({', '.join(str(f) for f in feed.files)}) has a header "
            f"but no rows; a run needs at least one."
        )
    if staged + quarantined != read:
        raise AssertionError(
            f"{contract.name}: read {read} rows but staged {staged} and quarantined {quarantined}"
        )
    return read, staged, quarantined


def _prepare_warehouse(con: duckdb.DuckDBPyConnection) -> None:
    """Macros, and the tables an incremental ingest keeps (`quarantine`, `ingest_files`);
    a warehouse staged before `ingest_files` existed has its quarantine rebuilt."""
    install_macros(con)
    if _relation_kind(con, FILES_TABLE) is None:
        _drop_relation(con, "quarantine")
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


def _has_rows(con: duckdb.DuckDBPyConnection, feed: str) -> bool:
    if _relation_kind(con, f"stg_checked__{feed}") != "BASE TABLE":
        return False
    return bool(con.execute(f"select count(*) from stg_checked__{feed}").fetchall()[0][0])


def _finish_feed(
    con: duckdb.DuckDBPyConnection, contract: FeedContract, staged_raw: list[RawFile] = ()
) -> None:
    """The view `stg__<feed>` of the rows that passed; for eligibility, the members the
    other feeds are checked against; `raw__<feed>` / `checked__<feed>` as the temporary
    views of the files this run read (for `tests.bench.validation_cost`)."""
    feed = contract.name
    replace_relation(
        con, f"stg__{feed}", "view", f"{_staged_select(con, feed)} where _reject is null"
    )
    if feed == "eligibility":
        con.execute(ELIGIBILITY_MEMBERS_SQL)
    if len(staged_raw) > 1:
        con.execute(
            f"create or replace temp view raw__{feed} as "
            + "\nunion all by name\n".join(f"({raw.select})" for raw in staged_raw)
        )
        delivered = frozenset().union(*(raw.delivered for raw in staged_raw))
        con.execute(
            f"create or replace temp view checked__{feed} as {checked_select(contract, delivered)}"
        )


def _staged_select(con: duckdb.DuckDBPyConnection, feed: str) -> str:
    """Every column of the feed's staging model from `stg_checked__<feed>`, in the model's
    order (null, typed, where the table stores none), then the unknown columns it holds."""
    schema = con.execute(
        f"select column_name, column_type from {SCHEMA_TABLE} where feed = ? order by position",
        [feed],
    ).fetchall()
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


CODE_POSITIONS = re.compile(r"^(diagnosis|procedure)_code_([0-9]+)$")


def _current_codes_select(con: duckdb.DuckDBPyConnection) -> str:
    """The current claims' keys, service dates and the diagnosis and procedure positions
    some staged row holds a code in (position 1 always): what int__claim_diagnosis and
    int__claim_procedure unpivot. Unpivoting the 25 positions of each when a feed fills
    nine read 25 columns of nulls (300k members: 21 s against 7 s)."""
    stored = _columns_of(con, "stg_checked__medical_claim")
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
    void = str(rules.setting("claims.void_bill_type_frequency"))
    model = load_sql("intermediate/int__medical_claim_version")
    settled = con.execute(f"select void_frequency from {VERSION_SETTINGS_TABLE}").fetchall()
    if (
        every_claim
        or settled != [(void,)]
        or _relation_kind(con, "int__medical_claim_version") != "BASE TABLE"
        or "lines" not in _columns_of(con, "int__medical_claim_version")  # an older ecm's
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
