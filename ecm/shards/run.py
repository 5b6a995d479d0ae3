"""The seam of a run: one shard in (paths), its result files out; then the merge.

`run_shard` reads one shard's inputs (ecm.shards.inputs) into the `Inputs` shape, builds its
events (or reads the ones a run kept: ecm.shards.events) and applies every population rule
with the unchanged `build_events` / `assign_populations`, and writes the shard's
assignments, evidence, member metrics and exclusions as Parquet with the counts the run
summary needs. It holds no global state and takes only plain, picklable arguments, so a
task runner may run shards in other processes.

`merge_shard_results` concatenates the shards' files and sorts them totally, so a run's
files are byte-identical whatever the number of shards; the counts add up.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import polars as pl

from ecm import files as outputs
from ecm.config.dates import RunDates
from ecm.config.reference import ReferenceData
from ecm.config.rules import Rules
from ecm.shards.evaluate import (
    Evaluation,
    Events,
    Inputs,
    PopulationRows,
    assign_populations,
    build_events,
    scan_inputs,
)
from ecm.shards.events import (
    EventsSet,
    read_events,
    read_population_rows,
    write_events,
    write_population_rows,
)
from ecm.shards.inputs import ShardPaths
from transforms.exclusions import EXCLUSION_KEY

# Each output's order: its grain's keys (as transforms.assign sorts them), then every
# other column as a tie-breaker, so rows come in one order whatever shard they came from.
OUTPUT_ORDER: dict[str, tuple[tuple[str, ...], bool]] = {
    # name: (keys, nulls_last)
    "assignments": (("member_id", "pof_code"), False),
    "evidence": (
        ("member_id", "pof_code", "criterion", "event_date", "source_key", "code"),
        True,
    ),
    "member_metrics": (("member_id",), False),
    "exclusions": (EXCLUSION_KEY, True),
    # Read by the proposals after the merge (ecm.loop.proposals); not an output file.
    "primary_care": (("member_id",), False),
}
COUNTS_FILE = "counts.json"


@dataclass(frozen=True)
class ShardResult:
    """One shard's result files (by output name), its counts and its step timings."""

    shard: int
    files: dict[str, Path]
    counts: dict[str, Any]
    seconds: dict[str, float]

    def progress(self) -> dict[str, Any]:
        """What the run's progress says of this shard once it is done (ecm.run.progress:
        `shards: 2 of 4 done — shard 1, 120,480 enrolled members`): counts only."""
        return {
            "item": f"shard {self.shard}",
            "shard": self.shard,
            "rows": self.counts["members"]["enrolled"],
            "unit": "enrolled members",
            "seconds": sum(self.seconds.values()),
            "assignments": self.counts["assignments"],
        }


@dataclass(frozen=True)
class MergedResult:
    """The run's merged result files (by output name) and counts."""

    files: dict[str, Path]
    counts: dict[str, Any]


def exclusion_counts(result: Evaluation, rules: Rules) -> dict[str, Any]:
    """The exclusions counted for the summary (docs/OUTPUTS.md): the members holding a
    population who are excluded, per program in force those members, and the
    program_enrollment rows of programs that never exclude, by program."""
    holding = result.exclusions.join(
        result.assignments.select("member_id").unique(), on="member_id", how="semi"
    )
    by_program = dict(holding.group_by("program").agg(pl.col("member_id").n_unique()).iter_rows())
    return {
        "members": holding["member_id"].n_unique(),
        "programs": {
            code: int(by_program.get(code, 0)) for code in rules.setting("exclusions.programs")
        },
        "programs_not_excluding": dict(result.programs_not_excluding),
    }


def shard_counts(events: Events, result: Evaluation, rules: Rules) -> dict[str, Any]:
    """What the run summary counts, for one shard: members enrolled (adult, child_youth),
    ED visits and stays, assignments and assigned members, members with several ECM
    providers, per population its members by age group and its evaluation status, and
    the exclusions (`exclusion_counts`) with their evaluation status."""
    members = events.members
    assignments = result.assignments
    populations: dict[str, dict[str, int]] = {}
    for code in rules.population_codes:
        rows = assignments.filter(pl.col("pof_code") == code)
        by_group = dict(rows.group_by("age_group").len().iter_rows())
        populations[code] = {
            "members": rows.height,
            "adult": int(by_group.get("adult", 0)),
            "child_youth": int(by_group.get("child_youth", 0)),
        }
    return {
        "members": {
            "enrolled": members.height,
            "adult": members.filter(pl.col("age_group") == "adult").height,
            "child_youth": members.filter(pl.col("age_group") == "child_youth").height,
        },
        "events": {"ed_visits": events.ed_visits.height, "stays": events.stays.height},
        "assignments": assignments.height,
        "assigned_members": assignments["member_id"].n_unique(),
        "members_with_several_providers": result.members_with_several_providers,
        "populations": populations,
        "population_status": {
            code: status.as_dict() for code, status in result.population_status.items()
        },
        "exclusions": exclusion_counts(result, rules),
        "exclusion_status": result.exclusion_status.as_dict(),
    }


def run_shard(
    shard: ShardPaths,
    rules: Rules,
    dates: RunDates,
    out_dir: Path,
    reference: ReferenceData | None = None,
    events: EventsSet | None = None,
) -> ShardResult:
    """Run one shard: its inputs from `shard`, its result files into
    `out_dir/shard=<i>/` (assignments, evidence, member_metrics, exclusions .parquet and
    counts.json).
    `reference` is the rules file's (its value sets beside it, then the packaged ones)
    when not given. `events`: where the shard's events are kept (read them) or are to be
    kept (build and write them), ecm.shards.events; None: build them only."""
    return run_shard_each(shard, [(rules, Path(out_dir))], dates, reference, events)[0]


def shard_events(
    shard: ShardPaths,
    inputs: Inputs,
    reference: ReferenceData,
    rules: Rules,
    dates: RunDates,
    events: EventsSet | None,
) -> Events:
    """The shard's events: read from the kept set when `events` is one (its key was made
    from these inputs, dates and rules), else built (`build_events`) and, when `events`
    says to keep them, written into its folder for the run to keep."""
    if events is not None and events.reused:
        return read_events(events.folder(shard.shard), dates)
    built = build_events(inputs, reference, rules, dates)
    if events is not None and events.keep:
        write_events(built, events.folder(shard.shard))
    return built


def run_shard_each(
    shard: ShardPaths,
    each: list[tuple[Rules, Path]],
    dates: RunDates,
    reference: ReferenceData | None = None,
    events: EventsSet | None = None,
) -> list[ShardResult]:
    """One shard's events, built once with the first rules file (or read: `shard_events`),
    then every population rule of each rules file of `each` over them, its files into its
    own `out_dir/shard=<i>/` (as `run_shard`); a population whose block and window the
    rules files share is evaluated once. Only for rules files whose events are the
    same: they differ in population blocks alone and read the same value sets (`ecm diff`
    checks it: ecm.diff.sides); the events' seconds are the first result's."""
    first = each[0][0]
    reference = reference if reference is not None else ReferenceData.for_rules(first)
    inputs = scan_inputs(shard.files(), shard.present_feeds, shard.since)
    started = time.perf_counter()
    found = shard_events(shard, inputs, reference, first, dates, events)
    built = time.perf_counter()
    results = []
    # The populations' rows by what their rules were given (evaluate.rule_key): a
    # population whose block two rules files share is evaluated once
    # (evaluate.evaluate_populations); a set of events kept holds the rows of the run that
    # built it, which a later run over them reads for each population whose rule is given
    # the same again. One rules file whose events are not kept keeps none.
    keeping = events is not None and events.keep and not events.reused
    known: dict[str, PopulationRows] | None = None
    if events is not None and events.reused:
        known = read_population_rows(events.folder(shard.shard))
    elif keeping or len(each) > 1:
        known = {}
    for rules, out_dir in each:
        began = time.perf_counter()
        result = assign_populations(found, inputs, rules, known=known)
        assigned = time.perf_counter()
        folder = Path(out_dir) / f"shard={shard.shard}"
        folder.mkdir(parents=True, exist_ok=True)
        files = {}
        for name in OUTPUT_ORDER:
            files[name] = folder / f"{name}.parquet"
            outputs.write_parquet(getattr(result, name), files[name])
        counts = shard_counts(found, result, rules)
        outputs.write_json(counts, folder / COUNTS_FILE)
        results.append(
            ShardResult(
                shard=shard.shard,
                files=files,
                counts=counts,
                seconds={
                    "events": round(built - started, 3) if not results else 0.0,
                    "assign": round(assigned - began, 3),
                    "write": round(time.perf_counter() - assigned, 3),
                },
            )
        )
    if keeping and known is not None:
        write_population_rows(known, events.folder(shard.shard))
    return results


# The counts every shard reports alike (they depend on the feeds present and the rules
# only): taken once, never added.
SAME_IN_EVERY_SHARD = ("population_status", "exclusion_status")


def merge_counts(counts: list[dict[str, Any]]) -> dict[str, Any]:
    """The counts of several shards added up (a key one shard lacks counts 0 there: the
    programs a shard found, say; such keys come sorted); every shard must report the same
    population and exclusion statuses."""

    def add(a: Any, b: Any) -> Any:
        if isinstance(a, dict):
            keys = [*a, *(k for k in b if k not in a)]
            merged = {k: add(a[k], b[k]) if k in a and k in b else a.get(k, b.get(k)) for k in keys}
            return merged if keys == [*a] else dict(sorted(merged.items()))
        return a + b

    if not counts:
        raise ValueError("No shard results to merge.")
    for key in SAME_IN_EVERY_SHARD:
        if any(c[key] != counts[0][key] for c in counts):
            raise AssertionError(f"Shards disagree on {key}.")
    total = {k: v for k, v in counts[0].items() if k not in SAME_IN_EVERY_SHARD}
    for other in counts[1:]:
        total = add(total, {k: v for k, v in other.items() if k not in SAME_IN_EVERY_SHARD})
    for key in SAME_IN_EVERY_SHARD:
        total[key] = counts[0][key]
    return total


def sort_totally(frame: pl.DataFrame, keys: tuple[str, ...], nulls_last: bool) -> pl.DataFrame:
    """Sorted by `keys`, then by every other column: one order for any set of rows."""
    rest = [c for c in frame.columns if c not in keys]
    return frame.sort([*keys, *rest], nulls_last=nulls_last).rechunk()


def merge_shard_results(results: list[ShardResult], out_dir: Path) -> MergedResult:
    """Concatenate the shards' result files, sort each output totally and write it to
    `out_dir/<name>.parquet`; add up the shards' counts."""
    ordered = sorted(results, key=lambda r: r.shard)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    files: dict[str, Path] = {}
    for name, (keys, nulls_last) in OUTPUT_ORDER.items():
        frame = pl.scan_parquet([r.files[name] for r in ordered]).collect()
        files[name] = out_dir / f"{name}.parquet"
        outputs.write_parquet(sort_totally(frame, keys, nulls_last), files[name])
    return MergedResult(files=files, counts=merge_counts([r.counts for r in ordered]))
