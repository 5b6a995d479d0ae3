"""The two sides of a diff: each rules file's assignments over the same staged inputs, by
the monthly run's own machinery (no rule is written twice).

`shard_inputs` finds the shard inputs once for both rules files (ecm.shards.inputs: every
table a shard reads, as Parquet, split by household): the set the last run kept in the
warehouse's folder when it was made from what is staged now, borrowed by hard links, else
written (the households, the shard map, every table), with the procedure codes when
either's method needs them. The diagnoses hold all their history; each side bounds them by
its own dates as a monthly run does. The connection writes nothing to the warehouse (its
relations and macro are temporary). `evaluate` runs one rules file over them: `run_shard`
per shard, then `merge_shard_results`, as `ecm run` does.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

import duckdb
import polars as pl

from ecm.config.dates import RunDates
from ecm.config.reference import ReferenceData
from ecm.config.rules import Rules
from ecm.run.progress import reporter
from ecm.shards.evaluate import inputs_needed
from ecm.shards.inputs import (
    ShardSet,
    kept_shard_inputs,
    member_count,
    shard_count,
    write_shard_inputs,
)
from ecm.shards.run import MergedResult, merge_shard_results, run_shard
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


def evaluate(side: Side, shard_set: ShardSet, work: Path) -> MergedResult:
    """One side's populations over the shard inputs, shard by shard (progress: `2 of 4
    done`), its diagnoses bounded by its own dates, merged into `work/<label>/`
    (ecm.shards.run)."""
    results = []
    for shard in replace(shard_set, since=side.dates.history_start).paths():
        result = run_shard(shard, side.rules, side.dates, work / side.label, side.reference)
        results.append(result)
        reporter().advance(len(results), shard_set.shards, **result.progress())
    return merge_shard_results(results, work / side.label / "merged")


def assignments_of(merged: MergedResult) -> pl.LazyFrame:
    """The columns of a side's merged assignments the diff reads (SIDE_SCHEMA)."""
    return pl.scan_parquet(merged.files["assignments"]).select(list(SIDE_SCHEMA))
