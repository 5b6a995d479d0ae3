"""`ecm diff`: who would gain or lose which population under rules file B rather than A,
on one as-of date, over what the warehouse staged (no feed is read again).

`write_diff` checks the options (each rules file whole, the warehouse, `--out` as every
command that writes one, and an `--out` that holds another command's output is refused:
the diff changes no folder but its own), reads the warehouse read only without its lock
(`staged`; rules A is the latest run's, kept in its history, when one `--rules` is given;
the as-of date defaults to that run's), writes the shard inputs once and evaluates both
rules files over them (`sides`), and writes into a temporary folder beside `--out` (its
work files inside it), moved into place only when complete (owner-only modes, or the
rules files' `[output]` when both say group-readable):

- `diff.parquet`: one row per member × population held under one rules file only
  (member_id, pof_code, change `gained` / `lost`, provider_npi), sorted by member_id,
  pof_code;
- `diff.html`: the counts per population, age group and ECM provider, both rules files
  and the settings that differ (ecm.deliver.diff_page: counts only);
- `manifest.json`: written_by, the command, the as-of date, both rules files, the
  warehouse and its latest run, the counts, every file with its sha256.

The warehouse file, its history and every other output folder are left as they were.
"""

from __future__ import annotations

import datetime as dt
import json
import shutil
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import polars as pl

import ecm
from data_contracts.sql import lit
from ecm import files
from ecm.config.rules import Rules, load_rules
from ecm.deliver.diff_page import render_diff_page
from ecm.diff import sides as sides_of
from ecm.diff.sides import Side, settings_changed
from ecm.diff.staged import Staged, check_void_frequency, read_staged, rules_of_run
from ecm.errors import InputError, OutputError
from ecm.run import interrupts
from ecm.run.file_modes import OWNER_ONLY, FileModes, modes_of, narrow_umask
from ecm.run.locks import RunLock
from ecm.run.machine import machine_error
from ecm.run.progress import Timer
from ecm.run.safety import (
    MANIFEST,
    WRITTEN_BY,
    OutputFolder,
    check_output_folder,
    earlier_output_files,
    followed,
    warehouse_to_read,
)
from ecm.shards.run import MergedResult
from ecm.warehouse.sql import use_memory_budget
from transforms.members import ADULT, CHILD_YOUTH
from transforms.rules_diff import CHANGES, change_counts, members_changed, rules_diff

COMMAND = "ecm diff"
DIFF_FILE = "diff.parquet"
PAGE = "diff.html"
DIFF_COLUMNS = ("member_id", "pof_code", "change", "provider_npi")
"""diff.parquet's columns (the age group is counted on the page, not written)."""
AGE_GROUPS = (ADULT, CHILD_YOUTH)
WORK = ".work"
"""The work folder (shard inputs and results) inside the temporary output folder: removed
before the folder is moved into place, and with it when the diff fails."""


def refuse_other_outputs(out_dir: Path) -> None:
    """`--out` may be replaced only when it is new, empty or an earlier `ecm diff` output:
    an `ecm run` or `ecm quarterly` folder (its manifest names another command, or none),
    or a folder inside any ecm output, is refused (OutputError), so that a diff changes no
    output folder but its own."""
    out_dir = Path(out_dir).resolve()
    for folder in out_dir.parents:
        if earlier_output_files(folder) is not None:
            raise OutputError(
                f"The output folder {out_dir} lies inside {folder}, an earlier ecm output (its "
                f"manifest.json says so); ecm diff writes no file into another command's "
                f"output. Choose an --out outside it (beside it: {folder.parent / 'diff'}, say)."
            )
    manifest = out_dir / MANIFEST
    if not manifest.is_file():
        return  # new or empty (check_output_folder refuses anything else)
    try:
        command = json.loads(manifest.read_text(encoding="utf-8")).get("command", "ecm run")
    except (OSError, ValueError, AttributeError):
        return  # not an ecm manifest: check_output_folder refuses the folder
    if command != COMMAND:
        raise OutputError(
            f"The output folder {out_dir} holds the output of {command} (its manifest.json "
            f"says so); ecm diff replaces only a new, empty or earlier ecm diff folder, so that "
            f"it changes no other output. Choose another --out (out/diff-6m, say)."
        )


def _modes(sides: list[Side]) -> FileModes:
    """Group-readable only when every rules file asks for it."""
    chosen = {modes_of(side.rules) for side in sides}
    return chosen.pop() if len(chosen) == 1 else OWNER_ONLY


def _counted(frame: pl.LazyFrame, by: list[str]) -> list[dict[str, Any]]:
    return change_counts(frame, by).collect().to_dicts()


def _side_population(merged: MergedResult, code: str) -> dict[str, Any]:
    status = merged.counts["population_status"][code]
    evaluated = status["status"] != "not_evaluated"
    return {
        **status,
        "members": merged.counts["populations"][code]["members"] if evaluated else None,
    }


def diff_summary(
    diff: pl.DataFrame,
    sides: list[Side],
    merged: dict[str, MergedResult],
    staged: Staged,
    as_of: dt.date,
) -> dict[str, Any]:
    """The diff's facts, counts only: both rules files, the settings that differ, the
    pairs gained and lost, the members gaining and losing, per population (each side's
    members and status, the changes by age group), per age group and per ECM provider."""
    a, b = sides
    lazy = diff.lazy()
    by_code = {r["pof_code"]: r for r in _counted(lazy, ["pof_code"])}
    by_code_age = _counted(lazy, ["pof_code", "age_group"])
    by_age = {r["age_group"]: r for r in _counted(lazy, ["age_group"])}
    gaining, losing = members_changed(lazy).collect().row(0)
    populations = {}
    for code in b.rules.population_codes:
        counts = by_code.get(code, {})
        populations[code] = {
            "title": b.rules.population(code).get("title", code),
            "a": _side_population(merged["a"], code),
            "b": _side_population(merged["b"], code),
            **{change: counts.get(change, 0) for change in CHANGES},
            "by_age_group": {
                group: {
                    change: sum(
                        r[change]
                        for r in by_code_age
                        if r["pof_code"] == code and r["age_group"] == group
                    )
                    for change in CHANGES
                }
                for group in AGE_GROUPS
            },
        }
    return {
        "command": COMMAND,
        "as_of_date": as_of.isoformat(),
        "ecm_version": ecm.__version__,
        "warehouse": str(staged.warehouse),
        "latest_run": {
            "run_id": staged.run.run_id,
            "as_of_date": staged.run.as_of_date.isoformat(),
        },
        "rules": {
            side.label: {
                "path": str(side.rules.path),
                "version": side.rules.version,
                "sha256": side.rules.sha256,
                "from": side.source,
            }
            for side in sides
        },
        "settings_changed": settings_changed(a.rules, b.rules),
        **{change: int((diff["change"] == change).sum()) for change in CHANGES},
        "members_gaining": gaining,
        "members_losing": losing,
        "populations": populations,
        "age_groups": {
            group: {change: by_age.get(group, {}).get(change, 0) for change in CHANGES}
            for group in AGE_GROUPS
        },
        "providers": _counted(lazy, ["provider_npi"]),
    }


def summary_lines(summary: dict[str, Any], out_dir: Path) -> list[str]:
    """What the command prints: the rules files, then per population that changed its
    gains and losses, the totals and where the files are (counts only)."""
    rules = summary["rules"]

    def said(label: str) -> str:
        r = rules[label]
        return (
            f"{label.upper()} {r['version']} ({r['path']}, sha256 {r['sha256'][:12]}; {r['from']})"
        )

    lines = [f"ecm diff as of {summary['as_of_date']}: {said('a')} -> {said('b')}"]
    for label in summary.get("sides_recorded", ()):
        lines.append(
            f"{label.upper()}: the assignments a recorded run made from the same staged inputs, "
            f"dates, rules file and code, read from the warehouse (not evaluated again)"
        )
    changed = summary["settings_changed"]
    if changed:
        shown_ = ", ".join(f"{c['setting']} {c['a']} -> {c['b']}" for c in changed[:5])
        more = f" and {len(changed) - 5} more" if len(changed) > 5 else ""
        lines.append(f"settings that differ: {shown_}{more}")
    else:
        lines.append("settings that differ: none")
    rows = [(c, p) for c, p in summary["populations"].items() if p["gained"] or p["lost"]]
    if rows:
        width = max(len(c) for c, _ in rows)
        lines.append(f"{'population':<{width}}  {'A':>9}  {'B':>9}  {'gained':>9}  {'lost':>9}")
        for code, p in rows:
            members = [p[s]["members"] for s in ("a", "b")]
            a_n, b_n = ("—" if m is None else f"{m:,}" for m in members)
            lines.append(f"{code:<{width}}  {a_n:>9}  {b_n:>9}  {p['gained']:>9,}  {p['lost']:>9,}")
    else:
        lines.append("no member would gain or lose a population")
    lines.append(
        f"{summary['gained']:,} member-populations gained ({summary['members_gaining']:,} "
        f"members), {summary['lost']:,} lost ({summary['members_losing']:,} members); files "
        f"in {out_dir}"
    )
    return lines


def _check_options(
    rules_files: Sequence[Path | None], out_dir: Path, warehouse: Path | None
) -> tuple[list[Rules], Path, Path]:
    """The rules files given (each checked whole), `--out` and the warehouse (followed when
    links, each checked); any problem is exit 2 before anything is read or written."""
    if not 1 <= len(rules_files) <= 2:
        raise InputError(
            f"ecm diff compares two rules files: pass --rules twice (A, then B), or once (B, "
            f"compared with the rules file of the warehouse's latest run); {len(rules_files)} "
            f"were given."
        )
    given = [load_rules(path) for path in rules_files]
    out_dir = followed(Path(out_dir), "output folder")
    warehouse = warehouse_to_read(
        warehouse, out_dir, "ecm diff compares rules files over what is staged in"
    )
    check_output_folder(out_dir, None, warehouse)
    refuse_other_outputs(out_dir)
    return given, out_dir, warehouse


def write_diff(
    rules_files: Sequence[Path | None],
    out_dir: Path,
    warehouse: Path | None = None,
    as_of: dt.date | None = None,
) -> dict[str, Any]:
    """`ecm diff`: check, read the warehouse read only, evaluate both rules files over its
    staged inputs, write all or nothing; returns the summary (counts only)."""
    started = time.perf_counter()
    given, out_dir, warehouse = _check_options(rules_files, out_dir, warehouse)
    timer = Timer()
    with interrupts.connect(str(warehouse), read_only=True) as con:
        staged = read_staged(con, warehouse)
        day = as_of or staged.run.as_of_date
        if len(given) == 2:
            a = Side.of("a", "--rules", given[0], day)
        else:
            run = f"the rules file of the run of {staged.run.as_of_date}, kept in the warehouse"
            a = Side.of("a", run, rules_of_run(staged), day)
        sides = [a, Side.of("b", "--rules", given[-1], day)]
        # DuckDB within the smaller of the two rules files' [run] budgets.
        use_memory_budget(min(side.rules.setting("run.memory_budget_gib") for side in sides))
        check_void_frequency(staged, {"A": a.rules, "B": sides[1].rules})
        modes = _modes(sides)
        with narrow_umask(modes), RunLock(out_dir, "output folder"):
            output = OutputFolder(out_dir, modes)
            try:
                work = output.path / WORK
                work.mkdir()
                # DuckDB spills into the work folder, never beside the warehouse.
                con.execute(f"set temp_directory = {lit(work / 'duckdb.tmp')}")
                with timer.step("shard_inputs") as stage:
                    shard_set = sides_of.shard_inputs(
                        con, warehouse, work / "shards", sides, staged.feeds
                    )
                    stage.count(shard_set.members, "members")
                    events = sides_of.kept_events_of(
                        con, warehouse, work / "events", sides, shard_set
                    )
                with timer.step("recorded") as stage:
                    recorded = sides_of.recorded_sides(con, sides, shard_set, work)
                    stage.count(len(recorded), "sides a recorded run answered")
                con.close()  # the warehouse is read no more
                merged = sides_of.evaluate_sides(sides, shard_set, work, timer, events, recorded)
                with timer.step("write") as stage:
                    diff = rules_diff(
                        sides_of.assignments_of(merged["a"]), sides_of.assignments_of(merged["b"])
                    ).collect()
                    summary = diff_summary(diff, sides, merged, staged, day)
                    shutil.rmtree(work)
                    manifest = write_files(output.path, diff, summary)
                    stage.count(diff.height, "rows written")
                check_output_folder(out_dir, None, warehouse)
                refuse_other_outputs(out_dir)
                with interrupts.replacing():
                    output.publish()
            except BaseException as exc:
                output.discard()
                machine = machine_error(exc, {"output folder": out_dir})
                if machine is not None:
                    raise machine from exc
                raise
    summary["files"] = manifest["files"]
    summary["sides_recorded"] = sorted(recorded)
    summary["timings_seconds"] = {**timer.seconds, "total": round(time.perf_counter() - started, 3)}
    return summary


def write_files(folder: Path, diff: pl.DataFrame, summary: dict[str, Any]) -> dict[str, Any]:
    """diff.parquet, diff.html and manifest.json into `folder`; returns the manifest."""
    table = diff.select(DIFF_COLUMNS)
    files.write_parquet(table, folder / DIFF_FILE)
    (folder / PAGE).write_text(render_diff_page(summary), encoding="utf-8")
    manifest = {
        "written_by": WRITTEN_BY,
        **{k: summary[k] for k in ("command", "as_of_date", "ecm_version", "rules")},
        "warehouse": summary["warehouse"],
        "latest_run": summary["latest_run"],
        **{change: summary[change] for change in CHANGES},
        "files": [
            files.file_entry(folder / DIFF_FILE, folder, table.height),
            files.file_entry(folder / PAGE, folder, None),
        ],
    }
    files.write_json(manifest, folder / MANIFEST)
    return manifest
