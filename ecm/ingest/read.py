"""A feed file as read: the select of its columns with `_source_file` and `_line`
(`RawFile`; text, but for a Parquet file's typed dates and whole numbers), whatever its
format, in the pieces it is staged in.

`raw_file` reads a text file with Polars (`read_text`) into Parquet pieces in the work
folder as the stage asks for them (a file refused after its first pieces is never read
whole), an `.xlsx` sheet into one Parquet file there (`read_excel`), and a Parquet file
where it is (`read_parquet`). `file_pieces` gives the pieces of a file, of at most the
rows the stage says.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path

import polars as pl

from data_contracts import FeedContract
from data_contracts.sql import lit
from ecm.errors import InputError
from ecm.ingest.discover import (
    DEFAULT_ENCODING,
    EXCEL_SUFFIXES,
    PARQUET_SUFFIXES,
    TEXT_SUFFIXES,
    relative_to_input,
    suffix_of,
)
from ecm.ingest.measure import FileMeasure
from ecm.ingest.read_excel import excel_to_parquet
from ecm.ingest.read_parquet import empty_parquet_columns, parquet_select
from ecm.ingest.read_text import (
    POLARS_ENCODINGS,
    diagnose_text_file,
    scan_text_file,
    transcode_to_utf8,
)


@dataclass(frozen=True)
class RawFile:
    """One file of a feed as read: the select that reads it, the columns it has, and the
    contract columns that may hold a value (its own columns, less those a Parquet file's
    statistics show empty in every row group): the checks of the others are skipped."""

    file: str
    columns: tuple[str, ...]
    select: str
    delivered: frozenset[str] = frozenset()
    # A piece of a file (ecm stages a file in pieces, `file_pieces`): the first and last
    # `_line` it holds; None for a whole file.
    lines: tuple[int, int] | None = None
    # A text file's rows, read into Parquet a piece at a time as this is iterated
    # (`_sink_pieces`); None for a file read in place.
    pieces: Iterator[RawFile] | None = field(default=None, compare=False, repr=False)
    # The columns `select` reads in their own type (a Parquet file's dates and whole
    # numbers where the contract expects them: `parquet_select`), and the select of the
    # same rows with every column as text (None: `select` is); see `text_select`.
    typed: frozenset[str] = frozenset()
    text: str | None = None
    # The glob of the Parquet files in the work folder holding the whole file as read
    # (a text file's pieces, a workbook's sheet): what a feed kept whole keeps of it
    # (ecm.ingest.delivered); None for a Parquet file, read where it is.
    work_files: str | None = None

    @property
    def text_select(self) -> str:
        """The select of the file's rows with every column as the text its value means:
        the raw row the quarantine keeps, whatever `select` reads typed."""
        return self.select if self.text is None else self.text


def raw_file(
    path: Path,
    index: int,
    contract: FeedContract,
    input_dir: Path,
    work_dir: Path,
    encoding: str = DEFAULT_ENCODING,
    measure: FileMeasure | None = None,
    *,
    piece_rows: int,
) -> RawFile:
    """The select reading one file of a feed, with the same leading columns as every other.

    A text file is read by Polars (for its line numbers) into Parquet pieces of
    `piece_rows` rows under work_dir as the caller iterates `pieces` (`_sink_pieces`),
    after a copy to UTF-8 there
    when `encoding` is one Polars does not read; an `.xlsx` workbook's sheet is written
    there as text by `excel_to_parquet`; a Parquet file is read by DuckDB where it is.
    `measure` (measure_file's) tells whether a quoted value may span lines.
    """
    folder = work_dir / f"raw__{contract.name}"
    folder.mkdir(parents=True, exist_ok=True)
    relative = relative_to_input(path, input_dir)
    if path.stat().st_size == 0:
        raise InputError(f"{path}: the file is empty; expected a header row naming the columns.")
    if suffix_of(path) in PARQUET_SUFFIXES:
        read = parquet_select(path, contract, input_dir)
        delivered = frozenset(
            c for c in read.columns if c in contract.columns and c not in read.empty
        )
        return RawFile(
            relative, tuple(read.columns), read.select, delivered, typed=read.typed, text=read.text
        )
    if suffix_of(path) in EXCEL_SUFFIXES:
        target = folder / f"{index:05d}.parquet"
        columns = excel_to_parquet(path, contract, input_dir, target)
        return _work_parquet(relative, columns, target, contract)
    sep = TEXT_SUFFIXES[suffix_of(path)]
    source = path
    if encoding not in POLARS_ENCODINGS:
        source = transcode_to_utf8(path, encoding, folder / f"{index:05d}.utf8.txt", sep)
    stem = folder / f"{index:05d}"
    spans = measure is None or measure.has_quoted_line_breaks or source != path
    lf, columns = scan_text_file(path, contract, input_dir, source=source, quoted_line_breaks=spans)
    pieces = lit(f"{stem}.*.parquet")
    raw = RawFile(
        relative,
        tuple(columns),
        f"select * from read_parquet({pieces})",
        work_files=f"{stem}.*.parquet",
    )
    rows = measure.rows_at_most if measure else None
    pieces = _sink_pieces(lf, raw, contract, stem, path, source, sep, piece_rows, rows)
    return replace(raw, pieces=pieces)


def _work_parquet(
    relative: str, columns: list[str], target: Path, contract: FeedContract
) -> RawFile:
    """A workbook's sheet read into the work folder's Parquet file `target` (text columns,
    laid out by `excel_to_parquet`), as a RawFile."""
    empty = empty_parquet_columns(target, list(columns), list(columns))
    return RawFile(
        relative,
        tuple(columns),
        f"select * from read_parquet({lit(target)})",
        frozenset(c for c in columns if c in contract.columns and c not in empty),
        work_files=str(target),
    )


def file_pieces(raw: RawFile, path: Path, rows: int | None, piece_rows: int) -> Iterator[RawFile]:
    """The pieces a file is staged in: a text file's as it is read (`raw.pieces`); a
    Parquet file of more than `piece_rows` rows (`rows`, from its footer) in ranges of
    `piece_rows` of its `_line` (its row number: DuckDB reads only the row groups a range
    needs); any other file whole."""
    if raw.pieces is not None:
        yield from raw.pieces
    elif suffix_of(path) in PARQUET_SUFFIXES and rows is not None and rows > piece_rows:
        for first in range(1, rows + 1, piece_rows):
            last = min(first + piece_rows - 1, rows)
            where = f"where _line between {first} and {last}"
            yield replace(
                raw,
                select=f"select * from ({raw.select}) {where}",
                text=f"select * from ({raw.text_select}) {where}",
                lines=(first, last),
            )
    else:
        yield raw


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
    piece_rows: int,
    rows_at_most: int | None = None,
) -> Iterator[RawFile]:
    """Read a text file's rows (`lf`, from scan_text_file, in file order) into Parquet
    pieces of `piece_rows` rows in the work folder, yielding each piece as written: the
    next is read only when the caller asks, so a file refused after its first pieces is
    never read whole. Polars streams the rows (a gzip too) in batches of bounded memory. A
    file of at most `piece_rows` rows (`rows_at_most`, from measure_file) is one piece,
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
        if rows_at_most is not None and rows_at_most <= piece_rows:
            whole = stem.with_name(f"{stem.name}.00000.parquet")
            lf.sink_parquet(whole)
            filled = set(columns) - empty_parquet_columns(whole, columns, columns)
            select = f"select * from read_parquet({lit(whole)})"
            yield replace(raw, select=select, delivered=delivered(filled))
        else:
            writer = _PieceWriter(stem)
            for batch in lf.collect_batches():
                rest = batch
                while rest.height:
                    room = piece_rows - writer.rows
                    writer.add(rest.head(room))
                    rest = rest.slice(room)
                    if writer.rows == piece_rows:
                        yield written(writer)
                        writer = writer.next()
            if writer.rows or writer.number == 0:
                yield written(writer)
    except (pl.exceptions.PolarsError, OSError) as exc:  # Polars: IO errors are OSError
        raise diagnose_text_file(path, source, sep, contract.name, exc) from None
    if source != path:
        source.unlink()
