"""The monthly flow: ingest → shard inputs → run each shard → merge → write, as thin
Prefect tasks.

Each task reads, calls the pure code in `ecm.shards.evaluate` / `transforms` (through the seam
`ecm.shards.run.run_shard`), and hands on *paths*: the shard inputs' folder, each shard's
result files, the merged files; never whole frames. No rule lives here. Retries only
on the tasks that read and write files, on transient I/O errors only (IO_RETRIES); the
ingest has none. Tasks do not cache: a monthly run is recomputed whole.

The shard tasks are submitted to the flow's task runner: by default one thread, so the
shards run one after another in this process; `monthly.with_options(task_runner=
dask_task_runner(...))` runs them on Dask workers (`ecm run --dask`). Either way the
results are gathered by shard number, so the merged files are byte-identical.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import logging
import os
import platform
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import duckdb
import polars as pl
from prefect import flow, task
from prefect.cache_policies import NO_CACHE
from prefect.context import FlowRunContext
from prefect.futures import as_completed
from prefect.task_runners import ThreadPoolTaskRunner

import ecm
from ecm import files as outputs
from ecm.config.dates import RunDates
from ecm.config.reference import ReferenceData
from ecm.config.rules import Rules, load_rules
from ecm.deliver import member_files as mif
from ecm.deliver import report_page as html_report
from ecm.errors import EcmError
from ecm.ingest import IngestResult, ingest
from ecm.ingest.discover import is_regular_file
from ecm.run import interrupts
from ecm.run.file_modes import FileModes, modes_of, set_umask
from ecm.run.guards import check_sanity_guards
from ecm.run.locks import RunLocks, hold_run_locks
from ecm.run.logs import get_logger
from ecm.run.machine import machine_error
from ecm.run.prefect_env import WORKER_ENVIRONMENT, configured_api_url, quiet_prefect_failure_logs
from ecm.run.progress import Part, reporter
from ecm.run.safety import (
    MANIFEST,
    WRITTEN_BY,
    OutputFolder,
    WorkWarehouse,
    check_output_folder,
    default_warehouse,
    followed,
    recover_leftovers,
    work_folder,
)
from ecm.shards.evaluate import inputs_needed, population_status
from ecm.shards.inputs import ShardPaths, ShardSet, shard_count, write_shard_inputs
from ecm.shards.run import MergedResult, ShardResult, merge_shard_results, run_shard
from ecm.warehouse import history
from ecm.warehouse.sql import install_macros, load_sql
from transforms.assignment_changes import CHANGE_SCHEMA, ENDED, NEW, assignment_changes
from transforms.member_information import UNASSIGNED
from transforms.member_information import member_information as member_information_rows
from transforms.quality import npi_failures

log = get_logger("flow")


# OSErrors that say a path is missing, in the way or not allowed: trying again cannot help.
_PATH_ERRORS = (
    FileNotFoundError,
    FileExistsError,
    IsADirectoryError,
    NotADirectoryError,
    PermissionError,
)


def retry_on_io_only(_task, _task_run, state) -> bool:
    """Retry a task only when it failed on a transient I/O error (an OSError such as EIO,
    a timeout or a busy share), never on ecm's own errors (bad input, a bad rules file, a
    sanity guard, an output folder it must not replace), a path error or a bug."""
    exc = state.result(raise_on_failure=False)
    return (
        isinstance(exc, OSError)
        and not isinstance(exc, (EcmError, *_PATH_ERRORS))
        and machine_error(exc) is None  # a full or read-only disk stays so for a while
    )


# The tasks that read and write files retry transient I/O errors, after 2, 10 and 30 s.
IO_RETRIES: dict[str, Any] = {
    "retries": 3,
    "retry_delay_seconds": [2, 10, 30],
    "retry_condition_fn": retry_on_io_only,
}


@dataclass
class Timer:
    """Wall-clock seconds per step, for the run summary."""

    seconds: dict[str, float] = field(default_factory=dict)

    @contextmanager
    def step(self, name: str) -> Iterator[Part]:
        """Time the block as step `name`, shown as a stage of the run's progress (the
        part yielded takes the stage's rows: `part.count(rows, unit)`)."""
        with reporter().stage(name) as part:
            yield part
        self.seconds[name] = round(part.elapsed(), 3)


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
    run's input fingerprints, so each file is hashed once). The run's quarantine guard
    acts during the ingest: a feed whose quarantined share is certainly past the rules
    file's stops the run (SanityGuardError, with a partial summary). No retries: a file
    that cannot be read is an input problem, and reading it again cannot help."""
    with interrupts.connect(warehouse) as con:
        return ingest(
            con,
            input_dir,
            rules,
            work_dir,
            progress=reporter(),
            encodings=encodings,
            file_hashes=file_hashes,
            quarantine_guard="run",
        )


@task(name="validate contracts", cache_policy=NO_CACHE, persist_result=False)
def validate_contracts(
    warehouse: Path, ingested: IngestResult, rules: Rules, reference: ReferenceData
) -> dict[str, Any]:
    """The contracts' Great Expectations suites on the staged feeds, with the ingest's
    warn-severity row checks and the fill rates of the columns the rules lean on (the
    rules file's `[fill_rates]`): summary.json's `data_quality.expectations`,
    `fill_rates` and `warnings` (counts and shares only, never row values)."""
    from data_contracts.fill_rates import FillRateRules
    from data_contracts.gx_suites import run_data_quality

    with interrupts.connect(warehouse) as con:
        present = frozenset(ingested.feeds)
        evaluated = frozenset(
            code
            for code in rules.population_codes
            if population_status(rules.population(code), present).status != "not_evaluated"
        )
        rates = FillRateRules(rules.setting, reference.value_set, evaluated)
        return run_data_quality(con, ingested, rates).as_summary()


@dataclass(frozen=True)
class DataQuality:
    """The quarantine (written to `quarantine_file`) and what the summary reports of it."""

    quarantine_file: Path
    quarantined_by_rule: list[dict[str, Any]]
    npi_check_digit_failures: list[dict[str, Any]]


@task(name="report data quality", cache_policy=NO_CACHE, persist_result=False, **IO_RETRIES)
def report_data_quality(warehouse: Path, work_dir: Path) -> DataQuality:
    """Write the quarantine to `work_dir`; count it by feed and rule; count the NPIs that
    fail their check digit (reported, never dropped)."""
    with interrupts.connect(warehouse) as con:
        install_macros(con)
        quarantine = con.sql(
            "select feed, source_file, line, rule, detail, raw_row from quarantine "
            "order by feed, source_file, line"
        ).pl()
        npi_counts = con.sql(load_sql("quality/npi_values")).pl()
    path = work_dir / "quarantine.parquet"
    outputs.write_parquet(quarantine, path)
    by_rule = quarantine.group_by("feed", "rule").len().sort("feed", "rule")
    return DataQuality(
        quarantine_file=path,
        quarantined_by_rule=[{"feed": f, "rule": r, "rows": n} for f, r, n in by_rule.iter_rows()],
        npi_check_digit_failures=npi_failures(npi_counts.lazy()).collect().to_dicts(),
    )


@task(name="write shard inputs", cache_policy=NO_CACHE, persist_result=False)
def shard_inputs(
    warehouse: Path,
    rules: Rules,
    as_of: dt.date,
    ingested_feeds: list[str],
    root: Path,
    shards: int | None,
    workers: int = 1,
) -> ShardSet:
    """Households, the shard map and every shard's inputs, written once under `root`
    (N = `shards`, else from the member count and the rules file's memory budget).

    With `workers` running shards side by side (Dask), the budget is shared: N is chosen
    so that one shard fits the budget divided by the workers, and N is at least
    `workers`, so that every worker has a shard."""
    with interrupts.connect(warehouse) as con:
        if shards is None and workers > 1:
            members = con.execute("select count(distinct member_id) from stg__eligibility")
            shards = max(workers, shard_count(members.fetchall()[0][0], _shared(rules, workers)))
        return write_shard_inputs(
            con,
            root,
            rules,
            RunDates.of(rules, as_of).history_start,
            frozenset(ingested_feeds),
            shards=shards,
            with_procedures="procedures" in inputs_needed(rules),
        )


def _shared(rules: Rules, workers: int) -> Rules:
    """`rules` with the [run] memory budget divided over `workers` (for the shard count)."""
    run = {
        **rules.data["run"],
        "memory_budget_gib": rules.setting("run.memory_budget_gib") / workers,
    }
    return replace(rules, data={**rules.data, "run": run})


@task(name="run shard", cache_policy=NO_CACHE, persist_result=False, **IO_RETRIES)
def run_one_shard(
    shard: ShardPaths, rules: Rules, reference: ReferenceData, as_of: dt.date, out_dir: Path
) -> ShardResult:
    """Events and populations of one shard (ecm.shards.run.run_shard): paths in, paths out.
    It may run in a Dask worker process: it logs nothing itself, and Prefect's report of
    a failure (which may quote data) is filtered there as in the command's process."""
    quiet_prefect_failure_logs()
    return run_shard(shard, rules, RunDates.of(rules, as_of), out_dir, reference)


LOCAL_CLUSTER = "local"


def dask_task_runner(address: str, rules: Rules, workers: int | None = None):
    """A prefect-dask `DaskTaskRunner` for the shard tasks: on the existing cluster at
    `address` (e.g. tcp://host:8786), or for `address` LOCAL_CLUSTER on a new
    `distributed.LocalCluster` of `workers` processes (default: one per core), one
    thread each, each limited to the rules file's [run] memory budget divided over the
    workers. The local workers' environment turns analytics off."""
    from prefect_dask import DaskTaskRunner

    # distributed's own INFO lines (and its tracebacks of closed connections at
    # shutdown) would interleave with the run's log on stderr, and break --json.
    logging.getLogger("distributed").setLevel(logging.CRITICAL)
    if address != LOCAL_CLUSTER:
        return DaskTaskRunner(address=address)
    workers = workers or os.cpu_count() or 1
    budget = rules.setting("run.memory_budget_gib") * 2**30
    return DaskTaskRunner(
        cluster_class="distributed.LocalCluster",
        cluster_kwargs={
            "n_workers": workers,
            "threads_per_worker": 1,
            "processes": True,
            "memory_limit": int(budget / workers),
            "dashboard_address": None,
            "silence_logs": logging.CRITICAL,
            # Inherited from this process too; said here so the workers never send
            # analytics whatever this process's environment says.
            "env": {**WORKER_ENVIRONMENT, **_prefect_api_env()},
        },
    )


def _prefect_api_env() -> dict[str, str]:
    """PREFECT_API_URL for the workers: the server this process reports to."""
    url = configured_api_url()
    return {"PREFECT_API_URL": url} if url else {}


def _warm_up() -> None:
    """Import what a shard task needs, in a worker, while the flow ingests (unpickling
    this function imports this module, and with it ecm, polars and duckdb)."""
    import prefect.task_engine  # noqa: F401


def _start_workers() -> tuple[int, list[Any]]:
    """How many shards the flow's task runner runs side by side (the Dask cluster's
    threads, or 1 for the default runner, one thread) and, on Dask, the futures of a
    warm-up on every worker: the cluster starts and the workers import their code while
    this process ingests and validates."""
    context = FlowRunContext.get()
    runner = context.task_runner if context else None
    if type(runner).__name__ != "DaskTaskRunner":
        return 1, []
    client = runner.client  # type: ignore[union-attr]  # starts or connects to the cluster
    threads = client.nthreads()
    warming = [client.submit(_warm_up, workers=[w], pure=False) for w in threads]
    return max(1, sum(threads.values())), warming


@task(name="merge shards", cache_policy=NO_CACHE, persist_result=False, **IO_RETRIES)
def merge_shards(results: list[ShardResult], out_dir: Path) -> MergedResult:
    """The shards' files concatenated and totally sorted; their counts added up."""
    merged = merge_shard_results(results, out_dir)
    log.info("assigned %d member-populations", merged.counts["assignments"])
    return merged


def _run_shards(
    shard_set: ShardSet,
    rules: Rules,
    reference: ReferenceData,
    as_of: dt.date,
    out_dir: Path,
    warming: list[Any],
) -> list[ShardResult]:
    """Every shard's task, submitted to the flow's task runner; the results gathered in
    shard order, whatever order they finished in. `warming` (the workers' warm-up
    futures, held until now so that Dask does not drop them) is released."""
    futures = [
        run_one_shard.submit(shard, rules, reference, as_of, out_dir) for shard in shard_set.paths()
    ]
    warming.clear()
    results = []
    # As each finishes (on Dask, in any order): `shards: 2 of 4 done`.
    for future in as_completed(futures):
        r = future.result()
        results.append(r)
        reporter().advance(
            len(results),
            len(futures),
            item=f"shard {r.shard}",
            rows=r.counts["members"]["enrolled"],
            unit="enrolled members",
            seconds=sum(r.seconds.values()),
            shard=r.shard,
            assignments=r.counts["assignments"],
        )
    return sorted(results, key=lambda r: r.shard)


def _population_counts(counts: dict[str, Any], rules: Rules) -> dict[str, dict[str, Any]]:
    result: dict[str, dict[str, Any]] = {}
    for code in rules.population_codes:
        status = counts["population_status"][code]
        population = counts["populations"][code]
        result[code] = {
            "title": rules.population(code).get("title", code),
            **status,
            "members": population["members"] if status["status"] != "not_evaluated" else None,
            "adult": population["adult"],
            "child_youth": population["child_youth"],
        }
    return result


def build_summary(
    *,
    as_of: dt.date,
    rules: Rules,
    input_dir: Path,
    ingested: IngestResult,
    shard_set: ShardSet,
    counts: dict[str, Any],
    quality: DataQuality,
    contract_checks: dict[str, Any],
    timings: dict[str, float],
) -> dict[str, Any]:
    """The run summary, from the ingest's counts, the shards' merged counts and the data
    quality report (no frame is read here)."""
    window = RunDates.of(rules, as_of).window
    feeds: dict[str, dict[str, Any]] = {}
    for name in (*ingested.feeds, *ingested.missing_feeds):
        feed_counts = ingested.feeds.get(name)
        feeds[name] = (
            {"present": True, **feed_counts.as_dict()}
            if feed_counts
            else {"present": False, "files": 0, "read": 0, "staged": 0, "quarantined": 0}
        )
    statuses = counts["population_status"]
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
            "folder": str(Path(input_dir).resolve()),
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
        "members": dict(counts["members"]),
        # How the run was split (ecm/shards.py); every other count is the same for any N.
        "shards": {
            "shards": shard_set.shards,
            "eligibility_members": shard_set.members,
            "households": shard_set.households,
        },
        "events": dict(counts["events"]),
        "populations": _population_counts(counts, rules),
        "populations_not_evaluated": {
            code: list(st["missing_feeds"])
            for code, st in statuses.items()
            if st["status"] == "not_evaluated"
        },
        "populations_partially_evaluated": {
            code: list(st["missing_feeds"])
            for code, st in statuses.items()
            if st["status"] == "partially_evaluated"
        },
        "providers": {
            # feeds.md: the span covering the as-of date decides; members with several
            # are counted here (latest start_date, then smallest provider_npi, wins).
            "members_with_several_providers": counts["members_with_several_providers"],
        },
        "assignments": counts["assignments"],
        "assigned_members": counts["assigned_members"],
        "data_quality": {
            "quarantined_by_rule": quality.quarantined_by_rule,
            # Reported, never dropped: NPIs whose check digit fails, per feed and column.
            "npi_check_digit_failures": quality.npi_check_digit_failures,
            # The contracts' expectations and warn-severity checks (data_contracts/).
            **contract_checks,
        },
        "timings_seconds": timings,
        "platform": {
            "python": platform.python_version(),
            "polars": pl.__version__,
            "duckdb": duckdb.__version__,
        },
    }


@task(name="write outputs", cache_policy=NO_CACHE, persist_result=False, **IO_RETRIES)
def write_outputs(
    staging: Path,
    merged: MergedResult,
    quarantine_file: Path,
    summary: dict[str, Any],
    reference: ReferenceData,
    input_fingerprints: dict[str, str],
    warehouse: Path,
    rules: Rules,
    as_of: dt.date,
) -> dict[str, Any]:
    """Write every file of the run into the run's temporary output folder `staging`
    (the flow moves it into place once the warehouse is committed): the merged Parquet
    files and the quarantine are copied, assignments.csv is written from the merged
    assignments; changes.parquet and the providers' member information files compare
    the run with the previous run of an earlier as-of date in the run's warehouse copy
    `warehouse` (only read here, its history tables created when absent;
    `record_history` records the run). Returns what the
    summary adds: `changes` and `member_information_files`."""
    files: list[tuple[Path, int | None]] = []

    def copied(name: str, source: Path) -> None:
        path = staging / name
        shutil.copyfile(source, path)
        files.append((path, pl.scan_parquet(path).select(pl.len()).collect().item()))

    copied("assignments.parquet", merged.files["assignments"])
    assignments = pl.read_parquet(merged.files["assignments"])
    outputs.write_csv(assignments, staging / "assignments.csv")
    files.append((staging / "assignments.csv", assignments.height))
    copied("evidence.parquet", merged.files["evidence"])
    copied("member_metrics.parquet", merged.files["member_metrics"])
    copied("quarantine.parquet", quarantine_file)

    with interrupts.connect(warehouse) as con:
        previous = history.previous_run(con, as_of)
        before = history.run_assignments(con, previous.run_id) if previous else None
        eligibility, provider_spans = mif.read_mif_inputs(con, merged.files["assignments"])
        past_runs = _past_runs(con)
    previous_as_of = previous.as_of_date if previous else None
    changes = (
        assignment_changes(
            assignments.lazy(), before.lazy() if before is not None else None, previous_as_of
        )
        .collect()
        .cast(CHANGE_SCHEMA)
    )
    outputs.write_parquet(changes, staging / "changes.parquet")
    files.append((staging / "changes.parquet", changes.height))
    rows = member_information_rows(
        assignments.lazy(),
        eligibility.lazy(),
        provider_spans.lazy(),
        pl.scan_parquet(merged.files["member_metrics"]),
        changes.lazy(),
        as_of=as_of,
        population_codes=rules.population_codes,
        plan=mif.plan_of(rules),
        adult_min_age=rules.setting("time.adult_min_age"),
    ).collect()
    mifs = mif.write_member_information_files(rows, staging, as_of, rules.version)
    files += mifs.files
    added = {
        "changes": {
            "previous_as_of_date": previous_as_of.isoformat() if previous_as_of else None,
            "new": changes.filter(pl.col("change") == NEW).height,
            "ended": changes.filter(pl.col("change") == ENDED).height,
        },
        "member_information_files": {
            "providers": rows.filter(pl.col("folder") != UNASSIGNED)["folder"].n_unique(),
            "members": rows.height,
            "unassigned_members": rows.filter(pl.col("folder") == UNASSIGNED).height,
            **mifs.counts(),
        },
    }
    outputs.write_json({**summary, **added}, staging / "summary.json")
    files.append((staging / "summary.json", None))
    page = html_report.render_report(
        {**summary, **added}, past_runs, _changes_by_population(changes)
    )
    (staging / REPORT).write_text(page, encoding="utf-8")
    files.append((staging / REPORT, None))
    manifest = {
        "written_by": WRITTEN_BY,
        "as_of_date": summary["as_of_date"],
        "ecm_version": summary["ecm_version"],
        "rules": summary["rules"],
        "files": [outputs.file_entry(p, staging, rows) for p, rows in files],
        "inputs": input_fingerprints,
        "reference": reference.versions(),
        "member_information_files": mifs.counts(),
    }
    outputs.write_json(manifest, staging / MANIFEST)
    return added


REPORT = "report.html"


def _past_runs(con: duckdb.DuckDBPyConnection) -> list[dict[str, Any]]:
    """The warehouse's recorded runs (counts only), for the report's trend."""
    history.ensure_history_tables(con)
    return (
        con.sql(
            f"select as_of_date, enrolled_members, assignments, assigned_members "
            f"from {history.RUNS} order by as_of_date"
        )
        .pl()
        .to_dicts()
    )


def _changes_by_population(changes: pl.DataFrame) -> dict[str, dict[str, int]]:
    """changes.parquet counted: population code → {new, ended}."""
    counts: dict[str, dict[str, int]] = {}
    for code, change, n in changes.group_by("pof_code", "change").len().iter_rows():
        counts.setdefault(code, {NEW: 0, ENDED: 0})[change] = n
    return counts


@task(name="record run history", cache_policy=NO_CACHE, persist_result=False)
def record_history(warehouse: Path, run: history.RunRecord, assignments_file: Path) -> None:
    """Record the run and its assignments in the run's warehouse copy (they land with
    it, only when the run succeeds), replacing an earlier run of the same as-of date."""
    with interrupts.connect(warehouse) as con:
        history.record_run(con, run, assignments_file)


def _rows_written(folder: Path) -> int:
    """The rows of the files the run wrote into `folder`, from its manifest."""
    files = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))["files"]
    return sum(f.get("rows") or 0 for f in files)


def fingerprint_inputs(input_dir: Path) -> dict[str, str]:
    """sha256 of every regular file in the feed directory (relative path → digest); a
    named pipe, socket or device is never opened (ecm.ingest.discover.is_regular_file)."""
    return {
        str(p.relative_to(input_dir)): outputs.sha256_file(p)
        for p in sorted(Path(input_dir).rglob("*"))
        if is_regular_file(p) and not p.name.startswith(".")
    }


def _write_and_record(
    staging: Path,
    merged: MergedResult,
    quality: DataQuality,
    summary: dict[str, Any],
    reference: ReferenceData,
    warehouse: Path,
    rules: Rules,
    as_of: dt.date,
    fingerprints: dict[str, str],
) -> None:
    """Write the run's files into `staging` (the summary gains what writing counted) and
    record the run and its assignments in the warehouse copy."""
    summary.update(
        write_outputs(
            staging,
            merged,
            quality.quarantine_file,
            summary,
            reference,
            fingerprints,
            warehouse,
            rules,
            as_of,
        )
    )
    record_history(
        warehouse, _run_record(summary, rules, as_of, fingerprints), merged.files["assignments"]
    )


def _run_record(
    summary: dict[str, Any], rules: Rules, as_of: dt.date, fingerprints: dict[str, str]
) -> history.RunRecord:
    """The warehouse's record of this run (ecm.warehouse.history), from its summary."""
    previous = summary["changes"]["previous_as_of_date"]
    return history.RunRecord(
        run_id=history.new_run_id(),
        as_of_date=as_of,
        rules_version=rules.version,
        rules_sha256=rules.sha256,
        ecm_version=ecm.__version__,
        input_fingerprints=fingerprints,
        counts=history.run_counts(summary),
        previous_as_of_date=dt.date.fromisoformat(previous) if previous else None,
    )


def _shards_stage(
    timer: Timer,
    shard_set: ShardSet,
    rules: Rules,
    reference: ReferenceData,
    as_of: dt.date,
    out_dir: Path,
    warming: Any,
) -> list[ShardResult]:
    """The `shards` stage: every shard's events and rules; the shards' own events, assign
    and write seconds, added up, go to the timings as `shards_<step>`."""
    with timer.step("shards") as stage:
        results = _run_shards(shard_set, rules, reference, as_of, out_dir, warming)
        stage.count(sum(r.counts["members"]["enrolled"] for r in results), "enrolled members")
    timer.seconds.update(
        {
            f"shards_{step}": round(sum(r.seconds[step] for r in results), 3)
            for step in ("events", "assign", "write")
        }
    )
    return results


def _swap_in(
    output: OutputFolder,
    work_house: WorkWarehouse,
    out_dir: Path,
    input_dir: Path,
    warehouse: Path,
) -> None:
    """A file may have landed in --out while the run worked: check again, then commit the
    warehouse copy and swap the outputs in. The swap (renames) is never cut in the middle
    by a signal, which is honoured right after it (ecm.run.interrupts.replacing); the copy's
    checkpoint before it (seconds, for a large warehouse) may be interrupted."""
    work_house.checkpoint()
    with interrupts.replacing():
        check_output_folder(out_dir, input_dir, warehouse)
        work_house.commit()
        output.publish()


def _discard(
    work_house: WorkWarehouse | None, output: OutputFolder | None, warehouse: Path, out_dir: Path
) -> None:
    """A failed or interrupted run's copies removed: the warehouse and --out stay as they
    were. Then, still holding the locks, whatever else of the run's is left (a copy a
    signal interrupted between its making and the run's keeping its name) is removed as
    the next run would (ecm.run.safety.recover_leftovers); a failure here never hides why
    the run ended."""
    if work_house is not None:
        work_house.discard()
    if output is not None:
        output.discard()
    with contextlib.suppress(Exception):
        recover_leftovers(warehouse, out_dir)


@dataclass
class _RunHold:
    """A run's hold on the disk: its locks (ecm.run.locks), and the umask that creates its
    files with `modes` (ecm.run.file_modes) in place of the caller's `umask`."""

    locks: RunLocks
    modes: FileModes
    umask: int

    def release(self) -> None:
        """Free the locks and give the caller's umask back."""
        try:
            self.locks.release()
        finally:
            os.umask(self.umask)


def _hold_run(warehouse: Path, out_dir: Path, wait_seconds: float, rules: Rules) -> _RunHold:
    """Set the run's umask (`[output] group_readable`: everything the run creates is
    0600/0700, or 0640/0750, whatever the caller's umask), then take its locks; the
    caller's umask is given back by `release()`, or at once when the locks cannot be had."""
    modes = modes_of(rules)
    umask = set_umask(modes)
    try:
        return _RunHold(hold_run_locks(warehouse, out_dir, wait_seconds), modes, umask)
    except BaseException:
        os.umask(umask)
        raise


def _start_locked_run(
    input_dir: Path, out_dir: Path, warehouse: Path, modes: FileModes
) -> WorkWarehouse:
    """The start of a run holding its locks: clear what a run that died left behind
    (ecm.run.safety.recover_leftovers), check --out again, copy the warehouse."""
    leftovers = recover_leftovers(warehouse, out_dir)
    if leftovers:
        log.info("cleaned up after an earlier run that did not finish: %s", leftovers.describe())
    check_output_folder(out_dir, input_dir, warehouse)
    return WorkWarehouse(warehouse, modes)


@flow(
    name="ecm-monthly",
    log_prints=False,
    validate_parameters=False,
    persist_result=False,
    # One thread: the shards run one after another. `ecm run --dask` replaces the
    # runner per run with monthly.with_options(task_runner=dask_task_runner(...)).
    task_runner=ThreadPoolTaskRunner(max_workers=1),
)
def monthly(
    input_dir: Path,
    as_of: dt.date,
    out_dir: Path,
    warehouse: Path | None = None,
    rules_file: Path | None = None,
    encodings: dict[str, str] | None = None,
    shards: int | None = None,
    lock_wait_seconds: float = 0,
) -> dict[str, Any]:
    """One monthly ECM run: feeds in `input_dir`, as-of date `as_of`, files to `out_dir`.

    The members run in `shards` household shards (default: as many as the rules file's
    memory budget needs), one after another, or side by side on Dask workers when the
    flow runs with a Dask task runner; the files are the same for every shard count and
    either runner.

    All or nothing: the run works on a copy of the warehouse and a temporary output
    folder; both replace the originals only when every step (the sanity guards
    included) has passed. A failed or refused run leaves both exactly as they were.

    One run at a time per warehouse and per output folder: the run holds both run locks
    (ecm.run.locks) throughout, waiting up to `lock_wait_seconds` for another run to end
    (then RunLockedError, exit 2), and first clears what a run that died left behind.
    """
    # A linked --out or warehouse stands for its target: locked, copied and replaced there.
    input_dir, out_dir = Path(input_dir), followed(out_dir, "output folder")
    warehouse = followed(warehouse, "warehouse") if warehouse else default_warehouse(out_dir)
    check_output_folder(out_dir, input_dir, warehouse)
    rules = load_rules(rules_file)
    reference = ReferenceData.for_rules(rules)  # the value sets load_rules checked
    timer = Timer()
    log.info("as-of %s, rules %s, warehouse %s", as_of, rules.version, warehouse.resolve())
    hold = _hold_run(warehouse, out_dir, lock_wait_seconds, rules)  # before anything is written
    work_house: WorkWarehouse | None = None
    output: OutputFolder | None = None
    try:
        work_house = _start_locked_run(input_dir, out_dir, warehouse, hold.modes)
        with work_folder(warehouse) as work:
            work_dir = Path(work)
            with timer.step("start_workers"):
                workers, warming = _start_workers()
            with timer.step("ingest") as stage:
                fingerprints = fingerprint_inputs(input_dir)
                ingested = ingest_feeds(
                    input_dir, work_house.path, rules, work_dir, encodings, fingerprints
                )
                stage.count(sum(c.read for c in ingested.feeds.values()), "rows read")
            with timer.step("shard_inputs") as stage:
                shard_set = shard_inputs(
                    work_house.path,
                    rules,
                    as_of,
                    list(ingested.feeds),
                    work_dir / "shards",
                    shards,
                    workers,
                )
                quality = report_data_quality(work_house.path, work_dir)
                stage.count(shard_set.members, "members")
            with timer.step("validate"):
                contract_checks = validate_contracts(work_house.path, ingested, rules, reference)
            results = _shards_stage(
                timer, shard_set, rules, reference, as_of, work_dir / "shard_results", warming
            )
            with timer.step("merge") as stage:
                merged = merge_shards(results, work_dir / "merged")
                stage.count(merged.counts["assignments"], "member-populations")
            summary = build_summary(
                as_of=as_of,
                rules=rules,
                input_dir=input_dir,
                ingested=ingested,
                shard_set=shard_set,
                counts=merged.counts,
                quality=quality,
                contract_checks=contract_checks,
                timings=timer.seconds,
            )
            check_sanity_guards(summary, rules)
            with timer.step("write") as stage:
                output = OutputFolder(out_dir, hold.modes)
                _write_and_record(
                    output.path,
                    merged,
                    quality,
                    summary,
                    reference,
                    work_house.path,
                    rules,
                    as_of,
                    fingerprints,
                )
                stage.count(_rows_written(output.path), "rows written")
                _swap_in(output, work_house, out_dir, input_dir, warehouse)
    except BaseException as exc:
        # A full disk or a folder that cannot be written, said of the --out or warehouse
        # it concerns (exit 4; told before the copies go, to say how full it was);
        # anything else as raised.
        machine = machine_error(exc, {"output folder": out_dir, "warehouse": warehouse})
        _discard(work_house, output, warehouse, out_dir)
        if machine is not None:
            raise machine from exc
        raise
    finally:
        hold.release()
    log.info("wrote %s", out_dir)
    summary["timings_seconds"] = timer.seconds
    publish_artifacts(summary, out_dir / REPORT)
    return summary


SUMMARY_ARTIFACT = "ecm-run-summary"
POPULATIONS_ARTIFACT = "ecm-populations"


def publish_artifacts(summary: dict[str, Any], report: Path) -> None:
    """The run summary on the flow run, as Prefect artifacts: a markdown one (the counts
    per population and the report's path) and a table of the counts per population.
    Counts only. The run's files are already in place: failing to publish the artifacts
    is a warning, not a failed run."""
    from prefect.artifacts import create_markdown_artifact, create_table_artifact

    where = str(report.resolve())
    try:
        create_markdown_artifact(
            key=SUMMARY_ARTIFACT,
            markdown=html_report.summary_markdown(summary, where),
            description=f"ECM run as of {summary['as_of_date']}: counts; report {where}",
        )
        create_table_artifact(
            key=POPULATIONS_ARTIFACT,
            table=html_report.population_table(summary),
            description=f"Members per population as of {summary['as_of_date']}; report {where}",
        )
    except Exception as exc:  # the run has succeeded; the artifacts are a convenience
        log.warning("could not publish the run's Prefect artifacts: %s", type(exc).__name__)
