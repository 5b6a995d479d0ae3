"""A delimited text file (gzipped or not, in any encoding) as a lazy frame of text
columns with the file and line every row came from (`scan_text_file`).

A file in an encoding Polars does not read is first copied to UTF-8
(`transcode_to_utf8`); a file the reader fails on gets a sentence naming the line and
what was expected (`diagnose_text_file`: bytes that are not UTF-8, more fields than the
header, an unclosed quote, a truncated or corrupt gzip), never the reader's own message,
which may quote the file.
"""

from __future__ import annotations

import codecs
import csv
import gzip
import io
import zlib
from contextlib import contextmanager
from pathlib import Path

import polars as pl

from data_contracts import FeedContract
from ecm.errors import InputError
from ecm.ingest.discover import TEXT_SUFFIXES, relative_to_input, suffix_of
from ecm.ingest.header import META_COLUMNS, check_header, delimited, header_columns

POLARS_ENCODINGS = frozenset({"utf-8", "utf-8-sig"})
"""Encodings Polars reads itself; a file in any other is transcoded to UTF-8 first."""
TRANSCODE_CHUNK_BYTES = 1 << 20

GZIP_ERRORS = (EOFError, gzip.BadGzipFile, zlib.error)


def open_text(path: Path):
    """A text file's bytes, decompressed when its name ends in `.gz`."""
    opener = gzip.open if path.name.lower().endswith(".gz") else open
    return opener(path, "rb")


def _gzip_error(path: Path, sep: str, exc: Exception) -> InputError:
    expected = f"expected a complete gzip-compressed {delimited(sep)} text file"
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
def gzip_errors_named(path: Path, sep: str):
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
    with gzip_errors_named(path, sep), gzip.open(path, "rb") as handle:
        while handle.read(TRANSCODE_CHUNK_BYTES):
            pass


def _not_utf8(path: Path, number: int, raw: bytes, err: UnicodeDecodeError, sep: str, feed: str):
    return InputError(
        f"{path}, line {number}: holds bytes that are not UTF-8 text (byte "
        f"{raw[err.start]:#04x} at position {err.start + 1} of the line: {err.reason}); "
        f"expected a UTF-8 (optionally BOM-prefixed) {delimited(sep)} file. If the extract "
        f"is Windows-1252, read it with --encoding {feed}=cp1252 (or --encoding cp1252 for "
        f"every feed)."
    )


def _read_header(path: Path, source: Path, sep: str, feed: str) -> list[str]:
    """The names on the first line of a text file as written (before any reader renames a
    repeated one). `source` is the UTF-8 text of `path` (itself, or its transcoded copy)."""
    with gzip_errors_named(path, sep), open_text(source) as binary:
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


def transcode_to_utf8(path: Path, encoding: str, target: Path, sep: str) -> Path:
    """Copy a text file in another encoding to UTF-8 (decompressed), in chunks."""
    decoder = codecs.getincrementaldecoder(encoding)(errors="strict")
    line = 1
    with (
        gzip_errors_named(path, sep),
        open_text(path) as source,
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
                    f"expected a {encoding} {delimited(sep)} file, as --encoding says."
                ) from None
            line += chunk.count(b"\n")
        try:
            out.write(decoder.decode(b"", final=True))
        except UnicodeDecodeError:
            raise InputError(
                f"{path}, line {line}: ends inside a {encoding} character; expected a complete "
                f"{encoding} {delimited(sep)} file."
            ) from None
    return target


def diagnose_text_file(path: Path, source: Path, sep: str, feed: str, exc: Exception) -> InputError:
    """Turn a reader failure into a sentence naming the line (runs only on failure)."""
    _check_gzip(path, sep)
    with open_text(source) as handle:
        for number, raw in enumerate(handle, start=1):
            try:
                raw.decode("utf-8")
            except UnicodeDecodeError as err:
                return _not_utf8(path, number, raw, err, sep, feed)
    with (
        open_text(source) as binary,
        io.TextIOWrapper(binary, encoding="utf-8-sig", newline="") as handle,
    ):
        reader = csv.reader(handle, delimiter=sep, quotechar='"', strict=True)
        header = next(reader, [])
        try:
            for fields in reader:
                if len(fields) > len(header):
                    return InputError(
                        f"{path}, line {reader.line_num}: has {len(fields)} fields where the "
                        f"header names {len(header)}; expected {delimited(sep)} fields with "
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
                + f"; expected {delimited(sep)} fields, each either unquoted or quoted whole "
                f"with any quote inside doubled ('\"\"')."
            )
    if isinstance(exc, OSError):
        raise exc  # not the file's fault (the work folder's disk, say): an internal failure
    # The reader's own message may quote the file's contents: only its kind is shown.
    return InputError(
        f"{path}: cannot be read as a {delimited(sep)} text file (the reader reports "
        f"{type(exc).__name__}); expected a header row and {delimited(sep)} rows, each value "
        f"unquoted or quoted whole (a '\"' inside an unquoted value is a common cause)."
    )


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
    `transcode_to_utf8`). `_line` is the line of the file the row starts on (the header
    is line 1), also after a quoted value that spans lines (`quoted_line_breaks` False:
    the caller knows none does, `measure_file`, and the pass that looks is saved). Lines
    that hold no value (blank, or only delimiters) are skipped: they are not rows.
    Columns the contract names but the file lacks are added empty.
    """
    source = source or path
    sep = TEXT_SUFFIXES[suffix_of(path)]
    columns = check_header(path, _read_header(path, source, sep, contract.name), contract, sep)
    try:
        lf = pl.scan_csv(
            source,
            separator=sep,
            infer_schema=False,
            has_header=True,
            quote_char='"',
            raise_if_empty=True,
            with_column_names=lambda names: header_columns(names, contract),
        )
        if lf.collect_schema().names() != columns:
            raise InputError(
                f"{path}: the reader finds other column names on the first line than "
                f"{delimited(sep)} quoting gives; expected a plain header line."
            )
        starts = _row_start_lines(source) if quoted_line_breaks else None
    except (pl.exceptions.PolarsError, OSError) as exc:  # Polars raises IO errors as OSError
        raise diagnose_text_file(path, source, sep, contract.name, exc) from None
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
            pl.lit(relative_to_input(path, input_dir)).alias("_source_file"),
            *(pl.lit(None, dtype=pl.String).alias(c) for c in missing),
        )
        .select(
            *META_COLUMNS, *contract.columns, *[c for c in columns if c not in contract.columns]
        )
    )
    return lf, columns
