"""Each shard's events kept between runs (issue #18): a rerun with another rules file whose
events are the same reads them instead of building them again.

A shard's events (`ecm.shards.evaluate.Events`: the members enrolled on the as-of date, the
ED visits, the stays, the shared criteria, the unenrolled children, the primary care, the
member metrics and the exclusions) depend on the shard's inputs, the run's dates, the rules
file's settings outside the population blocks and the value sets' bytes, never on a
population block (only `assign_populations` reads those). What they are made from is one
fingerprint (`events_fingerprint`, which `ecm diff` also compares to build them once for both
rules files), and the set is named by the sha256 of it with the rest (`events_key`): the
shard-input set's key, the dates, a format constant, the ecm and Polars versions, and the
source of the code and the published tables that build events (so a developer's change never
reuses stale events).

Beside each shard's events the run that builds them keeps every population's collected rows
under its rule's key (`write_population_rows`, ecm.shards.evaluate.rule_key); a later run or
`ecm diff` over the same events reads them (`read_population_rows`) and evaluates only the
populations its rules file gives another rule, settings or window.

The set lives in the warehouse's own folder as the shard inputs do (ecm.warehouse.kept,
kind `events`: `W.files/events/<key>/shard=<i>/<name>.parquet`) with the same life: a run
whose key is the kept set's reads it where it is (`prepare_events`); else each shard writes
its events under the run's work folder as it builds them (`ecm.shards.run.run_shard_each`,
on Dask too), the run marks the set complete and names it in its copy's catalog once every
shard is done (`keep_events`), moves it in just before its copy is swapped in
(`adopt_events`) and prunes the set no longer named after the swap (`prune_events`). A reader
without the warehouse's lock (`ecm diff`) borrows the set by hard links (`kept_events`).
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import json
import logging
from dataclasses import dataclass, fields
from functools import cache
from pathlib import Path
from typing import Any

import duckdb
import polars as pl

import ecm
import transforms
from ecm.config import cms_planned
from ecm.config import reference as reference_module
from ecm.config import rules as rules_module
from ecm.config.dates import RunDates
from ecm.config.reference import ReferenceData
from ecm.config.rules import Rules, flat_settings
from ecm.run.file_modes import FileModes
from ecm.shards import evaluate
from ecm.shards.evaluate import Events, PopulationRows
from ecm.shards.inputs import prune_kept
from ecm.warehouse import kept
from transforms.criteria import Criteria

log = logging.getLogger("ecm.shards")

# The kind of set the warehouse's folder keeps events under (ecm.warehouse.kept).
EVENTS = "events"
# Raised when the files a set holds change shape: an older set is then never read.
EVENTS_FORMAT = 3
# The code that builds events (besides this module): a change to any of it is another key.
_EVENTS_CODE = (
    Path(transforms.__file__).resolve().parent,
    Path(evaluate.__file__).resolve(),
    Path(reference_module.__file__).resolve(),
    Path(cms_planned.__file__).resolve(),
    Path(__file__).resolve(),
)
# The code that turns a shard's events into the run's merged assignments besides that
# (`assign_populations` is in evaluate.py, the populations' rules in transforms/): the
# shards' merge, and the reading of a rules file's population blocks.
_ASSIGN_CODE = (
    Path(__file__).resolve().with_name("run.py"),
    Path(rules_module.__file__).resolve(),
)
# The published tables the events read from the reference folder (not value sets).
_EVENTS_TABLES = ("nyu", "pqi", "cms_planned")
# The frames of Events written as files, by name (the criteria's as `criteria.<name>`).
_FRAMES = tuple(f.name for f in fields(Events) if f.name not in ("dates", "criteria"))
_CRITERIA = tuple(f.name for f in fields(Criteria))
# Beside a shard's events: each population's collected rows, under its rule's key
# (`populations/<rule key>/<part>.parquet`, ecm.shards.evaluate.rule_key).
POPULATIONS = "populations"
_ROW_PARTS = ("qualified", "evidence", "parts")


def event_settings(rules: Rules) -> dict[str, Any]:
    """The settings of `rules` the events may read: every one outside the population blocks
    (`populations.*`) and the version."""
    return {
        key: value
        for key, value in flat_settings(rules.data).items()
        if not (key.startswith("populations.") or key == "version")
    }


def value_set_digests(reference: ReferenceData) -> dict[str, str]:
    """The sha256 of every value set `reference` could read, by name: each name found in its
    folders (a plan's `value_sets/`, then the packaged one), read from where the run reads
    it (the first folder holding it)."""
    names = {p.stem for folder in reference.value_set_folders for p in Path(folder).glob("*.csv")}
    digests = {}
    for name in sorted(names):
        path = reference.value_set_path(name)
        if path is not None:
            digests[name] = hashlib.sha256(path.read_bytes()).hexdigest()
    return digests


def events_fingerprint(rules: Rules, reference: ReferenceData) -> dict[str, Any]:
    """What a rules file gives its events besides the dates: the settings outside the
    population blocks and the bytes of every value set it could read. Two rules files with
    the same fingerprint and dates build the same events from the same inputs."""
    return {"settings": event_settings(rules), "value_sets": value_set_digests(reference)}


def _file_digest(digest, root: Path) -> None:
    """Add every file under `root` (or `root` itself), by path and content, to `digest`."""
    files = sorted(root.rglob("*")) if root.is_dir() else [root]
    for path in files:
        if path.is_file() and path.suffix != ".pyc":
            digest.update(str(path.relative_to(root.parent)).encode())
            digest.update(hashlib.sha256(path.read_bytes()).digest())


@cache
def _code_digest(reference_root: Path) -> str:
    """sha256 of the code that builds events and of the published tables it reads under
    `reference_root`, with the versions of the libraries that compute and store them."""
    digest = hashlib.sha256()
    roots = [*_EVENTS_CODE, *(reference_root / name for name in _EVENTS_TABLES)]
    for root in roots:
        _file_digest(digest, root)
    for package in ("polars", cms_planned.CROSSWALK_PACKAGE):
        try:
            version = importlib.metadata.version(package)
        except importlib.metadata.PackageNotFoundError:
            version = None
        digest.update(f"{package}={version}".encode())
    return digest.hexdigest()


def events_key(
    shard_inputs_key: str, dates: RunDates, rules: Rules, reference: ReferenceData
) -> str:
    """sha256 of everything a shard's events are made from: the shard-input set's key
    (ecm.shards.inputs.shard_inputs_key), the run's dates, `events_fingerprint`, a format
    constant, the ecm version and `_code_digest` (the code and tables building them)."""
    made_from = {
        "format": EVENTS_FORMAT,
        "ecm": ecm.__version__,
        "shard_inputs": shard_inputs_key,
        "dates": {
            "as_of": dates.as_of,
            "window": [dates.window.start, dates.window.end],
            "long_window": [dates.long_window.start, dates.long_window.end],
            "history_start": dates.history_start,
        },
        "rules": events_fingerprint(rules, reference),
        "code": _code_digest(reference.root.resolve()),
    }
    text = json.dumps(made_from, default=str, sort_keys=True)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


@cache
def _assign_code_digest() -> str:
    digest = hashlib.sha256()
    for root in _ASSIGN_CODE:
        _file_digest(digest, root)
    return digest.hexdigest()


def assignments_key(events_key: str, rules: Rules) -> str:
    """sha256 of everything a run's merged assignments are made from: its events' key (the
    shard inputs, the dates, the settings outside the population blocks, the value sets,
    the code building events and assigning populations), the rules file's sha256 (its
    population blocks with the rest) and the code merging the shards' results and reading
    the rules. A run recorded with this key (ecm.warehouse.history) assigned what these
    rules assign over these inputs now: `ecm diff` reads its assignments instead of
    assigning them again."""
    made_from = {"events": events_key, "rules": rules.sha256, "code": _assign_code_digest()}
    text = json.dumps(made_from, sort_keys=True)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class EventsSet:
    """Where a run's shards find or put their events: `root/shard=<i>/`. `reused`: the
    kept set (read, not built); else each shard builds its events and, when `keep`, writes
    them there for the run to keep. Plain paths and values, so a task runner may send it to
    another process."""

    root: Path
    key: str
    reused: bool = False
    keep: bool = True

    def folder(self, shard: int) -> Path:
        return self.root / f"shard={shard}"


def write_events(events: Events, folder: Path) -> None:
    """One shard's events as Parquet files in `folder` (made if need be; a retried shard
    writes over its files)."""
    folder.mkdir(parents=True, exist_ok=True)
    frames = {name: getattr(events, name) for name in _FRAMES}
    frames.update(
        {f"criteria.{name}": getattr(events.criteria, name).collect() for name in _CRITERIA}
    )
    for name, frame in frames.items():
        frame.write_parquet(folder / f"{name}.parquet", compression="lz4", statistics=False)


def write_population_rows(known: dict[str, PopulationRows], folder: Path) -> None:
    """The populations' collected rows (ecm.shards.evaluate.evaluate_populations), by rule
    key, beside a shard's events in `folder`: a later run whose events are these reads the
    rows of each population its rules file gives the same rule key instead of evaluating
    it (`read_population_rows`)."""
    for key, rows in known.items():
        into = folder / POPULATIONS / key
        into.mkdir(parents=True, exist_ok=True)
        for part, frame in zip(_ROW_PARTS, rows, strict=True):
            frame.write_parquet(into / f"{part}.parquet", compression="lz4", statistics=False)


def read_population_rows(folder: Path) -> dict[str, PopulationRows]:
    """The populations' rows kept beside a shard's events in `folder`, by rule key (none
    when the set keeps none)."""
    root = Path(folder) / POPULATIONS
    if not root.is_dir():
        return {}
    return {
        into.name: tuple(pl.read_parquet(into / f"{part}.parquet") for part in _ROW_PARTS)
        for into in sorted(root.iterdir())
    }


def read_events(folder: Path, dates: RunDates) -> Events:
    """One shard's events as `write_events` wrote them into `folder`, for the run of
    `dates` (the dates its key was made of)."""
    folder = Path(folder)
    criteria = Criteria(
        **{name: pl.read_parquet(folder / f"criteria.{name}.parquet").lazy() for name in _CRITERIA}
    )
    return Events(
        dates=dates,
        criteria=criteria,
        **{name: pl.read_parquet(folder / f"{name}.parquet") for name in _FRAMES},
    )


def kept_events(
    con: duckdb.DuckDBPyConnection, warehouse: Path, key: str, borrow_into: Path | None = None
) -> EventsSet | None:
    """The events set `warehouse` keeps under `key`, or None: read where it is by a run
    holding the warehouse's lock, or borrowed into `borrow_into` by a reader without it
    (ecm.warehouse.kept.borrow; None when the set went before it was all linked)."""
    found = kept.find(con, warehouse, EVENTS, key, borrow_into)
    if found is None:
        return None
    root, _ = found
    log.info("events kept from an earlier run with the same inputs, dates and event settings")
    return EventsSet(root, key, reused=True, keep=False)


def prepare_events(
    con: duckdb.DuckDBPyConnection, warehouse: Path, work_root: Path, key: str
) -> EventsSet:
    """The run's events: the set `warehouse` keeps when its key is `key`, else a new set
    each shard writes under `work_root` (which must not exist yet)."""
    found = kept_events(con, warehouse, key)
    return found if found is not None else EventsSet(Path(work_root), key)


def keep_events(con: duckdb.DuckDBPyConnection, events: EventsSet, shards: int) -> None:
    """Once every shard has written its events: mark the set complete and name it in the
    run's warehouse copy (`con`) as the one set of events kept; a reused set is named
    already."""
    if events.reused or not events.keep:
        return
    missing = [i for i in range(shards) if not events.folder(i).is_dir()]
    if missing:
        raise RuntimeError(f"Shards {missing} wrote no events into {events.root}.")
    info = {"shards": shards}
    kept.mark_complete(events.root, info)
    kept.record(con, EVENTS, events.key, info)


def adopt_events(events: EventsSet, warehouse: Path) -> None:
    """Move a set this run wrote into the warehouse's folder (ecm.warehouse.kept.adopt),
    just before the run's copy is swapped in; a reused set is where it belongs already."""
    if not events.reused and events.keep:
        kept.adopt(events.root, warehouse, EVENTS, events.key)


def prune_events(warehouse: Path, modes: FileModes) -> int:
    """Once the run's copy is swapped in (the lock still held): remove the events sets it no
    longer names and give the one kept `modes` (ecm.shards.inputs.prune_kept)."""
    return prune_kept(warehouse, EVENTS, modes)
