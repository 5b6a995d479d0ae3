"""The warehouse keeps history (outputs.md): every successful run and its assignments.

- `runs`: one row per as-of date (run id, as-of date, rules version and sha256, ecm
  version, input fingerprints, counts, status, the previous as-of date its changes were
  computed against, and when it was recorded: the only wall-clock time, never in a data
  file; then the rules file's path and text, which `ecm diff` reads back: empty for a run
  recorded before they were kept; and the key of what its assignments were made from,
  ecm.shards.events.assignments_key, which `ecm diff` looks its sides up by: empty for a
  run recorded before it was kept).
- `run_assignments`: one row per run × member × population (run_id, member_id, pof_code,
  age_group, qualifying_date, provider_npi, has_household_evidence: the member holds the
  population through their household, as a relative of HOMELESS_FAMILY's index child;
  false for the index and every other assignment; empty for a run recorded before the
  column existed, which a warehouse of then gains).
- `run_member_files`: one row per as-of date × member listed in a member information file
  (as_of_date, member_id, provider_npi: empty for `unassigned/`, assignment_status): who
  each run listed in which provider's file. The referral loop (ecm.loop) reads when each
  referral opened from it.
- `run_referrals`: one row per as-of date × referral: as_of_date and every column of that
  run's referrals.parquet (each run's states).

A run writes them all into its warehouse copy (ecm.run.safety.WorkWarehouse), so they land
only when the run succeeds; a failed or refused run leaves no row. Re-running an as-of date
replaces that date's run and its rows: the warehouse holds one run per as-of date. A
warehouse written before a table existed gains it empty (its first run of the loop knows
no referral); one written before a column existed gains it, empty in the rows of then
(`ensure_history_tables`). `changes.parquet` compares a run with the run of the latest
*earlier* as-of date (`previous_run`).
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
import polars as pl

import ecm
from ecm.config.rules import Rules
from ecm.warehouse.relations import columns_of, relation_kind
from transforms.populations.homeless import HOUSEHOLD_CRITERION

RUNS = "runs"
RUN_ASSIGNMENTS = "run_assignments"
RUN_MEMBER_FILES = "run_member_files"
RUN_REFERRALS = "run_referrals"
SUCCEEDED = "succeeded"
# The columns of `runs`, in the order a run's row is inserted.
RUN_COLUMNS = (
    "run_id",
    "as_of_date",
    "rules_version",
    "rules_sha256",
    "ecm_version",
    "input_fingerprints",
    "enrolled_members",
    "assignments",
    "assigned_members",
    "counts",
    "status",
    "previous_as_of_date",
    "recorded_at",
    "rules_path",
    "rules_text",
    "assignments_key",
)

_CREATE = f"""
create table if not exists {RUNS} (
    run_id varchar not null,
    as_of_date date not null,
    rules_version varchar not null,
    rules_sha256 varchar not null,
    ecm_version varchar not null,
    input_fingerprints varchar not null,
    enrolled_members bigint not null,
    assignments bigint not null,
    assigned_members bigint not null,
    counts varchar not null,
    status varchar not null,
    previous_as_of_date date,
    recorded_at timestamp not null
);
alter table {RUNS} add column if not exists rules_path varchar;
alter table {RUNS} add column if not exists rules_text varchar;
alter table {RUNS} add column if not exists assignments_key varchar;
create table if not exists {RUN_ASSIGNMENTS} (
    run_id varchar not null,
    member_id varchar not null,
    pof_code varchar not null,
    age_group varchar,
    qualifying_date date,
    provider_npi varchar,
    has_household_evidence boolean
);
create table if not exists {RUN_MEMBER_FILES} (
    as_of_date date not null,
    member_id varchar not null,
    provider_npi varchar,
    assignment_status varchar not null
);
create table if not exists {RUN_REFERRALS} (
    as_of_date date not null,
    member_id varchar not null,
    provider_npi varchar not null,
    opened_date date not null,
    state varchar not null,
    state_date date,
    enrollment_start_date date,
    enrollment_end_date date,
    discontinuation_reason_code varchar,
    closure_reason varchar,
    outreach_attempts bigint not null,
    last_outreach_date date,
    days_open bigint,
    is_overdue boolean not null
);
"""
# The columns of run_referrals after as_of_date: referrals.parquet's, in its order.
REFERRAL_COLUMNS = (
    "member_id",
    "provider_npi",
    "opened_date",
    "state",
    "state_date",
    "enrollment_start_date",
    "enrollment_end_date",
    "discontinuation_reason_code",
    "closure_reason",
    "outreach_attempts",
    "last_outreach_date",
    "days_open",
    "is_overdue",
)


@dataclass(frozen=True)
class PreviousRun:
    """The run a new run is compared with: the latest earlier as-of date's."""

    run_id: str
    as_of_date: dt.date


@dataclass(frozen=True)
class RunRecord:
    """What the runs table records of one run."""

    run_id: str
    as_of_date: dt.date
    rules_version: str
    rules_sha256: str
    ecm_version: str
    input_fingerprints: dict[str, str]
    counts: dict[str, Any]
    previous_as_of_date: dt.date | None
    rules_path: str | None = None
    rules_text: str | None = None
    assignments_key: str | None = None


@dataclass(frozen=True)
class RecordedRun:
    """A recorded run as `ecm diff` reads it: its as-of date and its rules file (path and
    text None for a run recorded before they were kept)."""

    run_id: str
    as_of_date: dt.date
    rules_version: str
    rules_sha256: str
    rules_path: str | None
    rules_text: str | None


def new_run_id() -> str:
    return uuid.uuid4().hex


_ADDED_COLUMNS = (
    # issue #17: which HOMELESS_FAMILY child is the index (the quarterly file's flag)
    f"alter table {RUN_ASSIGNMENTS} add column if not exists has_household_evidence boolean",
)
"""The columns added to a history table after it was first written: a warehouse of then
gains them, empty in its rows."""


def ensure_history_tables(con: duckdb.DuckDBPyConnection) -> None:
    con.execute(_CREATE)
    for statement in _ADDED_COLUMNS:
        con.execute(statement)


def previous_run(con: duckdb.DuckDBPyConnection, as_of: dt.date) -> PreviousRun | None:
    """The recorded run of the latest as-of date before `as_of`, or None (a first run)."""
    ensure_history_tables(con)
    rows = con.execute(
        f"select run_id, as_of_date from {RUNS} where as_of_date < ? "
        "order by as_of_date desc, run_id limit 1",
        [as_of],
    ).fetchall()
    return PreviousRun(rows[0][0], rows[0][1]) if rows else None


def run_assignments(con: duckdb.DuckDBPyConnection, run_id: str) -> pl.DataFrame:
    """The member × population pairs (and their columns) one recorded run assigned."""
    return con.sql(
        f"select member_id, pof_code, age_group, qualifying_date, provider_npi "
        f"from {RUN_ASSIGNMENTS} where run_id = ? order by member_id, pof_code",
        params=[run_id],
    ).pl()


def record_run(
    con: duckdb.DuckDBPyConnection,
    run: RunRecord,
    assignments_file: Path,
    member_files_file: Path | None = None,
    referrals_file: Path | None = None,
    evidence_file: Path | None = None,
) -> None:
    """Record `run`, its assignments, who its member information files listed and its
    referrals (each read from the run's Parquet file by DuckDB, never held in Python:
    the merged assignments, the loop's `member_files` and `referrals`, ecm.loop), replacing
    any earlier run of the same as-of date and its rows. Without a file, that table gains
    no row for the run. The run's `evidence_file` (merged, evidence.parquet's rows) says
    which assignments are held through the household (`has_household_evidence`: evidence
    of criterion HOUSEHOLD_CRITERION, transforms.populations.homeless); without it, empty."""
    ensure_history_tables(con)
    con.execute("begin transaction")
    try:
        con.execute(
            f"delete from {RUN_ASSIGNMENTS} where run_id in "
            f"(select run_id from {RUNS} where as_of_date = ?)",
            [run.as_of_date],
        )
        for table in (RUN_MEMBER_FILES, RUN_REFERRALS):
            con.execute(f"delete from {table} where as_of_date = ?", [run.as_of_date])
        con.execute(f"delete from {RUNS} where as_of_date = ?", [run.as_of_date])
        con.execute(
            f"insert into {RUNS} ({', '.join(RUN_COLUMNS)}) "
            f"values ({', '.join('?' for _ in RUN_COLUMNS)})",
            [
                run.run_id,
                run.as_of_date,
                run.rules_version,
                run.rules_sha256,
                run.ecm_version,
                json.dumps(run.input_fingerprints, sort_keys=True),
                run.counts["members"]["enrolled"],
                run.counts["assignments"],
                run.counts["assigned_members"],
                json.dumps(run.counts, sort_keys=True),
                SUCCEEDED,
                run.previous_as_of_date,
                dt.datetime.now(dt.UTC).replace(tzinfo=None),
                run.rules_path,
                run.rules_text,
                run.assignments_key,
            ],
        )
        _insert_assignments(con, run.run_id, assignments_file, evidence_file)
        if member_files_file is not None:
            con.execute(
                f"insert into {RUN_MEMBER_FILES} select ?, member_id, provider_npi, "
                "assignment_status from read_parquet(?) order by member_id, provider_npi",
                [run.as_of_date, str(member_files_file)],
            )
        if referrals_file is not None:
            columns = ", ".join(REFERRAL_COLUMNS)
            con.execute(
                f"insert into {RUN_REFERRALS} select ?, {columns} from read_parquet(?) "
                "order by member_id, provider_npi",
                [run.as_of_date, str(referrals_file)],
            )
        con.execute("commit")
    except BaseException:
        con.execute("rollback")
        raise


def _insert_assignments(
    con: duckdb.DuckDBPyConnection,
    run_id: str,
    assignments_file: Path,
    evidence_file: Path | None,
) -> None:
    """The run's assignments into run_assignments; has_household_evidence from the
    evidence rows of the household criterion (a member × population with one holds it
    through the household), empty without `evidence_file`."""
    if evidence_file is None:
        household = "null::boolean"
        joined = ""
        params: list[Any] = [run_id, str(assignments_file)]
    else:
        household = "h.member_id is not null"
        joined = (
            "left join (select distinct member_id, pof_code from read_parquet(?) "
            "where criterion = ?) h on h.member_id = a.member_id and h.pof_code = a.pof_code"
        )
        params = [run_id, str(assignments_file), str(evidence_file), HOUSEHOLD_CRITERION]
    con.execute(
        f"insert into {RUN_ASSIGNMENTS} (run_id, member_id, pof_code, age_group, "
        "qualifying_date, provider_npi, has_household_evidence) "
        "select ?, a.member_id, a.pof_code, a.age_group, a.qualifying_date, a.provider_npi, "
        f"{household} from read_parquet(?) a {joined} order by a.member_id, a.pof_code",
        params,
    )


def run_counts(summary: dict[str, Any]) -> dict[str, Any]:
    """The counts the runs table keeps of a run (from its summary): members enrolled,
    assignments, assigned members and, per population, its status and members."""
    return {
        "members": summary["members"],
        "assignments": summary["assignments"],
        "assigned_members": summary["assigned_members"],
        "populations": {
            code: {
                "status": p["status"],
                "members": p["members"],
                "adult": p["adult"],
                "child_youth": p["child_youth"],
            }
            for code, p in summary["populations"].items()
        },
    }


def run_record(
    summary: dict[str, Any],
    rules: Rules,
    as_of: dt.date,
    fingerprints: dict[str, str],
    assignments_key: str | None,
) -> RunRecord:
    """The record of a run that succeeded, from its summary (with the `changes` writing
    added: the previous as-of date its changes were computed against), the rules file it
    used, its input fingerprints and the key of what its assignments were made from
    (ecm.shards.events.assignments_key); a new run id."""
    previous = summary["changes"]["previous_as_of_date"]
    return RunRecord(
        run_id=new_run_id(),
        as_of_date=as_of,
        rules_version=rules.version,
        rules_sha256=rules.sha256,
        ecm_version=ecm.__version__,
        input_fingerprints=fingerprints,
        counts=run_counts(summary),
        previous_as_of_date=dt.date.fromisoformat(previous) if previous else None,
        rules_path=str(Path(rules.path).resolve()),
        rules_text=rules.text,
        assignments_key=assignments_key,
    )


def latest_run(con: duckdb.DuckDBPyConnection) -> RecordedRun | None:
    """The recorded run of the latest as-of date, or None when there is none. Only reads
    (the connection may be read only): a warehouse without history has no run, one whose
    `runs` lacks the rules file's columns has them empty."""
    if relation_kind(con, RUNS) is None:
        return None
    kept = {"rules_path", "rules_text"} <= columns_of(con, RUNS)
    rules = "rules_path, rules_text" if kept else "null, null"
    rows = con.execute(
        f"select run_id, as_of_date, rules_version, rules_sha256, {rules} from {RUNS} "
        "order by as_of_date desc, run_id limit 1"
    ).fetchall()
    return RecordedRun(*rows[0]) if rows else None


def run_assigned(con: duckdb.DuckDBPyConnection, key: str) -> str | None:
    """The id of a recorded run whose assignments were made from what `key` names
    (ecm.shards.events.assignments_key: the same inputs, dates, rules file and code), or
    None. Only reads; a warehouse without the column has none."""
    if relation_kind(con, RUNS) is None or "assignments_key" not in columns_of(con, RUNS):
        return None
    rows = con.execute(
        f"select run_id from {RUNS} where assignments_key = ? order by run_id limit 1", [key]
    ).fetchall()
    return rows[0][0] if rows else None


def recorded_runs(con: duckdb.DuckDBPyConnection) -> list[dict[str, Any]]:
    """Every recorded run's counts, by as-of date (the report's trend)."""
    ensure_history_tables(con)
    return (
        con.sql(
            f"select as_of_date, enrolled_members, assignments, assigned_members "
            f"from {RUNS} order by as_of_date"
        )
        .pl()
        .to_dicts()
    )


def member_files_before(con: duckdb.DuckDBPyConnection, as_of: dt.date) -> pl.DataFrame:
    """Who the recorded runs of as-of dates before `as_of` listed with a provider
    (run_member_files without its `unassigned/` rows): as_of_date, member_id,
    provider_npi, assignment_status."""
    ensure_history_tables(con)
    return con.sql(
        f"select as_of_date, member_id, provider_npi, assignment_status "
        f"from {RUN_MEMBER_FILES} where as_of_date < ? and provider_npi is not null "
        "order by as_of_date, member_id, provider_npi",
        params=[as_of],
    ).pl()


def run_dates_before(con: duckdb.DuckDBPyConnection, as_of: dt.date) -> pl.DataFrame:
    """The as-of dates of the recorded runs before `as_of` (as_of_date), in order."""
    ensure_history_tables(con)
    return con.sql(
        f"select as_of_date from {RUNS} where as_of_date < ? order by as_of_date",
        params=[as_of],
    ).pl()


def populations_held(con: duckdb.DuckDBPyConnection, runs: pl.DataFrame) -> pl.DataFrame:
    """The populations each member of `runs` (as_of_date, member_id: a recorded run and a
    member) held in that run: as_of_date, member_id, pof_code."""
    ensure_history_tables(con)
    con.register("_wanted_runs", runs.select("as_of_date", "member_id").unique())
    try:
        return con.sql(
            f"select w.as_of_date, a.member_id, a.pof_code from _wanted_runs w "
            f"join {RUNS} r on r.as_of_date = w.as_of_date "
            f"join {RUN_ASSIGNMENTS} a on a.run_id = r.run_id and a.member_id = w.member_id "
            "order by w.as_of_date, a.member_id, a.pof_code"
        ).pl()
    finally:
        con.unregister("_wanted_runs")
