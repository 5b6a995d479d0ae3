"""`make bench`: time a monthly run on synthetic feeds against the scan floor.

    python -m ecm.bench [--members N] [--months M] [--format csv|parquet] [--workdir DIR]
                        [--shards N]

Steps, each timed on its own in this process:
1. generate the feeds (claim lines per minute);
2. the *scan floor*: DuckDB reading only the claim columns the rules need from the feed
   files, once — no run can be faster than reading its input;
3. the run's steps without Prefect: ingest (read, stage, quarantine, versions), shard
   inputs (households, shard map, each shard's Parquet), then through the seam
   `ecm.shard_run.run_shard` for each shard: events (members, ED visits, stays,
   criteria) and assign (every population, metrics), and merge (concatenate, sort, write);
4. the *validation cost* (inside the ingest's connection): the row checks generated
   from the contracts evaluated over every raw row of every feed, and the Great
   Expectations suites over the staged tables, against a plain DuckDB scan of the
   columns they validate (`validation_cost`);
5. peak resident memory of the process;
6. for Parquet, the incremental ingest: the claims split into monthly drops, a first
   month's ingest of every drop but the last, then the second month's with it
   (`incremental_ingest`; issue #7's target: the second ≤ 20% of the first).
Prints a Markdown table to paste into BENCHMARKS.md (with the machine and versions).
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import resource
import shutil
import time
from pathlib import Path

import duckdb
import polars as pl

from data_contracts import load_contracts
from data_contracts.gx_suites import run_data_quality, table_expectations
from data_contracts.sql import ident, row_checks
from ecm.generate import generate_feeds
from ecm.ingest import ingest
from ecm.pipeline import history_start
from ecm.reference import ReferenceData
from ecm.rules import load_rules
from ecm.shard_run import merge_shard_results, run_shard
from ecm.shards import write_shard_inputs

SCAN_COLUMNS = (
    "member_id, claim_id, claim_type, claim_start_date, claim_line_start_date, "
    "revenue_center_code, hcpcs_code, place_of_service_code, bill_type_code, diagnosis_code_1"
)


def _peak_rss_gib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2


def _claim_glob(feeds: Path) -> str:
    folder = feeds / "medical_claim"
    if folder.is_dir():
        return str(folder / "*")
    return str(next(feeds.glob("medical_claim.*")))


def scan_floor(feeds: Path) -> tuple[float, int]:
    """Seconds for DuckDB to read the rule columns of every claim line once."""
    glob = _claim_glob(feeds)
    reader = (
        "read_parquet(?)"
        if glob.endswith(".parquet")
        else ("read_csv(?, header = true, all_varchar = true, union_by_name = true)")
    )
    started = time.perf_counter()
    with duckdb.connect() as con:
        con.execute("set enable_progress_bar = false")
        # max() of every column makes the engine read each one (no pushdown shortcut).
        every = ", ".join(f"max({c.strip()})" for c in SCAN_COLUMNS.split(","))
        rows = con.sql(
            f"select count(*), {every} from (select {SCAN_COLUMNS} from {reader})",
            params=[glob],
        ).fetchall()[0][0]
    return time.perf_counter() - started, rows


def validated_columns(name: str) -> list[str]:
    """The raw columns a feed's row checks and suites read."""
    contract = load_contracts()[name]
    cols = [s.name for s in contract.specs]
    cols += [c for g in contract.position_codes for c in g.columns]
    cols += [o.start for o in contract.date_order] + [o.end for o in contract.date_order]
    cols += [c for r in contract.row_rules for c in r.columns]
    cols += list(contract.grain_key) + ([contract.member_key] if contract.member_key else [])
    cols += [c for e in table_expectations(contract) for c in e.columns]
    return list(dict.fromkeys(cols))


def validation_cost(con: duckdb.DuckDBPyConnection, ingested) -> dict[str, float]:
    """Seconds for: a plain scan of the validated columns of every present feed's raw rows
    (max() of each, so each is read); the generated row checks over the same rows (the
    `checked__<feed>` views, every check evaluated); GX's import; the GX suites."""
    feeds = list(ingested.feeds)
    started = time.perf_counter()
    for name in feeds:
        cols = validated_columns(name)
        con.execute(
            f"select count(*), {', '.join(f'max({ident(c)})' for c in cols)} from raw__{name}"
        ).fetchall()
    scan = time.perf_counter() - started
    started = time.perf_counter()
    for name in feeds:
        con.execute(f"select count(_reject), count(_warn) from checked__{name}").fetchall()
    checks = time.perf_counter() - started
    started = time.perf_counter()
    import great_expectations  # noqa: F401 - timed on its own: paid once a run

    gx_import = time.perf_counter() - started
    started = time.perf_counter()
    run_data_quality(con, ingested)
    suites = time.perf_counter() - started
    n_checks = sum(len(row_checks(load_contracts()[n])) for n in feeds)
    return {
        "scan": scan,
        "checks": checks,
        "gx import": gx_import,
        "gx suites": suites,
        "row checks": n_checks,
    }


def monthly_drops(feeds: Path, folder: Path) -> list[Path]:
    """A copy of a feed directory whose claims are monthly drops: `medical_claim/<YYYY-MM>.parquet`
    by the month of claim_start_date (read as text, so any claim format splits), every
    other feed linked to the original. Returns the drops, oldest first."""
    if folder.exists():
        shutil.rmtree(folder)
    drops = folder / "medical_claim"
    drops.mkdir(parents=True)
    for path in feeds.iterdir():
        if not path.name.startswith(("medical_claim", ".")):
            (folder / path.name).symlink_to(path.resolve())
    glob = _claim_glob(feeds)
    reader = (
        "read_parquet(?)"
        if glob.endswith(".parquet")
        else "read_csv(?, header = true, all_varchar = true, union_by_name = true)"
    )
    with duckdb.connect() as con:
        con.execute("set enable_progress_bar = false")
        con.execute(
            f"create temp table claims as select *, left(claim_start_date::varchar, 7) as _month "
            f"from {reader}",
            [glob],
        )
        months = [
            r[0] for r in con.execute("select distinct _month from claims order by 1").fetchall()
        ]
        for month in months:
            target = drops / f"{month}.parquet"
            con.execute(
                f"copy (select * exclude (_month) from claims where _month is not distinct from ?) "
                f"to '{target}' (format parquet)",
                [month],
            )
    return [drops / f"{m}.parquet" for m in months]


def incremental_ingest(feeds: Path, work: Path) -> dict[str, float]:
    """Seconds of a first month's ingest (every claim drop but the last, into a new
    warehouse) and of the second month's (the same folder plus the last drop, into the
    same warehouse: only that drop is read), as the flow runs them (a warehouse file)."""
    folder = work / "drops"
    drops = monthly_drops(feeds, folder)
    held_back = work / "held-back.parquet"
    drops[-1].replace(held_back)
    db = work / "incremental.duckdb"
    db.unlink(missing_ok=True)
    rules = load_rules()
    timings: dict[str, float] = {}
    with duckdb.connect(str(db)) as con:
        started = time.perf_counter()
        ingest(con, folder, rules, work / "tmp-1")
        timings["first month"] = time.perf_counter() - started
    held_back.replace(drops[-1])
    with duckdb.connect(str(db)) as con:
        started = time.perf_counter()
        second = ingest(con, folder, rules, work / "tmp-2")
        timings["second month"] = time.perf_counter() - started
    timings["drops"] = len(drops)
    timings["files read in the second month"] = sum(len(f["staged"]) for f in second.files.values())
    return timings


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--members", type=int, default=100_000)
    parser.add_argument("--months", type=int, default=24)
    parser.add_argument("--format", choices=["csv", "parquet"], default="csv")
    parser.add_argument("--workdir", type=Path, default=Path("bench-data"))
    parser.add_argument(
        "--shards", type=int, default=None, help="Default: from the rules file's budget."
    )
    args = parser.parse_args(argv)

    as_of = dt.date(2026, 10, 31)
    work = args.workdir
    feeds = work / f"feeds-{args.members}-{args.months}-{args.format}"
    timings: dict[str, float] = {}
    if feeds.exists():
        shutil.rmtree(feeds)
    started = time.perf_counter()
    stats = generate_feeds(
        feeds, members=args.members, months=args.months, end=as_of, seed=7, fmt=args.format
    )
    timings["generate"] = time.perf_counter() - started
    lines = stats.rows["medical_claim"]

    timings["scan floor"], scanned = scan_floor(feeds)
    assert scanned == lines, (scanned, lines)

    rules = load_rules()
    ref = ReferenceData()
    db = work / "bench.duckdb"
    db.unlink(missing_ok=True)
    # Two connections, as the flow's tasks have: the ingest's buffers are released first.
    with duckdb.connect(str(db)) as con:
        started = time.perf_counter()
        ingested = ingest(con, feeds, rules, work / "tmp")
        timings["ingest"] = time.perf_counter() - started
        validation = validation_cost(con, ingested)
    shard_root = work / "shards"
    if shard_root.exists():
        shutil.rmtree(shard_root)
    with duckdb.connect(str(db)) as con:
        started = time.perf_counter()
        shard_set = write_shard_inputs(
            con,
            shard_root / "inputs",
            rules,
            history_start(rules, as_of),
            frozenset(ingested.feeds),
            shards=args.shards,
            with_procedures=rules.setting("methods.unplanned_stay") == "cms_planned",
        )
        timings["shard inputs"] = time.perf_counter() - started
    results = [
        run_shard(shard, rules, as_of, shard_root / "results", ref) for shard in shard_set.paths()
    ]
    timings["events"] = sum(r.seconds["events"] for r in results)
    timings["assign"] = sum(r.seconds["assign"] for r in results)
    timings["shard files"] = sum(r.seconds["write"] for r in results)
    started = time.perf_counter()
    merged = merge_shard_results(results, work / "out")
    timings["merge + write"] = time.perf_counter() - started
    counts = merged.counts

    floor = timings["scan floor"]
    run_steps = ("ingest", "shard inputs", "events", "assign", "shard files", "merge + write")
    run_total = sum(timings[k] for k in run_steps)
    print(
        f"\n### {args.members:,} members × {args.months} months, {args.format} "
        f"({lines:,} claim lines), as of {as_of}, {shard_set.shards} shard(s)\n"
    )
    print(
        f"Machine: {platform.machine()}, {os.cpu_count()} cores; Python "
        f"{platform.python_version()}, polars {pl.__version__}, duckdb {duckdb.__version__}\n"
    )
    print("| step | seconds | × scan floor |")
    print("|---|---:|---:|")
    for step, seconds in timings.items():
        print(f"| {step} | {seconds:.2f} | {seconds / floor:.1f} |")
    print(f"| **run (ingest → write)** | **{run_total:.2f}** | **{run_total / floor:.1f}** |")
    print(
        f"\nGenerator: {lines / timings['generate'] * 60:,.0f} claim lines a minute. "
        f"Assignments: {counts['assignments']:,} for {counts['assigned_members']:,} members. "
        f"Peak RSS {_peak_rss_gib():.1f} GiB."
    )
    v = validation
    checked = v["checks"] + v["gx suites"]
    print(
        f"\nValidation ({v['row checks']:.0f} generated row checks over every feed, then the GX "
        f"suites): plain scan of the validated columns {v['scan']:.2f} s; generated checks "
        f"{v['checks']:.2f} s ({v['checks'] / v['scan']:.2f}x); GX suites {v['gx suites']:.2f} s "
        f"({v['gx suites'] / v['scan']:.2f}x) plus import {v['gx import']:.2f} s; checks + "
        f"suites {checked:.2f} s = {checked / v['scan']:.2f}x the scan."
    )
    if args.format == "parquet":
        inc = incremental_ingest(feeds, work / "incremental")
        first, second = inc["first month"], inc["second month"]
        print(
            f"\nIncremental ingest ({inc['drops']:.0f} monthly claim drops): first month (every "
            f"drop but the last) {first:.2f} s; second month (+ the last drop; files read: "
            f"{inc['files read in the second month']:.0f}) {second:.2f} s = "
            f"{second / first:.0%} of the first."
        )
    by_pof = sorted((c, p["members"]) for c, p in counts["populations"].items())
    print("\n" + ", ".join(f"{c} {n:,}" for c, n in by_pof))


if __name__ == "__main__":
    main()
