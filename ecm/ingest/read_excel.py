"""An `.xlsx` workbook's sheet as text columns, laid out as a text file's and written to
Parquet in the work folder (`excel_to_parquet`): a cell read by its value's meaning, an
Excel error value an InputError naming its row and column.
"""

from __future__ import annotations

import re
from functools import reduce
from pathlib import Path

import fastexcel
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from data_contracts import FeedContract
from ecm.errors import InputError
from ecm.ingest.discover import relative_to_input
from ecm.ingest.header import check_header


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
    columns = check_header(label, [header[str(i)] or "" for i in kept], contract, None)
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
        "_source_file": pa.repeat(relative_to_input(path, input_dir), data.num_rows),
        "_line": lines,
    }
    for c in (*contract.columns, *(c for c in columns if c not in contract.columns)):
        out[c] = data.column(c) if c in columns else pa.nulls(data.num_rows, pa.string())
    pq.write_table(pa.table(out), target)
    return columns
