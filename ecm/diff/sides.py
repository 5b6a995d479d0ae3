"""The two sides of a diff: each rules file's assignments over the same staged inputs, by
the monthly run's own machinery (no rule is written twice).

`shard_inputs` finds the shard inputs once for both rules files (ecm.shards.inputs: every
table a shard reads, as Parquet, split by household): the set the last run kept in the
warehouse's folder when it was made from what is staged now, borrowed by hard links, else
written (the households, the shard map, every table), with the procedure codes when
either's method needs them. The diagnoses hold all their history; each side bounds them by
its own dates as a monthly run does. The connection writes nothing to the warehouse (its
relations and macro are temporary). `evaluate` runs one rules file over them: `run_shard`
per shard, then `merge_shard_results`, as `ecm run` does. The events the last run kept
(ecm.shards.events) are borrowed the same way for the side whose events they are
(`kept_events_of`), and read instead of built.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

import duckdb
import polars as pl

from ecm import files
from ecm.config.dates import RunDates
from ecm.config.reference import ReferenceData
from ecm.config.rules import Rules, flat_settings, shown
from ecm.run.progress import Timer, reporter
from ecm.shards.evaluate import inputs_needed, population_status
from ecm.shards.events import (
    EventsSet,
    assignments_key,
    events_fingerprint,
    events_key,
    kept_events,
)
from ecm.shards.inputs import (
    ShardSet,
    kept_shard_inputs,
    member_count,
    shard_count,
    write_shard_inputs,
)
from ecm.shards.run import MergedResult, merge_shard_results, run_shard, run_shard_each
from ecm.warehouse import history
from transforms.rules_diff import SIDE_SCHEMA


@dataclass(frozen=True)
class Side:
    """One rules file of the diff: its label (`a`, `b`), where it came from (`--rules`, or
    the run it was kept with), the rules, the run's dates under them and their reference
    data (value sets beside the rules file, then the packaged ones)."""

    label: str
    source: str
    rules: Rules
    dates: RunDates
    reference: ReferenceData

    @classmethod
    def of(cls, label: str, source: str, rules: Rules, as_of) -> Side:
        return cls(label, source, rules, RunDates.of(rules, as_of), ReferenceData.for_rules(rules))


def _per_member_budget(side: Side) -> float:
    return side.rules.setting("run.bytes_per_member") / side.rules.setting("run.memory_budget_gib")


def shard_inputs(
    con: duckdb.DuckDBPyConnection,
    warehouse: Path,
    root: Path,
    sides: list[Side],
    feeds: frozenset[str],
    shards: int | None = None,
) -> ShardSet:
    """The shard inputs of both sides under `root`, from the warehouse `con` reads: the
    set the warehouse keeps for what it has staged now (ecm.shards.inputs, borrowed: the
    last run's), else written, the procedure codes when a side's method needs them, in
    `shards` shards (default: as many as the side with the tighter memory budget per
    member needs, ecm.shards.inputs.shard_count). The diagnoses hold all their history:
    each side bounds them by its own dates (`evaluate`)."""
    needed = frozenset().union(*(inputs_needed(side.rules) for side in sides))
    with_procedures = "procedures" in needed
    tightest = max(sides, key=_per_member_budget)
    n = shards if shards is not None else shard_count(member_count(con), tightest.rules)
    found = kept_shard_inputs(
        con, warehouse, n, feeds, None, with_procedures=with_procedures, borrow_into=root
    )
    if found is not None:
        return found
    return write_shard_inputs(
        con, root, tightest.rules, None, feeds, shards=n, with_procedures=with_procedures
    )


def kept_events_of(
    con: duckdb.DuckDBPyConnection,
    warehouse: Path,
    root: Path,
    sides: list[Side],
    shard_set: ShardSet,
) -> dict[str, EventsSet]:
    """The events the last run kept (ecm.shards.events), by the label of each side whose
    events they are (made from these shard inputs, the side's dates, event settings and
    value sets): borrowed into `root` by hard links, as the shard inputs are. Empty when
    the shard inputs are not the kept set's, or no side's key is the kept events'."""
    if shard_set.key is None:
        return {}
    found: dict[str, EventsSet] = {}
    for side in sides:
        key = events_key(shard_set.key, side.dates, side.rules, side.reference)
        borrowed = next((e for e in found.values() if e.key == key), None)
        if borrowed is None:
            borrowed = kept_events(con, warehouse, key, borrow_into=root)
        if borrowed is not None:
            found[side.label] = borrowed
    return found


def recorded_sides(
    con: duckdb.DuckDBPyConnection, sides: list[Side], shard_set: ShardSet, work: Path
) -> dict[str, MergedResult]:
    """The sides a recorded run has answered already, by label: a run of the warehouse
    whose assignments were made from what the side's would be (ecm.shards.events.
    assignments_key: these shard inputs, the side's dates, its rules file's bytes, the same
    value sets and code), its assignments (ecm.warehouse.history) written to
    `work/<label>/recorded/assignments.parquet` with the counts the diff reads (each
    population's status over these inputs and members). Empty when the shard inputs are
    not the kept set's (then no run's key can be known to match)."""
    if shard_set.key is None:
        return {}
    found: dict[str, MergedResult] = {}
    for side in sides:
        key = assignments_key(
            events_key(shard_set.key, side.dates, side.rules, side.reference), side.rules
        )
        run_id = history.run_assigned(con, key)
        if run_id is None:
            continue
        assignments = history.run_assignments(con, run_id)
        folder = work / side.label / "recorded"
        folder.mkdir(parents=True)
        files.write_parquet(assignments, folder / "assignments.parquet")
        members = dict(assignments.group_by("pof_code").len().iter_rows())
        found[side.label] = MergedResult(
            files={"assignments": folder / "assignments.parquet"},
            counts={
                "assignments": assignments.height,
                "populations": {
                    code: {"members": int(members.get(code, 0))}
                    for code in side.rules.population_codes
                },
                "population_status": {
                    code: population_status(
                        side.rules.population(code), shard_set.present_feeds
                    ).as_dict()
                    for code in side.rules.population_codes
                },
            },
        )
    return found


def evaluate(
    side: Side, shard_set: ShardSet, work: Path, events: EventsSet | None = None
) -> MergedResult:
    """One side's populations over the shard inputs, shard by shard (progress: `2 of 4
    done`), its diagnoses bounded by its own dates, merged into `work/<label>/`
    (ecm.shards.run); its events read from `events` (the kept set, when its key is this
    side's), else built."""
    results = []
    for shard in replace(shard_set, since=side.dates.history_start).paths():
        result = run_shard(shard, side.rules, side.dates, work / side.label, side.reference, events)
        results.append(result)
        reporter().advance(len(results), shard_set.shards, **result.progress())
    return merge_shard_results(results, work / side.label / "merged")


def settings_changed(a: Rules, b: Rules) -> list[dict[str, str]]:
    """Every setting whose value differs between the two rules files (dotted key, each
    value as the file writes it, `(not set)` when absent), in key order."""

    left, right = flat_settings(a.data), flat_settings(b.data)
    unset = object()
    return [
        {
            "setting": key,
            "a": "(not set)" if left.get(key, unset) is unset else shown(left[key]),
            "b": "(not set)" if right.get(key, unset) is unset else shown(right[key]),
        }
        for key in sorted(left.keys() | right.keys())
        if left.get(key, unset) != right.get(key, unset)
    ]


def events_alike(a: Side, b: Side) -> bool:
    """Whether both rules files build the same events: the run's dates are the same, and so
    is their events' fingerprint (ecm.shards.events.events_fingerprint: their settings
    differ only in population blocks, `populations.*`, which only the rules of `assign`
    read, or the version, and every value set either could read comes from files of the
    same bytes). Then `evaluate_alike` builds the events once."""
    return a.dates == b.dates and events_fingerprint(a.rules, a.reference) == events_fingerprint(
        b.rules, b.reference
    )


def evaluate_alike(
    sides: list[Side], shard_set: ShardSet, work: Path, events: EventsSet | None = None
) -> dict[str, MergedResult]:
    """Both sides over the shard inputs when their events are alike (`events_alike`): per
    shard, the events built once (or read from `events`, the kept set when its key is
    theirs), then each side's population rules (ecm.shards.run.run_shard_each); merged per
    side into `work/<label>/merged`."""
    first = sides[0]
    results: dict[str, list] = {side.label: [] for side in sides}
    each = [(side.rules, work / side.label) for side in sides]
    for shard in replace(shard_set, since=first.dates.history_start).paths():
        for side, result in zip(
            sides, run_shard_each(shard, each, first.dates, first.reference, events), strict=True
        ):
            results[side.label].append(result)
        done = len(results[first.label])
        reporter().advance(done, shard_set.shards, **results[sides[-1].label][-1].progress())
    return {
        label: merge_shard_results(found, work / label / "merged")
        for label, found in results.items()
    }


def evaluate_sides(
    sides: list[Side],
    shard_set: ShardSet,
    work: Path,
    timer: Timer,
    events: dict[str, EventsSet] | None = None,
    recorded: dict[str, MergedResult] | None = None,
) -> dict[str, MergedResult]:
    """Both sides' merged results, by label: a side a recorded run answered (`recorded`,
    by label: `recorded_sides`) as it was; the others' events built once when both are to
    evaluate and alike (step `rules`), else each side on its own (steps `rules_a`,
    `rules_b`); a side with kept events (`events`, by label: `kept_events_of`) reads them
    instead of building."""
    events = events or {}
    merged = dict(recorded or {})
    sides = [side for side in sides if side.label not in merged]
    if len(sides) == 2 and events_alike(*sides):
        with timer.step("rules") as stage:
            merged = evaluate_alike(sides, shard_set, work, events.get(sides[0].label))
            stage.count(merged[sides[-1].label].counts["assignments"], "member-populations")
        return merged
    for side in sides:
        with timer.step(f"rules_{side.label}") as stage:
            merged[side.label] = evaluate(side, shard_set, work, events.get(side.label))
            stage.count(merged[side.label].counts["assignments"], "member-populations")
    return merged


def assignments_of(merged: MergedResult) -> pl.LazyFrame:
    """The columns of a side's merged assignments the diff reads (SIDE_SCHEMA)."""
    return pl.scan_parquet(merged.files["assignments"]).select(list(SIDE_SCHEMA))
