"""The writers of the files a run leaves under `--out`: one function per file (the member
information files' writes both files of each provider folder), each named by its
declaration in `ecm.deliver.catalog` and called by `ecm.deliver.write.write_run_outputs`,
in the catalog's order, into the run's temporary output folder.

A writer takes the run's `RunWriting` (what every writer shares: the folder, the run's
result files, summary, rules, dates, reference data, input fingerprints and the warehouse
copy, and what the writers before it counted) and its catalog entry; it records every file
it writes with `RunWriting.wrote` (with its rows, for a data file). What a writer reads from
the warehouse it reads in a connection of its own, only reading (the history tables
created when absent).
"""

from __future__ import annotations

import datetime as dt
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, fields
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

import duckdb
import polars as pl

from ecm import files
from ecm.config.dates import RunDates
from ecm.config.reference import ReferenceData
from ecm.config.rules import Rules
from ecm.deliver import member_files, report_page
from ecm.loop.inputs import discontinuation_reason_names
from ecm.loop.proposals import roster_of
from ecm.run import interrupts
from ecm.run.safety import WRITTEN_BY
from ecm.warehouse import history
from transforms.assignment_changes import CHANGE_SCHEMA, ENDED, NEW, assignment_changes
from transforms.loop import loop_by_provider
from transforms.member_information import UNASSIGNED
from transforms.member_information import member_information as member_information_rows

if TYPE_CHECKING:
    from ecm.deliver.catalog import Output


@dataclass(frozen=True)
class RunResults:
    """The run's result files the writers read: the merged shard outputs
    (ecm.shards.run.merge_shard_results), the quarantine (ecm.deliver.quality) and the
    referral loop's (ecm.loop: referrals, review, and the listing the member information
    files are written from)."""

    assignments: Path
    evidence: Path
    member_metrics: Path
    # Every exclusion of a member enrolled on the as-of date (whether or not they hold a
    # population); exclusions.parquet keeps those of members holding one.
    exclusions: Path
    quarantine: Path
    referrals: Path
    review: Path
    listing: Path

    @classmethod
    def of(cls, files: dict[str, Path], quarantine: Path) -> RunResults:
        """The writers' files from the run's result files by name (the merged shards',
        then the loop's, which replace them: the loop's `assignments` carry the
        proposals); a file no writer reads (the shards' `primary_care`) is left out."""
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in files.items() if k in names}, quarantine=quarantine)


@dataclass(frozen=True)
class Changes:
    """changes.parquet's rows and the previous run's as-of date (None on a first run)."""

    frame: pl.DataFrame
    previous_as_of: dt.date | None


class RunWriting:
    """What the writers of one run share, and what they add as they write: the files
    written (`files`: path and rows, for the manifest), the summary's additions
    (`summary_added`: `changes`, `member_information_files`) and the manifest's
    (`manifest_added`)."""

    def __init__(
        self,
        folder: Path,
        results: RunResults,
        summary: dict[str, Any],
        rules: Rules,
        dates: RunDates,
        reference: ReferenceData,
        input_fingerprints: dict[str, str],
        warehouse: Path,
    ) -> None:
        self.folder = Path(folder)
        self.results = results
        self.summary = summary
        self.rules = rules
        self.dates = dates
        self.reference = reference
        self.input_fingerprints = input_fingerprints
        self.warehouse = warehouse
        self.files: list[tuple[Path, int | None]] = []
        self.summary_added: dict[str, Any] = {}
        self.manifest_added: dict[str, Any] = {}

    def wrote(self, path: Path, rows: int | None = None) -> None:
        """Record a file written (its rows for a data file), in the order written."""
        self.files.append((path, rows))

    @contextmanager
    def warehouse_connection(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """A connection to the run's warehouse copy (interrupted by a signal, as every
        query of a run is: ecm.run.interrupts)."""
        with interrupts.connect(self.warehouse) as con:
            yield con

    @property
    def full_summary(self) -> dict[str, Any]:
        """The summary with what the writers before added."""
        return {**self.summary, **self.summary_added}

    @cached_property
    def assignments(self) -> pl.DataFrame:
        return pl.read_parquet(self.results.assignments)

    @cached_property
    def changes(self) -> Changes:
        """The assignments against the previous run of an earlier as-of date in the
        warehouse (ecm.warehouse.history): every one `new` on a first run."""
        with self.warehouse_connection() as con:
            previous = history.previous_run(con, self.dates.as_of)
            before = history.run_assignments(con, previous.run_id) if previous else None
        previous_as_of = previous.as_of_date if previous else None
        frame = (
            assignment_changes(
                self.assignments.lazy(),
                before.lazy() if before is not None else None,
                previous_as_of,
            )
            .collect()
            .cast(CHANGE_SCHEMA)
        )
        return Changes(frame, previous_as_of)


# --- the data files -------------------------------------------------------------------


def _copied(run: RunWriting, source: Path, name: str) -> None:
    path = run.folder / name
    shutil.copyfile(source, path)
    run.wrote(path, pl.scan_parquet(path).select(pl.len()).collect().item())


def write_assignments(run: RunWriting, output: Output) -> None:
    """The merged assignments, copied."""
    _copied(run, run.results.assignments, output.name)


def write_assignments_csv(run: RunWriting, output: Output) -> None:
    """The assignments as CSV (ISO dates, a header): the same rows."""
    path = run.folder / output.name
    files.write_csv(run.assignments, path)
    run.wrote(path, run.assignments.height)


def write_evidence(run: RunWriting, output: Output) -> None:
    """The merged evidence, copied."""
    _copied(run, run.results.evidence, output.name)


def write_member_metrics(run: RunWriting, output: Output) -> None:
    """The merged member metrics, copied."""
    _copied(run, run.results.member_metrics, output.name)


def write_exclusions(run: RunWriting, output: Output) -> None:
    """exclusions.parquet: the run's exclusions of members holding a population (loop.md,
    section 1), in the merged order."""
    holding = run.assignments.select("member_id").unique()
    frame = pl.read_parquet(run.results.exclusions).join(
        holding, on="member_id", how="semi", maintain_order="left"
    )
    path = run.folder / output.name
    files.write_parquet(frame, path)
    run.wrote(path, frame.height)


def write_quarantine(run: RunWriting, output: Output) -> None:
    """The quarantine the data quality report wrote (ecm.deliver.quality), copied."""
    _copied(run, run.results.quarantine, output.name)


def write_referrals(run: RunWriting, output: Output) -> None:
    """The referral loop's referrals (ecm.loop), copied."""
    _copied(run, run.results.referrals, output.name)


def write_review(run: RunWriting, output: Output) -> None:
    """The referral loop's review of members enrolled in ECM (ecm.loop), copied."""
    _copied(run, run.results.review, output.name)


def write_changes(run: RunWriting, output: Output) -> None:
    """changes.parquet; the summary's `changes` counts it."""
    changes = run.changes
    path = run.folder / output.name
    files.write_parquet(changes.frame, path)
    run.wrote(path, changes.frame.height)
    previous = changes.previous_as_of
    run.summary_added["changes"] = {
        "previous_as_of_date": previous.isoformat() if previous else None,
        "new": changes.frame.filter(pl.col("change") == NEW).height,
        "ended": changes.frame.filter(pl.col("change") == ENDED).height,
    }


def write_member_information(run: RunWriting, _output: Output) -> None:
    """Every provider folder's member information file and its manifest.json
    (ecm.deliver.member_files), listing the members the referral loop lists with their
    Assignment Status (ecm.loop), a member auto-assigned a provider named by the roster
    (ecm_provider); the summary's `member_information_files` counts them."""
    rules = run.rules
    with run.warehouse_connection() as con:
        eligibility, provider_spans = member_files.read_mif_inputs(con, run.results.assignments)
        roster = roster_of(con)
    rows = member_information_rows(
        run.assignments.lazy(),
        eligibility.lazy(),
        provider_spans.lazy(),
        pl.scan_parquet(run.results.member_metrics),
        pl.scan_parquet(run.results.listing),
        as_of=run.dates.as_of,
        population_codes=rules.population_codes,
        plan=member_files.plan_of(rules),
        adult_min_age=rules.setting("time.adult_min_age"),
        roster=roster.lazy(),
    ).collect()
    written = member_files.write_member_information_files(
        rows, run.folder, run.dates.as_of, rules.version
    )
    for path, count in written.files:
        run.wrote(path, count)
    run.summary_added["member_information_files"] = {
        "providers": rows.filter(pl.col("folder") != UNASSIGNED)["folder"].n_unique(),
        "members": rows.height,
        "unassigned_members": rows.filter(pl.col("folder") == UNASSIGNED).height,
        **written.counts(),
    }
    run.manifest_added["member_information_files"] = written.counts()


# --- what describes the run -----------------------------------------------------------


def write_summary(run: RunWriting, output: Output) -> None:
    """summary.json: the summary with what writing counted."""
    path = run.folder / output.name
    files.write_json(run.full_summary, path)
    run.wrote(path)


def changes_by_population(changes: pl.DataFrame) -> dict[str, dict[str, int]]:
    """changes.parquet counted: population code → {new, ended}."""
    counts: dict[str, dict[str, int]] = {}
    for code, change, n in changes.group_by("pof_code", "change").len().iter_rows():
        counts.setdefault(code, {NEW: 0, ENDED: 0})[change] = n
    return counts


def loop_facts(results: RunResults) -> report_page.LoopFacts:
    """What the report shows of the referral loop besides the summary: the loop per
    provider, counted from the loop's referrals, listing and review
    (transforms.loop.loop_by_provider: no member id leaves here), and the names of the
    discontinuation reason codes (the provider_return contract's)."""
    providers = loop_by_provider(
        pl.scan_parquet(results.referrals),
        pl.scan_parquet(results.listing),
        pl.scan_parquet(results.review),
    ).collect()
    return report_page.LoopFacts(
        providers=providers.to_dicts(), reason_names=discontinuation_reason_names()
    )


def write_report(run: RunWriting, output: Output) -> None:
    """report.html (ecm.deliver.report_page): the summary, the warehouse's recorded runs,
    this month's changes per population and the referral loop per provider."""
    with run.warehouse_connection() as con:
        past_runs = history.recorded_runs(con)
    page = report_page.render_report(
        run.full_summary,
        past_runs,
        changes_by_population(run.changes.frame),
        loop_facts(run.results),
    )
    path = run.folder / output.name
    path.write_text(page, encoding="utf-8")
    run.wrote(path)


def write_manifest(run: RunWriting, output: Output) -> None:
    """manifest.json: every file written before it (path, sha256, rows of a data file,
    bytes), the inputs' fingerprints and the reference files' versions; it marks the
    folder as an ecm output (ecm.run.safety). Written last, and not listed in itself."""
    summary = run.summary
    manifest = {
        "written_by": WRITTEN_BY,
        "as_of_date": summary["as_of_date"],
        "ecm_version": summary["ecm_version"],
        "rules": summary["rules"],
        "files": [files.file_entry(p, run.folder, rows) for p, rows in run.files],
        "inputs": run.input_fingerprints,
        "reference": run.reference.versions(),
        **run.manifest_added,
    }
    files.write_json(manifest, run.folder / output.name)
