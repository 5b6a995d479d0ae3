"""A Parquet feed file as a DuckDB select, read in place and by meaning (`parquet_select`:
a column by its Arrow type; a date or whole number the contract expects read as one, any
other column as text), and what its footer tells before a row is read
(`empty_parquet_columns`); a damaged file is named (`find_unreadable_parquet`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

from data_contracts import FeedContract
from data_contracts.sql import ident, lit
from ecm.errors import InputError
from ecm.ingest.discover import PARQUET_SUFFIXES, FeedFiles, relative_to_input, suffix_of
from ecm.ingest.header import check_header


@dataclass(frozen=True)
class ParquetSelect:
    """How a Parquet feed file is read: `select` (the checks and the staging read it), with
    its `typed` columns in their own type; `text`, the same rows with every column as the
    text its value means (the quarantine's raw row, and what `typed` columns would be
    without their type); the file's own columns (normalised names); and those of its
    contract columns whose statistics say every value is null (selected as null: not
    read)."""

    select: str
    text: str
    typed: frozenset[str]
    columns: list[str]
    empty: set[str]


def parquet_select(
    path: Path, contract: FeedContract, input_dir: Path, *, source_file: str | None = None
) -> ParquetSelect:
    """The selects reading one Parquet feed file, with `_source_file` and `_line` (the row
    number, from 1). DuckDB reads the file in place: no copy. Each column is read by the
    meaning of its Arrow type (`_typed_as_text`); a column the contract types `date` or
    `integer` holding dates, timestamps or integers is read as that value
    (`_typed_value`) in `select`: the checks take it as its own parse
    (data_contracts.sql, `checked_select`), never formatted as text and parsed back.
    `source_file`: the `_source_file` of its rows (default: `path` relative to
    `input_dir`), for a file kept under another name (ecm.ingest.delivered)."""
    source = source_file if source_file is not None else relative_to_input(path, input_dir)
    try:
        schema = pq.read_schema(path)
    except (pa.ArrowException, OSError):
        raise parquet_error(path) from None
    names = schema.names  # as written: a repeated name stays repeated
    columns = check_header(path, names, contract, None)
    by_name = dict(zip(columns, names, strict=True))
    empty = empty_parquet_columns(path, columns, names)

    def kind(c: str) -> str | None:
        return contract.spec(c).type if c in contract.columns else None

    def text(c: str) -> str:
        return _typed_as_text(
            ident(by_name[c]),
            schema.field(by_name[c]).type,
            is_date=kind(c) in ("date", "period"),
            path=path,
            column=c,
        )

    typed = {
        c: value
        for c in columns
        if c not in empty
        and (
            value := _typed_value(
                ident(by_name[c]), schema.field(by_name[c]).type, kind(c), path, c
            )
        )
    }

    def selected(value: dict[str, str]) -> str:
        return ", ".join(
            [
                f"{value.get(c) or text(c)} as {ident(c)}"
                if c in by_name and c not in empty
                else f"cast(null as varchar) as {ident(c)}"
                for c in contract.columns
            ]
            + [f"{text(c)} as {ident(c)}" for c in columns if c not in contract.columns]
        )

    def select(value: dict[str, str]) -> str:
        return (
            f"select {lit(source)} as _source_file, "
            f"cast(file_row_number + 1 as bigint) as _line, {selected(value)} "
            f"from read_parquet({lit(path)}, file_row_number = true)"
        )

    return ParquetSelect(select(typed), select({}), frozenset(typed), columns, empty)


def empty_parquet_columns(path: Path, columns: list[str], names: list[str]) -> set[str]:
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


def _typed_as_text(sql: str, kind: pa.DataType, *, is_date: bool, path: Path, column: str) -> str:
    """SQL reading a Parquet column of Arrow type `kind` as the text its value means
    (feeds.md: typed files are read by meaning, one expression per column):

    - a timestamp is its wall-clock time, in its own zone when it has one; in a column the
      contract types `date` or `period` (`is_date`), its calendar date there
      (`YYYY-MM-DD`);
    - a float holding a whole number is the integer's digits (`22.0` is `22`: how pandas
      writes an integer column with empty rows); NaN is empty; any other float keeps its
      text (`22.5`, `inf`), which the checks then judge;
    - a decimal holding a whole number is its digits too (`3.00` is `3`);
    - anything else (text, integers, dates, booleans) is DuckDB's text of it."""
    if pa.types.is_dictionary(kind):
        kind = kind.value_type
    if pa.types.is_timestamp(kind):
        if is_date:
            return f"cast({_calendar_date(sql, kind, path, column)} as varchar)"
        local = sql if kind.tz is None else _wall_clock(sql, kind.tz, path, column)
        return f"cast({local} as varchar)"
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


def _typed_value(
    sql: str, kind: pa.DataType, contract_type: str | None, path: Path, column: str
) -> str | None:
    """SQL reading a Parquet column of Arrow type `kind` as the value a contract column of
    `contract_type` holds, when its type says what that value is: in a `date` column, a
    date is that date and a timestamp its calendar date (in its own zone when it has one),
    as `_typed_as_text` reads them; in an `integer` column, an integer is that number. None
    for any other column: it is read as text."""
    if pa.types.is_dictionary(kind):
        kind = kind.value_type
    if contract_type == "date" and pa.types.is_date(kind):
        return f"cast({sql} as date)"
    if contract_type == "date" and pa.types.is_timestamp(kind):
        return _calendar_date(sql, kind, path, column)
    if contract_type == "integer" and pa.types.is_integer(kind):
        return sql
    return None


def _calendar_date(sql: str, kind: pa.DataType, path: Path, column: str) -> str:
    """SQL for the calendar date of a timestamp column of Arrow type `kind`: its wall-clock
    date, in its own zone when it has one. A zoned timestamp is turned to its zone in
    microseconds: in nanoseconds, an instant whose wall-clock time falls before 1677-09-21
    00:12:43 (the first a nanosecond timestamp holds) overflows; the date is the same."""
    if kind.tz is None:
        return f"cast({sql} as date)"
    return f"cast({_wall_clock(f'cast({sql} as timestamptz)', kind.tz, path, column)} as date)"


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


def parquet_error(path: Path) -> InputError:
    """The error of a Parquet file that cannot be read (its footer, or its pages)."""
    return InputError(
        f"{path}: cannot be read as a Parquet file: it looks truncated or corrupt; expected "
        f"a complete Parquet file."
    )


def find_unreadable_parquet(con: duckdb.DuckDBPyConnection, feed: FeedFiles) -> Path | None:
    """The first Parquet file of a feed whose pages DuckDB cannot read (on failure only:
    reads every column of every file)."""
    for path in feed.files:
        if suffix_of(path) not in PARQUET_SUFFIXES:
            continue
        try:
            reader = con.sql(f"select * from read_parquet({lit(path)})").arrow()
            for _batch in reader:
                pass
        except duckdb.Error:
            return path
    return None
