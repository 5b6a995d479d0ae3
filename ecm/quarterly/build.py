"""`ecm quarterly`: the DHCS quarterly member file of one quarter, from the warehouse.

`write_quarterly` checks the options (the quarter's form, the rules file, the warehouse,
`--out` as every command that writes one: ecm.run.safety), reads the quarter's runs, the
staged RTF and OTF and eligibility (`inputs`, read only), applies the pure rules
(transforms/quarterly.py) and writes into a temporary folder beside `--out`, moved into
place only when complete (owner-only modes, or the rules file's `[output]`):

- `ECM_Quarterly_<plan code>_<YYYY>Q<n>.csv` and `.xlsx`: one row per member × merged ECM
  enrollment span touching the quarter;
- `manifest.json`: written_by, the quarter, every file (rows, sha256), the runs used, the
  rules file, the warnings.

Each file is declared in the output catalog (ecm.deliver.catalog, command `ecm
quarterly`); one it does not declare is a bug.

A quarter with no run recorded is an InputError (exit 2); fewer than three runs in the
quarter, no RTF row of the quarter's reporting periods, and a discontinuation reason code
the rules file does not map are warnings (the manifest's and the console's), never members'
values.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import polars as pl

import ecm
from ecm import files
from ecm.config.rules import Rules, load_rules
from ecm.deliver.catalog import QUARTERLY
from ecm.deliver.write import check_declared
from ecm.errors import InputError
from ecm.loop.inputs import eligibility_of
from ecm.quarterly import inputs
from ecm.run import interrupts
from ecm.run.file_modes import modes_of, narrow_umask
from ecm.run.locks import RunLock
from ecm.run.safety import (
    MANIFEST,
    WRITTEN_BY,
    OutputFolder,
    check_output_folder,
    followed,
    warehouse_to_read,
)
from transforms import quarterly as rules_of

COMMAND = QUARTERLY
MONTHLY_RUNS = 3
"""A quarter's monthly runs: fewer is warned."""
FEWER_RUNS = "fewer_than_three_runs"
NO_RTF = "no_provider_return"
UNMAPPED_REASON = "unmapped_discontinuation_reason"
SHEET = "Member Level"
WORKBOOK_CREATED = dt.datetime(2026, 1, 1)
"""A workbook records when it was created: fixed, so that its bytes never change."""


@dataclass(frozen=True)
class Quarter:
    year: int
    number: int

    @property
    def bounds(self) -> tuple[dt.date, dt.date]:
        return rules_of.quarter_bounds(self.year, self.number)

    @property
    def name(self) -> str:
        """`2026Q3`, as the file name writes it."""
        return f"{self.year}Q{self.number}"

    @property
    def period(self) -> str:
        """`2026 Q3`, the Reporting Period column."""
        return f"{self.year} Q{self.number}"


def parse_quarter(text: str) -> Quarter:
    """`--quarter`: YYYYQn, else an InputError naming the form."""
    parsed = rules_of.parse_quarter(text)
    if parsed is None:
        raise InputError(
            f"--quarter {text!r} is not a quarter: expected YYYYQn, the year and the quarter "
            f"1 to 4 (2026Q3 is July to September 2026)."
        )
    return Quarter(*parsed)


def file_stem(rules: Rules, quarter: Quarter) -> str:
    return f"ECM_Quarterly_{rules.setting('plan.plan_code')}_{quarter.name}"


def build_rows(
    con, rules: Rules, quarter: Quarter
) -> tuple[pl.DataFrame, list[dict[str, Any]], list[dict[str, Any]]]:
    """The file's rows, the runs used (run_id, as_of_date) and the warnings."""
    first, last = quarter.bounds
    runs = inputs.quarter_runs(con, first, last)
    if runs.is_empty():
        raise InputError(
            f"The warehouse records no ecm run with an as-of date in {quarter.name} "
            f"({first} to {last}); the quarterly file is built from the quarter's monthly "
            f"runs. Run ecm run for the quarter's months into this warehouse, or pass "
            f"--warehouse with the one they used."
        )
    warnings: list[dict[str, Any]] = []
    if runs.height < MONTHLY_RUNS:
        dates = ", ".join(str(d) for d in runs["as_of_date"])
        warnings.append(
            {
                "rule": FEWER_RUNS,
                "detail": f"{runs.height} run(s) with an as-of date in {quarter.name} "
                f"({dates}); a quarter has {MONTHLY_RUNS} monthly runs: the flags come from "
                f"these alone",
            }
        )
    assignments = inputs.assignments_of(con, runs["run_id"].to_list())
    rtf = inputs.provider_returns(con, last)
    otf = inputs.outreach_attempts(con, first, last)
    if rtf.filter(pl.col("reporting_period").is_between(first, last)).is_empty():
        warnings.append(
            {
                "rule": NO_RTF,
                "detail": f"no RTF (provider_return) row has a reporting period in "
                f"{quarter.name}: the spans and counts come from earlier periods alone",
            }
        )
    gap = rules.setting("quarterly.merge_gap_days")
    spans = rules_of.quarter_spans(
        rules_of.merge_spans(rules_of.enrollment_spans(rtf.lazy(), last), gap), first, last
    ).collect()
    members = spans["member_id"].unique().to_list()
    eligibility = eligibility_of(con, members, rules_of.ELIGIBILITY_SCHEMA)
    homeless = inputs.homeless_members(con, last)
    index_children = rules_of.index_holders(assignments.lazy(), homeless.lazy())
    flags: dict[str, str] = rules.setting("quarterly.flags")
    codes: dict[str, str] = rules.setting("quarterly.discontinuation_codes")
    unmapped = rules_of.unmapped_reasons(spans.lazy(), codes)
    if unmapped:
        warnings.append(
            {
                "rule": UNMAPPED_REASON,
                "detail": f"discontinuation reason codes {', '.join(unmapped)} have no number "
                f"in [quarterly.discontinuation_codes]; they are written as delivered",
            }
        )
    rows = rules_of.member_rows(
        spans.lazy(),
        rules_of.member_details(eligibility.lazy(), first, last),
        rules_of.flag_columns(assignments.lazy(), index_children, flags),
        rules_of.encounters(spans.lazy(), otf.lazy(), rtf.lazy(), first, last),
        plan_name=rules.setting("plan.mcp_name"),
        plan_code=rules.setting("plan.plan_code"),
        period=quarter.period,
        flag_names=list(flags),
        discontinuation_codes=codes,
    ).collect()
    used = [
        {"run_id": r, "as_of_date": str(d)} for r, d in runs.select("run_id", "as_of_date").rows()
    ]
    return rows, used, warnings


def write_workbook(frame: pl.DataFrame, path: Path) -> None:
    """One sheet, the header on row 1, text as text (dates already MM/DD/YYYY), counts as
    numbers; a fixed creation date, so that the same rows give the same bytes."""
    import xlsxwriter

    book = xlsxwriter.Workbook(str(path), {"in_memory": True})
    book.set_properties({"created": WORKBOOK_CREATED})
    sheet = book.add_worksheet(SHEET)
    sheet.write_row(0, 0, frame.columns)
    for line, row in enumerate(frame.iter_rows(), start=1):
        for place, value in enumerate(row):
            if value is None:
                continue
            if isinstance(value, int):
                sheet.write_number(line, place, value)
            else:
                sheet.write_string(line, place, value)
    book.close()


def write_quarterly(
    quarter_text: str, out_dir: Path, warehouse: Path | None, rules_file: Path | None
) -> dict[str, Any]:
    """`ecm quarterly`: check, read, build, write all or nothing; returns the manifest."""
    quarter = parse_quarter(quarter_text)
    rules = load_rules(rules_file)
    modes = modes_of(rules)
    out_dir = followed(Path(out_dir), "output folder")
    warehouse = warehouse_to_read(warehouse, out_dir, "the quarterly file is built from")
    check_output_folder(out_dir, None, warehouse)
    with narrow_umask(modes), RunLock(out_dir, "output folder"):
        with interrupts.connect(str(warehouse), read_only=True) as con:
            rows, used, warnings = build_rows(con, rules, quarter)
        output = OutputFolder(out_dir, modes)
        try:
            stem = file_stem(rules, quarter)
            csv, xlsx = output.path / f"{stem}.csv", output.path / f"{stem}.xlsx"
            files.write_csv(rows, csv)
            write_workbook(rows, xlsx)
            manifest = {
                "written_by": WRITTEN_BY,
                "command": COMMAND,
                "quarter": quarter.name,
                "ecm_version": ecm.__version__,
                "rules": {
                    "path": str(rules.path),
                    "version": rules.version,
                    "sha256": rules.sha256,
                },
                "warehouse": str(warehouse),
                "rows": rows.height,
                "files": [
                    files.file_entry(csv, output.path, rows.height),
                    files.file_entry(xlsx, output.path, rows.height),
                ],
                "runs": used,
                "warnings": warnings,
            }
            files.write_json(manifest, output.path / MANIFEST)
            for name, count in ((csv.name, rows.height), (xlsx.name, rows.height)):
                check_declared(name, count, QUARTERLY)
            check_declared(MANIFEST, None, QUARTERLY)
            check_output_folder(out_dir, None, warehouse)
            with interrupts.replacing():
                output.publish()
        except BaseException:
            output.discard()
            raise
    return manifest
