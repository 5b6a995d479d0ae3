"""What `ecm diff` reads of the warehouse, from a read-only connection: the latest run (the
default as-of date, and the rules file kept with it: rules A when one `--rules` is given),
the feeds the last ingest staged (the populations a missing feed leaves unevaluated, as in
a run) and the void frequency the claim versions were resolved with (the one rules-file
setting that decides which staged rows the rules read: a rules file with another cannot be
compared over these rows).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import duckdb

from ecm.config.rules import Rules, rules_of, shown
from ecm.errors import InputError, RulesError
from ecm.ingest.claim_versions import VOID_FREQUENCY
from ecm.ingest.tables import staged_feeds, staged_void_frequency
from ecm.warehouse.history import RecordedRun, latest_run


@dataclass(frozen=True)
class Staged:
    """The warehouse as `ecm diff` reads it."""

    warehouse: Path
    run: RecordedRun
    feeds: frozenset[str]
    void_frequency: str | None


def read_staged(con: duckdb.DuckDBPyConnection, warehouse: Path) -> Staged:
    """The latest run, the staged feeds and the void frequency; a warehouse that records
    no run is an InputError (exit 2): nothing was staged by a run to compare over."""
    run = latest_run(con)
    if run is None:
        raise InputError(
            f"The warehouse {warehouse} records no ecm run; ecm diff compares two rules files "
            f"over what the monthly runs staged. Run ecm run into this warehouse first, or "
            f"pass --warehouse with the one the runs used."
        )
    return Staged(warehouse, run, staged_feeds(con), staged_void_frequency(con))


def rules_of_run(staged: Staged) -> Rules:
    """The rules file of the latest run, as the warehouse kept it (its text, read as the
    file at the path it had, so its plan's `value_sets/` folder is found beside it), checked
    whole as any rules file; a run recorded before the text was kept is an InputError."""
    run = staged.run
    if run.rules_text is None:
        raise InputError(
            f"The latest run in the warehouse {staged.warehouse} (as of {run.as_of_date}, rules "
            f"{run.rules_version}, sha256 {run.rules_sha256}) was recorded before ecm kept a "
            f"run's rules file, so its rules cannot be read back. Pass two --rules: that "
            f"run's rules file first, then the other."
        )
    raw = run.rules_text.encode("utf-8")
    if hashlib.sha256(raw).hexdigest() != run.rules_sha256:  # a history edited by hand
        raise InputError(
            f"The rules file kept with the run of {run.as_of_date} in the warehouse "
            f"{staged.warehouse} does not match the sha256 the run recorded "
            f"({run.rules_sha256}). Pass two --rules: that run's rules file first, then the "
            f"other."
        )
    try:
        return rules_of(raw, Path(run.rules_path or "rules.toml"))
    except RulesError as exc:
        raise RulesError(
            f"The rules file of the run of {run.as_of_date} (kept in the warehouse, read from "
            f"{run.rules_path} then) cannot be used by this ecm: {exc} Pass two --rules: a "
            f"valid copy of it first, then the other."
        ) from None


def check_void_frequency(staged: Staged, sides: dict[str, Rules]) -> None:
    """Each rules file (by its label, `A`, `B`) must resolve claim versions as the
    warehouse's were (claims.void_bill_type_frequency): the diff reads the staged current
    versions, so another frequency's effect cannot be shown (RulesError, exit 2)."""
    if staged.void_frequency is None:
        return
    for label, rules in sides.items():
        value = str(rules.setting(VOID_FREQUENCY))
        if value != staged.void_frequency:
            raise RulesError(
                f"Rules {label} ({rules.path}) sets {VOID_FREQUENCY} = {shown(value)}, but the "
                f"warehouse {staged.warehouse} resolved its claim versions with "
                f"{shown(staged.void_frequency)}: ecm diff evaluates both rules files over the "
                f"claims as the warehouse staged them, so it cannot show what another void "
                f"frequency changes. Use {VOID_FREQUENCY} = {shown(staged.void_frequency)} in "
                f"rules {label}, or see its effect with ecm run --rules {rules.path} into "
                f"another warehouse."
            )
