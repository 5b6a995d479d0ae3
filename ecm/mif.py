"""The member information files' I/O: what transforms.mif reads from the warehouse, and
the provider folders it writes (outputs.md, "The member information file").

Memory stays bounded by the members the files list, not by the plan: DuckDB reads the
eligibility and provider_assignment rows of the members holding a population from the
run's warehouse copy (`stg__eligibility`, `stg__provider_assignment`), semi-joined to the
merged assignments file, and hands only those rows to Polars. At 1.5M members the
eligibility scan streams inside DuckDB; Polars holds the spans of the few percent who
hold a population.
"""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import duckdb
import polars as pl

from ecm import outputs
from ecm.pipeline import ELIGIBILITY_COLUMNS, PROVIDER_COLUMNS
from ecm.rules import Rules
from transforms.mif import FOLDER, UNASSIGNED, Plan

PROVIDERS = "providers"
_FOLDER_NAME = re.compile(r"[0-9A-Za-z_-]+")


def plan_of(rules: Rules) -> Plan:
    """The rules file's `[plan]` section."""
    return Plan(
        mcp_identifier=rules.setting("plan.mcp_identifier"),
        mcp_name=rules.setting("plan.mcp_name"),
        dual_status_codes=tuple(rules.setting("plan.dual_status_codes")),
    )


def _columns(columns: tuple[str, ...]) -> str:
    return ", ".join(f'"{c}"' for c in columns)


def read_mif_inputs(
    con: duckdb.DuckDBPyConnection, assignments_file: Path
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """The eligibility spans and provider_assignment spans of the members in
    `assignments_file` (every span: transforms.mif picks the one covering the as-of date)."""
    members = "select distinct member_id from read_parquet($assignments)"
    params = {"assignments": str(assignments_file)}
    eligibility = con.sql(
        f"select {_columns(ELIGIBILITY_COLUMNS)} from stg__eligibility "
        f"where member_id in ({members})",
        params=params,
    ).pl()
    providers = con.sql(
        f"select {_columns(PROVIDER_COLUMNS)} from stg__provider_assignment "
        f"where member_id in ({members})",
        params=params,
    ).pl()
    return eligibility, providers


def mif_file_name(folder: str, as_of: dt.date) -> str:
    return f"ECM_MIF_{folder}_{as_of.strftime('%Y%m')}.txt"


def write_member_information_files(
    rows: pl.DataFrame, root: Path, as_of: dt.date, rules_version: str
) -> list[tuple[Path, int | None]]:
    """Write `root/providers/<folder>/ECM_MIF_<folder>_<YYYYMM>.txt` (pipe-delimited UTF-8,
    a header row, rows in the order given) and its `manifest.json` for every folder of
    `rows` (transforms.mif.member_information); returns every file written with its rows
    (None for the manifests), for the run's manifest."""
    written: list[tuple[Path, int | None]] = []
    for folder in sorted(rows[FOLDER].unique().to_list()):
        if not _FOLDER_NAME.fullmatch(folder):
            # The contract stages only 10-digit NPIs; never let a value name a path.
            raise ValueError(f"A provider folder name must be an NPI or {UNASSIGNED!r}.")
        part = rows.filter(pl.col(FOLDER) == folder).drop(FOLDER)
        directory = root / PROVIDERS / folder
        directory.mkdir(parents=True, exist_ok=True)
        path = directory / mif_file_name(folder, as_of)
        part.write_csv(path, separator="|", null_value="", line_terminator="\n")
        manifest = directory / "manifest.json"
        outputs.write_json(
            {
                "file": path.name,
                "provider_npi": None if folder == UNASSIGNED else folder,
                "rows": part.height,
                "sha256": outputs.sha256_file(path),
                "as_of_date": as_of.isoformat(),
                "rules_version": rules_version,
            },
            manifest,
        )
        written += [(path, part.height), (manifest, None)]
    return written
