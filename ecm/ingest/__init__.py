"""Ingest: a feed directory into the DuckDB warehouse.

For every feed of the contract (data_contracts/), in order, `ingest`:

1. *discovers* its files (`discover`: `NAME.csv`, `.txt`/`.psv`, `.tsv`, each also
   gzipped, `.parquet`, `.xlsx`, `NAME_<anything>` with those endings, or a folder
   `NAME/` of monthly drops; regular files only; the `--encoding` options);
2. decides which to stage, keep or drop (`incremental`: a file staged before with the same
   sha256, contract, staging code and ecm version is kept; the kept rows' members are
   checked again against this run's eligibility);
3. *measures* each file to stage before it is read (`measure`: its lines' length, its
   uncompressed size, at most how many rows; the disk's room for it);
4. *reads* it as text columns with the file and line every row came from (`read`, one
   module a format: `read_text`, `read_parquet`, `read_excel`; the header checked by
   `header`, a column delivered under one of its contract `aliases` named as the column);
5. *stages* it in pieces (`stage`): each row checked with the checks generated from its
   contract (data_contracts/sql.py), its coded values first mapped by the rules file's
   value aliases (`[loop.aliases.<column>]`, `FeedContract.with_value_aliases`), cast and
   normalised by `sql/staging/stg__NAME.sql`;
   rows that break an `error` rule go to the `quarantine` table with the rule and the raw
   row, the rest are the view `stg__NAME`; the quarantine guard counts each piece.
   read = staged + quarantined is checked for every feed (`result`). A feed kept whole
   (the claims) stores only the columns a run reads, and keeps each file as delivered in
   the warehouse's folder (`delivered`: the view `delivered__NAME`).

Then the claim versions are resolved (`claim_versions`). The tables the ingest keeps
beside the staged feeds are in `tables`; what it did is an `IngestResult` (`result`). A
file that cannot be read stops the ingest with an `InputError` that names the file, the
column or line, and what was expected. Nothing here logs member data: only counts and
file names.

May import: `ecm.errors`, `ecm.files`, `ecm.config`, `ecm.run`, `ecm.warehouse`,
`data_contracts`. Imports neither `ecm.shards` nor `ecm.deliver`, nor `flows/`. Inside the
package, imports go one way (tests/test_ingest_modules.py), lowest first: `discover`,
`fingerprints`, `header`, `read_text`, `read_parquet`, `read_excel`, `measure`, `read`, `tables`,
`delivered`, `claim_versions`, `incremental`, `stage`, `result`, then `ingest` here. SQL names and
texts are quoted by `data_contracts.sql` (`ident`, `ident_list`, `lit`), the project's one
quoting helper.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import duckdb

from data_contracts import load_contracts
from ecm.config.rules import Rules
from ecm.errors import SanityGuardError
from ecm.ingest.claim_versions import VERSIONED_FEED, resolve_claim_versions, touch_every_claim
from ecm.ingest.delivered import Keeping
from ecm.ingest.discover import discover_feeds, encoding_of
from ecm.ingest.incremental import (
    current_files,
    drop_unknown_columns,
    input_files,
    plan_feed,
    recheck_kept_rows,
    staging_sha256,
)
from ecm.ingest.measure import measure_file
from ecm.ingest.result import (
    FileOutcomes,
    IngestResult,
    count_feed,
    feed_totals,
    refused_summary,
)
from ecm.ingest.stage import feed_quarantine_guard, finish_feed, stage_absent_feed, stage_files
from ecm.ingest.tables import prepare_warehouse
from ecm.run.progress import NO_PROGRESS, Reporter
from ecm.warehouse.kept import files_folder


def ingest(
    con: duckdb.DuckDBPyConnection,
    input_dir: Path,
    rules: Rules,
    work_dir: Path,
    progress: Reporter | None = None,
    *,
    encodings: Mapping[str, str] | None = None,
    file_hashes: Mapping[str, str] | None = None,
    quarantine_guard: str | None = None,
    keeping: Keeping | None = None,
    keep_whole: bool = True,
) -> IngestResult:
    """Load a feed directory into the warehouse: stg__*, quarantine, claims current.

    Incremental: a file already staged in this warehouse with the same sha256 (and the
    same contract, staging code and ecm version) is not read again; the rows of a file
    changed or gone are deleted; only new and changed files are read and staged. The
    checks that span files run over every staged row each time: the member check of the
    kept rows against this run's eligibility (`recheck_kept_rows`), the claim versions,
    and (in `data_contracts.gx_suites`) the grain's duplicates. The result equals a full
    ingest of the folder.

    `file_hashes` maps a file's path relative to `input_dir` to its sha256 (the flow's
    input fingerprints: each file is hashed once a run); a file it lacks is hashed here.
    `encodings` maps a feed name, or `"*"` for every other feed, to the encoding of its
    text files (default UTF-8); `parse_encoding_options` builds it from `--encoding`.
    `progress` is told each file read and staged (ecm.run.progress).

    A file is never trusted for its size: each is measured before it is read
    (`measure_file`: a line longer than guards.max_line_bytes is an InputError), the disk
    holding the warehouse must have room for it (`check_disk_room`: MachineError), and it
    is staged in pieces. With `quarantine_guard` `"run"`, a feed whose quarantined share
    passes guards.max_quarantined_share stops the ingest with SanityGuardError as soon as
    the share is certain (guards.QuarantineShare), carrying the partial summary of
    `refused_summary`; with `"validation"` (`ecm validate`, which reports every broken
    row) only once more than a piece of the feed is read (a feed of one piece is read
    whole); without it the shares are only counted.

    A feed kept whole (its contract's `stored_columns`: the claims) keeps each file as
    delivered where `keeping` says (ecm.ingest.delivered; default: in the folder beside
    `con`'s database file, or in `work_dir` for one in memory); a run, working on a copy
    of the warehouse, passes the folder of the warehouse it replaces and its work folder
    for the sets it writes, moved in at its swap (`adopt_delivered`). `keep_whole` False
    keeps nothing (`ecm validate` into its own temporary warehouse, removed after)."""
    report_to = progress or NO_PROGRESS
    input_dir = Path(input_dir)
    if keep_whole and keeping is None:
        keeping = Keeping.in_place(_kept_in(con, Path(work_dir)))
    keeping = keeping if keep_whole else None
    # The rules file's aliases of coded values, applied when a feed is staged.
    contracts = {n: c.with_value_aliases(rules.setting) for n, c in load_contracts().items()}
    discovery = discover_feeds(input_dir, contracts)
    prepare_warehouse(con)
    hashes = dict(file_hashes or {})
    result = IngestResult(
        feeds={},
        missing_feeds=[n for n in contracts if n not in discovery.feeds],
        ignored_files=[p.name for p in discovery.ignored],
        claim_versions={},
    )
    outcomes: dict[str, FileOutcomes] = {}
    for name, contract in contracts.items():
        feed = discovery.feeds.get(name)
        files = input_files(feed, input_dir, hashes)
        version = staging_sha256(contract)
        to_stage, dropped = plan_feed(con, contract, files, version, keeping)
        outcome = outcomes[name] = FileOutcomes(dropped=dropped)
        to_stage = recheck_kept_rows(con, contract, files, to_stage)
        outcome.kept = [f.relative for f in files if f not in to_stage]
        if name == VERSIONED_FEED and not outcome.kept:
            touch_every_claim(con)
        if feed is None:
            stage_absent_feed(con, contract, dropped, keeping)
            continue
        # Every file to stage is measured first (its lines' length checked), so that
        # the guard knows at most how many rows the feed holds before any is staged.
        measures = {
            f.relative: measure_file(f.path, rules.setting("guards.max_line_bytes"))
            for f in to_stage
        }
        guard = feed_quarantine_guard(
            con, contract, files, to_stage, measures, rules, quarantine_guard
        )
        try:
            staged_raw = stage_files(
                con,
                contract,
                files,
                to_stage,
                input_dir,
                work_dir,
                encoding_of(name, encodings),
                report_to,
                measures,
                guard,
                version,
                keeping,
            )
            current = current_files(con, name, files)
            totals = feed_totals(contract, feed, current)
            guard.check_feed(totals[0], totals[2])
        except SanityGuardError as refused:
            refused.summary = refused_summary(con, input_dir, discovery, result.feeds, guard, files)
            raise
        outcome.staged = [raw.file for raw in staged_raw]
        if dropped:
            drop_unknown_columns(con, contract, current)
        finish_feed(con, contract, staged_raw, keeping)
        count_feed(result, con, contract, files, current, totals, outcome)
    with report_to.step("resolving claim versions"):
        result.claim_versions = resolve_claim_versions(
            con, rules, every_claim=not outcomes[VERSIONED_FEED].kept
        )
    result.files = {n: o.as_dict() for n, o in outcomes.items()}
    return result


def _kept_in(con: duckdb.DuckDBPyConnection, work_dir: Path) -> Path:
    """The warehouse's own folder beside `con`'s database file (`work_dir` in memory)."""
    path = con.execute(
        "select path from duckdb_databases() where database_name = current_database()"
    ).fetchall()[0][0]
    return files_folder(Path(path)) if path else work_dir / "warehouse.files"
