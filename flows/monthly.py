"""The monthly flow: ingest → build events → assign → write, as thin Prefect tasks.

Each task reads, calls the pure code in `ecm.pipeline` / `transforms`, and hands its
result on; no rule lives here. Retries only around I/O (the warehouse file, the output
folder). Tasks do not cache: inputs are frames, and a monthly run is recomputed whole.
"""

from __future__ import annotations

import datetime as dt
import platform
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb
import polars as pl
from prefect import flow, task
from prefect.cache_policies import NO_CACHE

import ecm
from ecm import outputs
from ecm.errors import EcmError
from ecm.guards import check_sanity_guards
from ecm.ingest import IngestResult, ingest
from ecm.logs import get_logger
from ecm.pipeline import (
    Assignment,
    Events,
    Inputs,
    assign_populations,
    build_events,
    history_start,
    read_inputs,
)
from ecm.reference import ReferenceData
from ecm.rules import Rules, load_rules
from ecm.safety import (
    MANIFEST,
    WRITTEN_BY,
    OutputFolder,
    WorkWarehouse,
    check_output_folder,
    default_warehouse,
)
from ecm.sql import load_sql
from transforms.quality import npi_failures
from transforms.windows import lookback

log = get_logger("flow")


def retry_on_io_only(_task, _task_run, state) -> bool:
    """Retry a task only when it failed on I/O, never on bad input or a bad rules file."""
    exc = state.result(raise_on_failure=False)
    return isinstance(exc, OSError) and not isinstance(exc, EcmError)


@dataclass
class Timer:
    """Wall-clock seconds per step, for the run summary."""

    seconds: dict[str, float] = field(default_factory=dict)

    def record(self, step: str, started: float) -> None:
        self.seconds[step] = round(time.perf_counter() - started, 3)


@task(name="ingest feeds", cache_policy=NO_CACHE, persist_result=False)
def ingest_feeds(
    input_dir: Path,
    warehouse: Path,
    rules: Rules,
    work_dir: Path,
    encodings: dict[str, str] | None = None,
    file_hashes: dict[str, str] | None = None,
) -> IngestResult:
    """Load the feed directory into the run's warehouse copy (staged, quarantine, current
    claims), reading only the files the warehouse has not staged (`file_hashes`: the
    run's input fingerprints, so each file is hashed once). No retries: a file that cannot
    be read is an input problem, and reading it again cannot help."""
    with duckdb.connect(str(warehouse)) as con:
        return ingest(
            con,
            input_dir,
            rules,
            work_dir,
            progress=log.info,
            encodings=encodings,
            file_hashes=file_hashes,
        )


@task(name="validate contracts", cache_policy=NO_CACHE, persist_result=False)
def validate_contracts(warehouse: Path, ingested: IngestResult) -> dict[str, Any]:
    """The contracts' Great Expectations suites on the staged feeds, with the ingest's
    warn-severity row checks: summary.json's `data_quality.expectations` and `warnings`
    (counts and shares only, never row values)."""
    from data_contracts.gx_suites import run_data_quality

    with duckdb.connect(str(warehouse)) as con:
        return run_data_quality(con, ingested).as_summary()


@task(name="build events", cache_policy=NO_CACHE, persist_result=False)
def build_event_tables(
    warehouse: Path,
    rules: Rules,
    reference: ReferenceData,
    as_of: dt.date,
    ingested_feeds: list[str],
) -> tuple[Inputs, Events, pl.DataFrame, pl.DataFrame]:
    """Read the staged tables; build members, ED visits, stays and the shared criteria.
    Also returns the quarantine and the NPIs that fail their check digit (reported)."""
    with duckdb.connect(str(warehouse)) as con:
        inputs = read_inputs(
            con,
            frozenset(ingested_feeds),
            history_start(rules, as_of),
            rules=rules,
        )
        quarantine = con.sql(
            "select feed, source_file, line, rule, detail, raw_row from quarantine "
            "order by feed, source_file, line"
        ).pl()
        npi_counts = con.sql(load_sql("quality/npi_values")).pl()
    events = build_events(inputs, reference, rules, as_of)
    log.info(
        "built events: %d enrolled members, %d ED visits, %d stays",
        events.members.height,
        events.ed_visits.height,
        events.stays.height,
    )
    return inputs, events, quarantine, npi_failures(npi_counts.lazy()).collect()


@task(name="assign populations", cache_policy=NO_CACHE, persist_result=False)
def assign(events: Events, inputs: Inputs, rules: Rules) -> Assignment:
    """Apply the population rules."""
    result = assign_populations(events, inputs, rules)
    log.info("assigned %d member-populations", result.assignments.height)
    return result


def _population_counts(result: Assignment, rules: Rules) -> dict[str, dict[str, Any]]:
    counts: dict[str, dict[str, Any]] = {}
    for code in rules.population_codes:
        rows = result.assignments.filter(pl.col("pof_code") == code)
        by_group = dict(rows.group_by("age_group").len().iter_rows())
        status = result.population_status[code]
        counts[code] = {
            "title": rules.population(code).get("title", code),
            **status.as_dict(),
            "members": rows.height if status.status != "not_evaluated" else None,
            "adult": int(by_group.get("adult", 0)),
            "child_youth": int(by_group.get("child_youth", 0)),
        }
    return counts


def build_summary(
    *,
    as_of: dt.date,
    rules: Rules,
    input_dir: Path,
    ingested: IngestResult,
    events: Events,
    result: Assignment,
    quarantine: pl.DataFrame,
    npi_report: pl.DataFrame,
    quality: dict[str, Any],
    timings: dict[str, float],
) -> dict[str, Any]:
    window = lookback(as_of, rules.setting("time.lookback_months"))
    feeds: dict[str, dict[str, Any]] = {}
    for name in (*ingested.feeds, *ingested.missing_feeds):
        counts = ingested.feeds.get(name)
        feeds[name] = (
            {"present": True, **counts.as_dict()}
            if counts
            else {"present": False, "files": 0, "read": 0, "staged": 0, "quarantined": 0}
        )
    by_rule = quarantine.group_by("feed", "rule").len().sort("feed", "rule")
    members = events.members
    return {
        "ecm_version": ecm.__version__,
        "as_of_date": as_of.isoformat(),
        "lookback": {"start": window.start.isoformat(), "end": window.end.isoformat()},
        "rules": {"version": rules.version, "sha256": rules.sha256, "file": str(rules.path)},
        "methods": {
            "avoidable_ed": rules.setting("methods.avoidable_ed"),
            "unplanned_stay": rules.setting("methods.unplanned_stay"),
            "avoidable_stay": rules.setting("methods.avoidable_stay"),
        },
        "input": {
            "folder": str(input_dir),
            "ignored_files": ingested.ignored_files,
            # Present with a header but no rows: flagged, and its populations read nothing.
            "header_only_feeds": ingested.header_only_feeds,
            # Columns no contract names: kept in the warehouse, ignored by the rules.
            "unknown_columns": ingested.unknown_columns,
            # Drops of one feed that differ in optional or unknown columns.
            "column_differences": ingested.column_differences,
        },
        "feeds": feeds,
        "claims": ingested.claim_versions,
        "members": {
            "enrolled": members.height,
            "adult": members.filter(pl.col("age_group") == "adult").height,
            "child_youth": members.filter(pl.col("age_group") == "child_youth").height,
        },
        "events": {"ed_visits": events.ed_visits.height, "stays": events.stays.height},
        "populations": _population_counts(result, rules),
        "populations_not_evaluated": {
            code: list(st.missing_feeds)
            for code, st in result.population_status.items()
            if st.status == "not_evaluated"
        },
        "populations_partially_evaluated": {
            code: list(st.missing_feeds)
            for code, st in result.population_status.items()
            if st.status == "partially_evaluated"
        },
        "providers": {
            # feeds.md: the span covering the as-of date decides; members with several
            # are counted here (latest start_date, then smallest provider_npi, wins).
            "members_with_several_providers": result.members_with_several_providers,
        },
        "assignments": result.assignments.height,
        "assigned_members": result.assignments["member_id"].n_unique(),
        "data_quality": {
            "quarantined_by_rule": [
                {"feed": f, "rule": r, "rows": n} for f, r, n in by_rule.iter_rows()
            ],
            # Reported, never dropped: NPIs whose check digit fails, per feed and column.
            "npi_check_digit_failures": npi_report.to_dicts(),
            # The contracts' expectations and warn-severity checks (data_contracts/).
            **quality,
        },
        "timings_seconds": timings,
        "platform": {
            "python": platform.python_version(),
            "polars": pl.__version__,
            "duckdb": duckdb.__version__,
        },
    }


@task(
    name="write outputs",
    cache_policy=NO_CACHE,
    persist_result=False,
    retries=2,
    retry_delay_seconds=[2, 10],
    retry_condition_fn=retry_on_io_only,
)
def write_outputs(
    staging: Path,
    result: Assignment,
    quarantine: pl.DataFrame,
    summary: dict[str, Any],
    reference: ReferenceData,
    input_fingerprints: dict[str, str],
) -> Path:
    """Write every file of the run into the run's temporary output folder `staging`
    (the flow moves it into place once the warehouse is committed)."""
    files: list[tuple[Path, int | None]] = []

    def parquet(name: str, frame: pl.DataFrame) -> None:
        path = staging / name
        outputs.write_parquet(frame, path)
        files.append((path, frame.height))

    parquet("assignments.parquet", result.assignments)
    outputs.write_csv(result.assignments, staging / "assignments.csv")
    files.append((staging / "assignments.csv", result.assignments.height))
    parquet("evidence.parquet", result.evidence)
    parquet("member_metrics.parquet", result.member_metrics)
    parquet("quarantine.parquet", quarantine)
    outputs.write_json(summary, staging / "summary.json")
    files.append((staging / "summary.json", None))
    manifest = {
        "written_by": WRITTEN_BY,
        "as_of_date": summary["as_of_date"],
        "ecm_version": summary["ecm_version"],
        "rules": summary["rules"],
        "files": [outputs.file_entry(p, staging, rows) for p, rows in files],
        "inputs": input_fingerprints,
        "reference": reference.versions(),
    }
    outputs.write_json(manifest, staging / MANIFEST)
    return staging


def fingerprint_inputs(input_dir: Path) -> dict[str, str]:
    """sha256 of every file in the feed directory (relative path → digest)."""
    return {
        str(p.relative_to(input_dir)): outputs.sha256_file(p)
        for p in sorted(Path(input_dir).rglob("*"))
        if p.is_file() and not p.name.startswith(".")
    }


@flow(name="ecm-monthly", log_prints=False, validate_parameters=False, persist_result=False)
def monthly(
    input_dir: Path,
    as_of: dt.date,
    out_dir: Path,
    warehouse: Path | None = None,
    rules_file: Path | None = None,
    encodings: dict[str, str] | None = None,
) -> dict[str, Any]:
    """One monthly ECM run: feeds in `input_dir`, as-of date `as_of`, files to `out_dir`.

    All or nothing: the run works on a copy of the warehouse and a temporary output
    folder; both replace the originals only when every step (the sanity guards
    included) has passed. A failed or refused run leaves both exactly as they were.
    """
    input_dir, out_dir = Path(input_dir), Path(out_dir)
    warehouse = Path(warehouse) if warehouse else default_warehouse(out_dir)
    check_output_folder(out_dir, input_dir, warehouse)
    rules = load_rules(rules_file)
    reference = ReferenceData()
    timer = Timer()
    log.info("as-of %s, rules %s, warehouse %s", as_of, rules.version, warehouse.resolve())
    work_house = WorkWarehouse(warehouse)
    output: OutputFolder | None = None
    try:
        with tempfile.TemporaryDirectory(prefix=".ecm-work-", dir=warehouse.parent) as work:
            started = time.perf_counter()
            fingerprints = fingerprint_inputs(input_dir)
            ingested = ingest_feeds(
                input_dir, work_house.path, rules, Path(work), encodings, fingerprints
            )
            timer.record("ingest", started)
        started = time.perf_counter()
        quality = validate_contracts(work_house.path, ingested)
        timer.record("validate", started)
        started = time.perf_counter()
        inputs, events, quarantine, npi_report = build_event_tables(
            work_house.path, rules, reference, as_of, list(ingested.feeds)
        )
        timer.record("events", started)
        started = time.perf_counter()
        result = assign(events, inputs, rules)
        timer.record("assign", started)
        summary = build_summary(
            as_of=as_of,
            rules=rules,
            input_dir=input_dir,
            ingested=ingested,
            events=events,
            result=result,
            quarantine=quarantine,
            npi_report=npi_report,
            quality=quality,
            timings=timer.seconds,
        )
        check_sanity_guards(summary, rules)
        started = time.perf_counter()
        output = OutputFolder(out_dir)
        write_outputs(output.path, result, quarantine, summary, reference, fingerprints)
        # A file may have landed in --out while the run worked: check again, then swap.
        check_output_folder(out_dir, input_dir, warehouse)
        work_house.commit()
        output.publish()
        timer.record("write", started)
    except BaseException:
        work_house.discard()
        if output is not None:
            output.discard()
        raise
    log.info("wrote %s", out_dir)
    summary["timings_seconds"] = timer.seconds
    return summary
