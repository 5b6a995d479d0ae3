"""The member information files' I/O: what transforms.member_information reads from the
warehouse, and the provider folders it writes (outputs.md, "The member information file").

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
from dataclasses import dataclass
from pathlib import Path

import duckdb
import polars as pl

from ecm import files as outputs
from ecm.config.rules import Rules
from ecm.warehouse.inputs import input_selects
from transforms.member_information import (
    FOLDER,
    LINE_BREAKS_REPLACED,
    PREFIXED_AS_TEXT,
    UNASSIGNED,
    Plan,
    one_line_text,
)

PROVIDERS = "providers"
_FOLDER_NAME = re.compile(r"[0-9A-Za-z_-]+")


def plan_of(rules: Rules) -> Plan:
    """The rules file's `[plan]` section."""
    return Plan(
        mcp_identifier=rules.setting("plan.mcp_identifier"),
        mcp_name=rules.setting("plan.mcp_name"),
        dual_status_codes=tuple(rules.setting("plan.dual_status_codes")),
    )


def read_mif_inputs(
    con: duckdb.DuckDBPyConnection, assignments_file: Path
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """The eligibility spans and provider_assignment spans of the members in
    `assignments_file` (every span: transforms.member_information picks the one covering
    the as-of date): the inputs `eligibility` and `provider_assignment` of
    ecm.warehouse.inputs, the same rows and columns the rules read, for these members only."""
    selects = input_selects()
    members = "select distinct member_id from read_parquet($assignments)"
    params = {"assignments": str(assignments_file)}
    eligibility, providers = (
        con.sql(
            f"select * from ({selects[name].sql}) where member_id in ({members})", params=params
        ).pl()
        for name in ("eligibility", "provider_assignment")
    )
    return eligibility, providers


def mif_file_name(folder: str, as_of: dt.date) -> str:
    return f"ECM_MIF_{folder}_{as_of.strftime('%Y%m')}.txt"


@dataclass(frozen=True)
class MemberInformationFiles:
    """What `write_member_information_files` wrote: every file with its rows (None for
    the manifests), and the values it changed in all of them
    (transforms.member_information.one_line_text)."""

    files: list[tuple[Path, int | None]]
    values_with_line_breaks_replaced: int
    values_prefixed_as_text: int

    def counts(self) -> dict[str, int]:
        """The values changed, as the run's summary and manifest report them."""
        return {
            LINE_BREAKS_REPLACED: self.values_with_line_breaks_replaced,
            PREFIXED_AS_TEXT: self.values_prefixed_as_text,
        }


def write_member_information_files(
    rows: pl.DataFrame, root: Path, as_of: dt.date, rules_version: str
) -> MemberInformationFiles:
    """Write `root/providers/<folder>/ECM_MIF_<folder>_<YYYYMM>.txt` and its
    `manifest.json` for every folder of `rows` (transforms.member_information.member_information).

    The file: pipe-delimited UTF-8, a header row, rows in the order given, one record per
    line whatever reads it: the values as `one_line_text` makes them (line breaks become
    spaces, free-text formula text prefixed with `'`), a value holding `|` or `"` quoted
    (a `"` inside doubled), an empty value written empty. The manifest counts the values
    changed."""
    safe = one_line_text(rows.lazy()).collect()
    written: list[tuple[Path, int | None]] = []
    for folder in sorted(safe[FOLDER].unique().to_list()):
        if not _FOLDER_NAME.fullmatch(folder):
            # The contract stages only 10-digit NPIs; never let a value name a path.
            raise ValueError(f"A provider folder name must be an NPI or {UNASSIGNED!r}.")
        part = safe.filter(pl.col(FOLDER) == folder)
        counts = {name: int(part[name].sum()) for name in (LINE_BREAKS_REPLACED, PREFIXED_AS_TEXT)}
        part = part.drop(FOLDER, *counts)
        directory = root / PROVIDERS / folder
        directory.mkdir(parents=True, exist_ok=True)
        path = directory / mif_file_name(folder, as_of)
        part.write_csv(
            path,
            separator="|",
            quote_char='"',
            quote_style="necessary",
            null_value="",
            line_terminator="\n",
        )
        manifest = directory / "manifest.json"
        outputs.write_json(
            {
                "file": path.name,
                "provider_npi": None if folder == UNASSIGNED else folder,
                "rows": part.height,
                "sha256": outputs.sha256_file(path),
                "as_of_date": as_of.isoformat(),
                "rules_version": rules_version,
                **counts,
            },
            manifest,
        )
        written += [(path, part.height), (manifest, None)]
    return MemberInformationFiles(
        files=written,
        values_with_line_breaks_replaced=int(safe[LINE_BREAKS_REPLACED].sum()),
        values_prefixed_as_text=int(safe[PREFIXED_AS_TEXT].sum()),
    )
