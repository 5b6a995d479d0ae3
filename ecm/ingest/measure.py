"""A feed file is never trusted for its size: measured before it is read, and staged only
when the warehouse's disk has room for it.

`measure_file` reads a text file once in chunks of bounded memory (a line longer than the
rules file's guards.max_line_bytes is an InputError) and finds its uncompressed size and
at most how many rows it holds; a Parquet file's footer and an `.xlsx` file's zip
directory tell theirs. `check_disk_room` refuses a file the disk holding the warehouse has
no room to stage (MachineError, exit 4).
"""

from __future__ import annotations

import shutil
import zipfile
from dataclasses import dataclass
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from ecm.errors import InputError, MachineError
from ecm.ingest.discover import EXCEL_SUFFIXES, PARQUET_SUFFIXES, TEXT_SUFFIXES, suffix_of
from ecm.ingest.header import delimited
from ecm.ingest.read_text import gzip_errors_named, open_text
from ecm.run.machine import human_size

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
    suffix = suffix_of(path)
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
    with gzip_errors_named(path, sep), open_text(path) as handle:
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
        f"guards.max_line_bytes); expected {delimited(sep)} rows, each on its own line. A "
        f"line this long is no row of an extract: check that the file's lines end with LF "
        f"or CRLF (not CR alone) and that no value holds a whole document, or raise the "
        f"setting if such lines are expected."
    )


STAGING_DISK_FACTOR = 3
"""Before a file is staged, the disk holding the warehouse must have more than this many
times the file's uncompressed size free (docs/DECISIONS.md). Staging writes a Parquet
copy of a text file in the work folder beside the warehouse, the staged rows into the
warehouse and the quarantined rows as JSON: measured, 0.21x the text for a clean
generated feed, 2.9x for a feed quarantined whole (which `ecm validate` stages to report
it; a run's quarantine guard stops such a feed after a fifth of it)."""


def check_disk_room(
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
