"""The run's data quality, as it is delivered: `quarantine.parquet` and what the summary's
`data_quality` reports of the warehouse (outputs.md, `summary.json`).

`report_data_quality` reads the ingest's `quarantine` table and every NPI the staged feeds
carry from the run's warehouse copy, writes the quarantine as Parquet, and counts it by
feed and rule; the NPIs failing their check digit are counted per feed and column
(transforms.quality), reported and never dropped. Counts only reach the summary: the
quarantine's rows (which do quote the rows as delivered) only reach its file.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb

from ecm import files
from ecm.warehouse.sql import install_macros, load_sql
from transforms.quality import npi_failures

QUARANTINE_COLUMNS = ("feed", "source_file", "line", "rule", "detail", "raw_row")
"""quarantine.parquet's columns (ecm.deliver.catalog), in the ingest's table's names."""


@dataclass(frozen=True)
class DataQuality:
    """The quarantine (written to `quarantine_file`) and what the summary reports of it."""

    quarantine_file: Path
    quarantined_by_rule: list[dict[str, Any]]
    npi_check_digit_failures: list[dict[str, Any]]


def report_data_quality(con: duckdb.DuckDBPyConnection, folder: Path) -> DataQuality:
    """Write the warehouse's quarantine to `folder/quarantine.parquet` (sorted by feed,
    file and line); count it by feed and rule; count the NPIs that fail their check digit."""
    install_macros(con)
    quarantine = con.sql(
        f"select {', '.join(QUARANTINE_COLUMNS)} from quarantine order by feed, source_file, line"
    ).pl()
    npi_counts = con.sql(load_sql("quality/npi_values")).pl()
    path = Path(folder) / "quarantine.parquet"
    files.write_parquet(quarantine, path)
    by_rule = quarantine.group_by("feed", "rule").len().sort("feed", "rule")
    return DataQuality(
        quarantine_file=path,
        quarantined_by_rule=[{"feed": f, "rule": r, "rows": n} for f, r, n in by_rule.iter_rows()],
        npi_check_digit_failures=npi_failures(npi_counts.lazy()).collect().to_dicts(),
    )
