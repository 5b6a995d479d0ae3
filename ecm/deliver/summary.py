"""The run summary (`summary.json`, outputs.md "summary.json: the run, as data"), from the
counts the stages handed on: the ingest's, the shards' merged counts, the data quality
report and the contracts' checks. No frame is read here.

The writers add what writing counts (`changes`, `member_information_files`:
ecm.deliver.writers); the flow adds the final `timings_seconds`. What the ingest and the
shard split hand on is read through the two small protocols below, so this stage imports
neither `ecm.ingest` nor `ecm.shards`.
"""

from __future__ import annotations

import platform
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Protocol

import duckdb
import polars as pl

import ecm
from ecm.config.dates import RunDates
from ecm.config.rules import Rules
from ecm.deliver.quality import DataQuality


class FeedCounts(Protocol):
    def as_dict(self) -> dict[str, int]: ...


class Ingested(Protocol):
    """What the ingest counted (ecm.ingest.IngestResult)."""

    feeds: Mapping[str, FeedCounts]
    missing_feeds: list[str]
    ignored_files: list[str]
    claim_versions: dict[str, int]
    column_differences: dict[str, list[dict]]
    unknown_columns: dict[str, list[str]]
    header_only_feeds: list[str]


class Split(Protocol):
    """How the run was split (ecm.shards.inputs.ShardSet)."""

    shards: int
    members: int
    households: int


class Loop(Protocol):
    """What the referral loop counted and warned (ecm.loop.stage.LoopResult)."""

    counts: dict[str, Any]
    warnings: list[dict[str, Any]]
    proposal_counts: dict[str, Any] | None


ABSENT_FEED = {"present": False, "files": 0, "read": 0, "staged": 0, "quarantined": 0}


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


def _exclusion_counts(counts: dict[str, Any]) -> dict[str, Any]:
    found = counts["exclusions"]
    return {
        **counts["exclusion_status"],
        "members": found["members"],
        "programs": dict(found["programs"]),
        "programs_not_excluding": dict(sorted(found["programs_not_excluding"].items())),
    }


def build_summary(
    *,
    dates: RunDates,
    rules: Rules,
    input_dir: Path,
    ingested: Ingested,
    split: Split,
    counts: dict[str, Any],
    events_kept: bool,
    quality: DataQuality,
    contract_checks: dict[str, Any],
    timings: dict[str, float],
    loop: Loop,
) -> dict[str, Any]:
    """The run summary, every key in the order a run writes them (outputs.md), from the
    ingest's counts, how the run was split, the shards' merged counts, the referral
    loop's counts and the data quality report; the loop's warnings join the others in
    `data_quality.warnings`."""
    window = dates.window
    feeds: dict[str, dict[str, Any]] = {}
    for name in (*ingested.feeds, *ingested.missing_feeds):
        feed_counts = ingested.feeds.get(name)
        feeds[name] = (
            {"present": True, **feed_counts.as_dict()} if feed_counts else dict(ABSENT_FEED)
        )
    statuses = counts["population_status"]
    return {
        "ecm_version": ecm.__version__,
        "as_of_date": dates.as_of.isoformat(),
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
        # How the run was split (ecm.shards); every other count is the same for any N.
        "shards": {
            "shards": split.shards,
            "eligibility_members": split.members,
            "households": split.households,
            # True when the shard inputs were the warehouse's kept set (ecm.shards.inputs).
            "inputs_kept": split.reused,
            # True when the shards read the events an earlier run kept (ecm.shards.events).
            "events_kept": events_kept,
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
        # Programs that duplicate ECM (docs/POPULATIONS.md, "Exclusions"): evaluated, or
        # partially (claims only) without the program_enrollment feed; the members holding
        # a population excluded, per program; the rows of programs that never exclude.
        "exclusions": _exclusion_counts(counts),
        "providers": {
            # feeds.md: the span covering the as-of date decides; members with several
            # are counted here (latest start_date, then smallest provider_npi, wins).
            "members_with_several_providers": counts["members_with_several_providers"],
        },
        "assignments": counts["assignments"],
        "assigned_members": counts["assigned_members"],
        # The referral loop (loop.md, section 3): referrals, statuses, left out, review.
        "loop": dict(loop.counts),
        # Members with no ECM provider (loop.md, section 4): proposals by reason and
        # capacity use per roster provider (ecm.loop.proposals).
        "proposals": dict(loop.proposal_counts or {}),
        "data_quality": {
            "quarantined_by_rule": quality.quarantined_by_rule,
            # Reported, never dropped: NPIs whose check digit fails, per feed and column.
            "npi_check_digit_failures": quality.npi_check_digit_failures,
            # The contracts' expectations and warn-severity checks (data_contracts/),
            # then the loop's (RTF rows for members a provider was never sent).
            **contract_checks,
            "warnings": [*contract_checks.get("warnings", []), *loop.warnings],
        },
        "timings_seconds": timings,
        "platform": {
            "python": platform.python_version(),
            "polars": pl.__version__,
            "duckdb": duckdb.__version__,
        },
    }
