"""The monthly flow, a shell: ingest → validate → shards → merge → loop → write.

Each task takes paths and plain values, calls one function of a stage (ecm.ingest,
data_contracts, ecm.shards, ecm.loop, ecm.deliver, ecm.warehouse) and hands on paths or
counts, never frames; no rule, SQL or file format lives here. Only the tasks that read
and write files retry, on transient I/O errors (flows.retries); nothing is cached. The
shard tasks go to the flow's task runner: one thread by default, Dask workers with `ecm
run --dask` (ecm.run.dask); the results are gathered by shard number, so the files are
the same. The referral loop (ecm.loop) runs once, after the merge, in the flow's process.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

from prefect import flow, task
from prefect.cache_policies import NO_CACHE
from prefect.futures import as_completed
from prefect.task_runners import ThreadPoolTaskRunner

from ecm.config.dates import RunDates
from ecm.config.reference import ReferenceData
from ecm.config.rules import Rules, load_rules
from ecm.deliver import catalog
from ecm.deliver import quality as data_quality
from ecm.deliver.summary import build_summary
from ecm.deliver.write import write_run_outputs
from ecm.deliver.writers import RunResults
from ecm.ingest import IngestResult, ingest
from ecm.ingest.delivered import DELIVERED, Keeping, adopt_delivered, named_sets_sql
from ecm.ingest.fingerprints import fingerprint_inputs
from ecm.loop.stage import LoopResult, run_loop
from ecm.run import interrupts
from ecm.run.all_or_nothing import all_or_nothing
from ecm.run.dask import start_workers
from ecm.run.file_modes import FileModes, modes_of
from ecm.run.guards import check_sanity_guards
from ecm.run.logs import get_logger
from ecm.run.prefect_env import quiet_prefect_failure_logs
from ecm.run.progress import Timer, reporter
from ecm.run.safety import default_warehouse, followed
from ecm.shards.evaluate import evaluated_populations, inputs_needed
from ecm.shards.events import (
    EventsSet,
    adopt_events,
    assignments_key,
    events_key,
    keep_events,
    prepare_events,
    prune_events,
)
from ecm.shards.inputs import (
    ShardPaths,
    ShardSet,
    adopt_shard_inputs,
    prepare_shard_inputs,
    prune_kept,
    prune_shard_inputs,
)
from ecm.shards.run import MergedResult, ShardResult, merge_shard_results, run_shard
from ecm.warehouse import history
from ecm.warehouse.kept import files_folder
from ecm.warehouse.sql import use_memory_budget
from flows.artifacts import publish_artifacts
from flows.retries import IO_RETRIES

log = get_logger("flow")

PLAIN = {"cache_policy": NO_CACHE, "persist_result": False}


@task(name="ingest feeds", **PLAIN)
def ingest_feeds(
    input_dir: Path,
    warehouse: Path,
    rules: Rules,
    work_dir: Path,
    encodings,
    file_hashes,
    keeping: Keeping,
) -> IngestResult:
    """The feed directory into the run's warehouse copy, reading only the files it has not
    staged (`file_hashes`: the run's input fingerprints), the files of a feed kept whole
    kept as `keeping` says (ecm.ingest.delivered); the quarantine guard acts during it
    (ecm.ingest). No retries: reading a file that cannot be read again cannot help."""
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
            keeping=keeping,
        )


@task(name="validate contracts", **PLAIN)
def validate_contracts(
    warehouse: Path, ingested: IngestResult, rules: Rules, reference: ReferenceData
) -> dict[str, Any]:
    """The contracts' suites and the fill rates of the columns the evaluated populations
    lean on (data_contracts): summary.json's `data_quality` counts, never row values."""
    from data_contracts.fill_rates import FillRateRules
    from data_contracts.gx_suites import run_data_quality
    from ecm.ingest.tables import staged_digest

    evaluated = evaluated_populations(rules, frozenset(ingested.feeds))
    rates = FillRateRules(rules.setting, reference.value_set, evaluated)
    with interrupts.connect(warehouse) as con:
        return run_data_quality(con, ingested, rates, staged_digest(con)).as_summary()


@task(name="report data quality", **PLAIN, **IO_RETRIES)
def report_data_quality(warehouse: Path, work_dir: Path) -> data_quality.DataQuality:
    """The quarantine written to `work_dir`, and its counts (ecm.deliver.quality)."""
    with interrupts.connect(warehouse) as con:
        return data_quality.report_data_quality(con, work_dir)


@task(name="write shard inputs", **PLAIN)
def shard_inputs(
    house: Path,
    warehouse: Path,
    rules: Rules,
    dates: RunDates,
    feeds: list[str],
    root: Path,
    shards,
    workers,
) -> ShardSet:
    """Households, the shard map and every shard's inputs, written once under `root`, or
    the set `warehouse` keeps when it was made from the same staged feeds
    (ecm.shards.inputs; N shared out over `workers` running side by side)."""
    with interrupts.connect(house) as con:
        return prepare_shard_inputs(
            con,
            warehouse,
            root,
            rules,
            dates.history_start,
            frozenset(feeds),
            shards=shards,
            workers=workers,
            with_procedures="procedures" in inputs_needed(rules),
        )


@task(name="find kept events", **PLAIN)
def find_events(
    house: Path,
    warehouse: Path,
    shard_set: ShardSet,
    rules: Rules,
    reference: ReferenceData,
    dates: RunDates,
    root: Path,
) -> EventsSet:
    """The shards' events: the set `warehouse` keeps when it was made from these shard
    inputs, dates, event settings and value sets, else a new set the shards write under
    `root` (ecm.shards.events)."""
    key = events_key(shard_set.key, dates, rules, reference)
    with interrupts.connect(house) as con:
        return prepare_events(con, warehouse, root, key)


@task(name="keep events", **PLAIN)
def keep_shard_events(house: Path, events: EventsSet, shards: int) -> None:
    """The events every shard wrote, named in the run's warehouse copy as the set it keeps
    (ecm.shards.events.keep_events)."""
    with interrupts.connect(house) as con:
        keep_events(con, events, shards)


@task(name="run shard", **PLAIN, **IO_RETRIES)
def run_one_shard(
    shard: ShardPaths,
    rules: Rules,
    reference: ReferenceData,
    dates: RunDates,
    out_dir: Path,
    events: EventsSet,
) -> ShardResult:
    """One shard's events (read from the kept set, or built and written for the run to
    keep) and populations (ecm.shards.run): paths in, paths out. It may run in a Dask
    worker: it logs nothing itself, and Prefect's report of a failure (which may quote
    data) is filtered there as in the command's process."""
    quiet_prefect_failure_logs()
    return run_shard(shard, rules, dates, out_dir, reference, events)


@task(name="merge shards", **PLAIN, **IO_RETRIES)
def merge_shards(results: list[ShardResult], out_dir: Path) -> MergedResult:
    """The shards' files concatenated and totally sorted; their counts added up."""
    merged = merge_shard_results(results, out_dir)
    log.info("assigned %d member-populations", merged.counts["assignments"])
    return merged


@task(name="referral loop", **PLAIN, **IO_RETRIES)
def referral_loop(
    warehouse: Path, merged: MergedResult, rules: Rules, dates: RunDates, out_dir: Path
) -> LoopResult:
    """The referral loop, once for the run (ecm.loop): referrals and their states, the
    member information files' statuses, the review; files in `out_dir`, counts back."""
    result = run_loop(warehouse, merged.files, rules, dates, out_dir)
    log.info("%d referrals known on the as-of date", result.counts["referrals"])
    return result


# Every file of the run into its temporary output folder, as the output catalog declares
# them (ecm.deliver.write: the stage's function is the task).
write_outputs = task(name="write outputs", **PLAIN, **IO_RETRIES)(write_run_outputs)


@task(name="record run history", **PLAIN)
def record_history(
    warehouse: Path,
    run: history.RunRecord,
    assignments_file: Path,
    evidence_file: Path,
    loop: LoopResult,
) -> None:
    """The run, its assignments (which are held through the household: the evidence),
    who its member information files listed and its referrals recorded in the warehouse
    copy (ecm.warehouse.history); they land with it, only when the run succeeds."""
    with interrupts.connect(warehouse) as con:
        history.record_run(
            con,
            run,
            assignments_file,
            loop.member_files,
            loop.files["referrals"],
            evidence_file,
        )


def _run_shards(
    shard_set: ShardSet,
    rules,
    reference,
    dates: RunDates,
    out_dir: Path,
    events: EventsSet,
    warming: list,
) -> list[ShardResult]:
    """Every shard's task, submitted to the flow's task runner; the results gathered in
    shard order, whatever order they finished in. `warming` (the workers' warm-up
    futures, held until now so that Dask does not drop them) is released."""
    futures = [
        run_one_shard.submit(shard, rules, reference, dates, out_dir, events)
        for shard in shard_set.paths()
    ]
    warming.clear()
    results = []
    for future in as_completed(futures):  # on Dask, in any order: `shards: 2 of 4 done`
        r = future.result()
        results.append(r)
        reporter().advance(len(results), len(futures), **r.progress())
    return sorted(results, key=lambda r: r.shard)


def _settings(rules_file: Path | None, as_of: dt.date) -> tuple[Rules, ReferenceData, RunDates]:
    """The run's rules file (checked whole), its value sets and the run's dates; DuckDB
    held from now on to its share of the file's `[run]` memory budget."""
    rules = load_rules(rules_file)
    use_memory_budget(rules.setting("run.memory_budget_gib"))
    reference = ReferenceData.for_rules(rules)  # the value sets load_rules checked
    return rules, reference, RunDates.of(rules, as_of)


def _adopt(
    shard_set: ShardSet, events: EventsSet, keeping: Keeping, house: Path, warehouse: Path
) -> None:
    """The sets this run wrote into the warehouse's folder, just before its copy `house`
    is swapped in (ecm.warehouse.kept.adopt; the claims files kept whole, with the view
    over them: ecm.ingest.delivered.adopt_delivered)."""
    adopt_shard_inputs(shard_set, warehouse)
    adopt_events(events, warehouse)
    adopt_delivered(house, warehouse, keeping)


def _prune(warehouse: Path, modes: FileModes) -> None:
    """Once the run's copy is swapped in (its lock still held): the sets beside the
    warehouse it no longer names go (ecm.warehouse.kept.prune)."""
    prune_shard_inputs(warehouse, modes)
    prune_events(warehouse, modes)
    prune_kept(warehouse, DELIVERED, modes, named_sets_sql())


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
    """One monthly ECM run: feeds in `input_dir`, as-of date `as_of`, files to `out_dir`,
    the members in `shards` household shards (default: as the memory budget needs).

    All or nothing (ecm.run.all_or_nothing): a copy of the warehouse and a temporary
    output folder replace the originals only when every step and guard has passed; one
    run at a time per warehouse and --out (waiting up to `lock_wait_seconds`). `out_dir`
    is checked again just before the swap; flows.launch checked it before the run.
    """
    # A linked --out or warehouse stands for its target: locked, copied and replaced there.
    input_dir, out_dir = Path(input_dir), followed(out_dir, "output folder")
    warehouse = followed(warehouse, "warehouse") if warehouse else default_warehouse(out_dir)
    rules, reference, dates = _settings(rules_file, as_of)
    timer = Timer()
    log.info("as-of %s, rules %s, warehouse %s", as_of, rules.version, warehouse.resolve())
    with all_or_nothing(input_dir, out_dir, warehouse, modes_of(rules), lock_wait_seconds) as run:
        house, work = run.warehouse_copy, run.work_dir
        with timer.step("start_workers"):
            workers, warming = start_workers(__name__)
        with timer.step("ingest") as stage:
            fingerprints = fingerprint_inputs(input_dir)
            keeping = Keeping(files_folder(warehouse), work / "kept")
            ingested = ingest_feeds(input_dir, house, rules, work, encodings, fingerprints, keeping)
            stage.count(sum(c.read for c in ingested.feeds.values()), "rows read")
        with timer.step("shard_inputs") as stage:
            feeds = list(ingested.feeds)
            shard_set = shard_inputs(
                house, warehouse, rules, dates, feeds, work / "shards", shards, workers
            )
            quality = report_data_quality(house, work)
            events = find_events(
                house, warehouse, shard_set, rules, reference, dates, work / "events"
            )
            stage.count(shard_set.members, "members")
        with timer.step("validate"):
            contract_checks = validate_contracts(house, ingested, rules, reference)
        with timer.step("shards") as stage:
            results = _run_shards(
                shard_set, rules, reference, dates, work / "shard_results", events, warming
            )
            keep_shard_events(house, events, shard_set.shards)
            stage.count(sum(r.counts["members"]["enrolled"] for r in results), "enrolled members")
        timer.add("shards", [r.seconds for r in results])
        with timer.step("merge") as stage:
            merged = merge_shards(results, work / "merged")
            stage.count(merged.counts["assignments"], "member-populations")
        with timer.step("loop") as stage:
            loop = referral_loop(house, merged, rules, dates, work / "loop")
            stage.count(loop.counts["referrals"], "referrals")
        summary = build_summary(
            dates=dates,
            rules=rules,
            input_dir=input_dir,
            ingested=ingested,
            split=shard_set,
            events_kept=events.reused,
            counts=merged.counts,
            quality=quality,
            contract_checks=contract_checks,
            timings=timer.seconds,
            loop=loop,
        )
        check_sanity_guards(summary, rules)
        with timer.step("write") as stage:
            files = RunResults.of(
                {**merged.files, **loop.files}, quarantine=quality.quarantine_file
            )
            written = write_outputs(
                run.new_output(), files, summary, rules, dates, reference, fingerprints, house
            )
            summary.update(written.summary_added)
            made_from = assignments_key(events.key, rules)
            record = history.run_record(summary, rules, as_of, fingerprints, made_from)
            record_history(
                house, record, merged.files["assignments"], merged.files["evidence"], loop
            )
            stage.count(written.rows, "rows written")
            # The shard inputs and events this run wrote are kept for the next run that
            # can read them; the sets the swapped-in warehouse no longer names go.
            run.swap_in(before_commit=lambda: _adopt(shard_set, events, keeping, house, warehouse))
            _prune(warehouse, run.modes)
    log.info("wrote %s", out_dir)
    summary["timings_seconds"] = timer.seconds
    publish_artifacts(summary, out_dir / catalog.REPORT)
    return summary
