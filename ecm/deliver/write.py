"""Write every file of a run into its temporary output folder, as the output catalog
declares them (ecm.deliver.catalog); ecm.run.all_or_nothing moves the folder into place.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ecm.config.dates import RunDates
from ecm.config.reference import ReferenceData
from ecm.config.rules import Rules
from ecm.deliver import catalog
from ecm.deliver.writers import RunResults, RunWriting


@dataclass(frozen=True)
class Written:
    """What writing added to the summary (`changes`, `member_information_files`) and the
    rows of the data files written."""

    summary_added: dict[str, Any]
    rows: int


def write_run_outputs(
    folder: Path,
    results: RunResults,
    summary: dict[str, Any],
    rules: Rules,
    dates: RunDates,
    reference: ReferenceData,
    input_fingerprints: dict[str, str],
    warehouse: Path,
    command: str = catalog.RUN,
) -> Written:
    """Write the files `command` writes (the catalog's, in its order) into `folder`, the
    run's temporary output folder: each writer once, with the first declaration naming
    it. `warehouse` is the run's warehouse copy, only read here (its history tables
    created when absent; the flow records the run after). A file no declaration names, or
    a data file written without its rows (or another with rows), is a bug: ValueError."""
    run = RunWriting(
        folder, results, summary, rules, dates, reference, input_fingerprints, warehouse
    )
    called: set[catalog.Writer] = set()
    for output in catalog.outputs_of(command):
        if output.writer in called:
            continue
        if output.writer is None:
            raise ValueError(f"{output.name}: the catalog of {command} names no writer for it.")
        called.add(output.writer)
        before = len(run.files)
        output.writer(run, output)
        for path, rows in run.files[before:]:
            check_declared(path.relative_to(run.folder).as_posix(), rows, command)
    return Written(run.summary_added, sum(rows or 0 for _, rows in run.files))


def check_declared(path: str, rows: int | None, command: str) -> None:
    """`path` (relative to `--out`, with `/`), written by `command` with `rows` (None:
    not a data file), is declared so in the catalog; else a bug: ValueError."""
    declared = catalog.output_of(path, command)
    if declared is None:
        raise ValueError(f"{path} is not in the output catalog of {command} (ecm.deliver.catalog).")
    if declared.is_data != (rows is not None):
        raise ValueError(f"{path}: the catalog and its writer disagree on whether it has rows.")
