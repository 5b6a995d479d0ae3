"""What an ingest did (`IngestResult`): rows read, staged and quarantined per feed, the
files staged, kept and dropped, how a feed's files differ in columns, the staged rows
that failed a `warn` check; and the partial summary of an ingest the quarantine guard
refused (`refused_summary`). Counts, column names and file names only: no member data.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import duckdb

import ecm
from data_contracts import FeedContract
from data_contracts.sql import warning_checks
from ecm.errors import InputError
from ecm.ingest.discover import Discovery, FeedFiles
from ecm.ingest.incremental import InputFile, StagedFile
from ecm.run.guards import QuarantineShare
from ecm.warehouse.relations import relation_kind

log = logging.getLogger("ecm.ingest")


@dataclass
class IngestResult:
    """What an ingest did: counts per feed, feeds absent, files that matched no feed.

    `column_differences`: per feed whose files (drops) differ in columns, the files that
    differ, each `{file, missing_optional, extra}` (optional columns other drops have and it
    lacks, which read empty; unknown columns it has and some other drop lacks).
    `unknown_columns`: per feed, the columns its contract does not name (kept in the
    warehouse, ignored by the rules). `header_only_feeds`: optional feeds present with a
    header but no rows."""

    feeds: dict[str, FeedCounts]
    missing_feeds: list[str]
    ignored_files: list[str]
    claim_versions: dict[str, int]
    column_differences: dict[str, list[dict]] = field(default_factory=dict)
    unknown_columns: dict[str, list[str]] = field(default_factory=dict)
    header_only_feeds: list[str] = field(default_factory=list)
    # Staged rows that failed a `warn` check: {feed, rule, rows, detail}, no row values.
    warnings: list[dict] = field(default_factory=list)
    # Per feed, the files this ingest read (`staged`), kept from an earlier ingest of this
    # warehouse without reading them (`kept`), and whose rows it deleted (`dropped`).
    files: dict[str, dict[str, list[str]]] = field(default_factory=dict)


@dataclass(frozen=True)
class FeedCounts:
    """Rows of one feed: read = staged + quarantined."""

    files: int
    read: int
    staged: int
    quarantined: int

    def as_dict(self) -> dict[str, int]:
        return {
            "files": self.files,
            "read": self.read,
            "staged": self.staged,
            "quarantined": self.quarantined,
        }


@dataclass
class FileOutcomes:
    """Per feed, the files this ingest read and staged, and the staged files it kept
    (same sha256, contract and code: not read again) or dropped (changed or gone)."""

    staged: list[str] = field(default_factory=list)
    kept: list[str] = field(default_factory=list)
    dropped: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, list[str]]:
        return {"staged": self.staged, "kept": self.kept, "dropped": self.dropped}


def feed_totals(
    contract: FeedContract, feed: FeedFiles, current: list[StagedFile]
) -> tuple[int, int, int]:
    """Rows read, staged and quarantined of a feed's current files (read = staged +
    quarantined); a required feed with no row is an InputError."""
    read = sum(f.read for f in current)
    staged = sum(f.staged for f in current)
    quarantined = sum(f.quarantined for f in current)
    if read == 0 and contract.required:
        raise InputError(
            f"The {contract.name} feed ({', '.join(str(f) for f in feed.files)}) has a header "
            f"but no rows; a run needs at least one."
        )
    if staged + quarantined != read:
        raise AssertionError(
            f"{contract.name}: read {read} rows but staged {staged} and quarantined {quarantined}"
        )
    return read, staged, quarantined


def count_feed(
    result: IngestResult,
    con: duckdb.DuckDBPyConnection,
    contract: FeedContract,
    files: list[InputFile],
    current: list[StagedFile],
    totals: tuple[int, int, int],
    outcomes: FileOutcomes,
) -> None:
    """Add a feed just staged to `result`: its rows (`totals`, from feed_totals, of its
    `current` files), how its files differ in columns, the columns its contract does not
    name, whether it holds a header only, and its staged rows that failed a `warn` check;
    and log its counts."""
    name = contract.name
    read, staged, quarantined = totals
    if differences := column_differences(current, contract):
        result.column_differences[name] = differences
    if unknown := unknown_columns(current, contract):
        result.unknown_columns[name] = unknown
    if read == 0:
        result.header_only_feeds.append(name)
    result.warnings.extend(feed_warnings(con, contract, f"stg_checked__{name}") if staged else [])
    result.feeds[name] = FeedCounts(len(files), read, staged, quarantined)
    log.info(
        "%s: read %d, staged %d, quarantined %d (%d file(s) staged, %d kept, %d dropped)",
        name,
        read,
        staged,
        quarantined,
        len(outcomes.staged),
        len(outcomes.kept),
        len(outcomes.dropped),
    )


def column_differences(files: list[StagedFile], contract: FeedContract) -> list[dict]:
    """Per file of a feed, the optional columns other files have and it lacks, and the
    unknown columns it has and some other file lacks; only files that differ."""
    if len(files) < 2:
        return []
    every = [set(f.columns) for f in files]
    union = set().union(*every)
    common = set.intersection(*every)
    differences = []
    for file, columns in zip(files, every, strict=True):
        missing = [c for c in contract.optional_columns if c in union and c not in columns]
        extra = [c for c in file.columns if c not in common and c not in contract.columns]
        if missing or extra:
            differences.append({"file": file.relative, "missing_optional": missing, "extra": extra})
    return differences


def unknown_columns(files: list[StagedFile], contract: FeedContract) -> list[str]:
    """The columns of a feed's files that its contract does not name, in first-seen order."""
    unknown: dict[str, None] = {}
    for file in files:
        unknown.update((c, None) for c in file.columns if c not in contract.columns)
    return list(unknown)


def feed_warnings(
    con: duckdb.DuckDBPyConnection, contract: FeedContract, checked: str
) -> list[dict]:
    """Staged rows per failed `warn` check (the rows with any are few: scanned once)."""
    checks = warning_checks(contract)
    counts = con.execute(
        f"select number, count(*) from (select unnest(string_split(_warn, ',')) as number "
        f"from {checked} where _reject is null and _warn is not null) group by number"
    ).fetchall()
    by_number = {int(n): rows for n, rows in counts}
    return [
        {"feed": contract.name, "rule": c.rule, "rows": by_number[i], "detail": c.summary}
        for i, c in enumerate(checks)
        if i in by_number
    ]


def refused_summary(
    con: duckdb.DuckDBPyConnection,
    input_dir: Path,
    discovery: Discovery,
    counts: Mapping[str, FeedCounts],
    guard: QuarantineShare,
    files: list[InputFile],
) -> dict:
    """The summary of a run the quarantine guard stopped during the ingest (partial: no
    member, population or output was counted). `feeds`: the feeds staged before, counted
    as in a run's summary, and the refused feed's rows when it stopped, with `rows_at_most`
    (the bound its share was certain against) and `refused`; the feeds after it are not
    listed (never read). `data_quality.quarantined_by_rule`: their quarantined rows per
    feed and rule, as in a run's summary."""
    feeds: dict[str, dict] = {n: {"present": True, **c.as_dict()} for n, c in counts.items()}
    feeds[guard.feed] = {
        "present": True,
        "files": len(files),
        "read": guard.read,
        "staged": guard.read - guard.quarantined,
        "quarantined": guard.quarantined,
        "rows_at_most": guard.rows_at_most,
        "refused": True,
    }
    by_rule = [
        {"feed": feed, "rule": rule, "rows": rows}
        for feed in feeds
        if relation_kind(con, f"stg_checked__{feed}") == "BASE TABLE"
        for rule, rows in con.execute(
            f"select split_part(_reject, '|', 1) as rule, count(*) from stg_checked__{feed} "
            f"where _reject is not null group by rule order by rule"
        ).fetchall()
    ]
    return {
        "ecm_version": ecm.__version__,
        "refused_during": "ingest",
        "input": {
            "folder": str(Path(input_dir).resolve()),
            "ignored_files": [p.name for p in discovery.ignored],
        },
        "feeds": feeds,
        "data_quality": {"quarantined_by_rule": by_rule},
    }
