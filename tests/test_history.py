"""History in the warehouse: the runs table and every run's assignments, changes.parquet
(new / ended against the previous run of an earlier as-of date) and the MIF's
Assignment Status, over a first run, two months and a re-run of a month."""

from __future__ import annotations

import datetime as dt
import json

import duckdb
import polars as pl
import pytest

from tests.feeds import line, member
from tests.story import AS_OF, write_story
from transforms.assignment_changes import assignment_changes

D = dt.date
SEPTEMBER = D(2026, 9, 30)


def _pairs(*pairs):
    return pl.LazyFrame(
        {"member_id": [m for m, _ in pairs], "pof_code": [c for _, c in pairs]},
        schema={"member_id": pl.String, "pof_code": pl.String},
    )


def test_on_a_first_run_every_assignment_is_new():
    got = assignment_changes(_pairs(("B", "X"), ("A", "X"), ("A", "Y")), None, None).collect()
    assert got.columns == ["member_id", "pof_code", "change", "previous_as_of_date"]
    assert got.rows() == [("A", "X", "new", None), ("A", "Y", "new", None), ("B", "X", "new", None)]
    assert got.schema["previous_as_of_date"] == pl.Date


def test_changes_are_new_and_ended_pairs_against_the_previous_run():
    current = _pairs(("A", "X"), ("B", "Y"), ("C", "X"))
    previous = _pairs(("A", "X"), ("B", "X"), ("D", "X"))
    got = assignment_changes(current, previous, SEPTEMBER).collect()
    assert got.rows() == [
        ("B", "X", "ended", SEPTEMBER),
        ("B", "Y", "new", SEPTEMBER),
        ("C", "X", "new", SEPTEMBER),
        ("D", "X", "ended", SEPTEMBER),
    ]


# --- runs in one warehouse ----------------------------------------------------------------


@pytest.fixture(scope="module")
def harness():
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=120):
        yield


@pytest.fixture(scope="module")
def feeds(tmp_path_factory):
    """The story, plus X: five avoidable ED visits, the first on 2025-10-15, so X holds
    HIGH_UTIL_ADULT on 2026-09-30 and no longer on 2026-10-31 (an `ended` change), while
    A's fifth visit on 2026-10-31 makes it `new` in October."""
    folder = write_story(tmp_path_factory.mktemp("history") / "feeds")
    days = ["2025-10-15", "2025-12-01", "2026-02-01", "2026-04-01", "2026-06-01"]
    extra_claims = [
        line(
            f"X-ed{i}",
            "X",
            day,
            claim_type="institutional",
            bill_type_code="131",
            revenue_center_code="0450",
            diagnosis_code_1="J069",
            file_date="2026-11-01",
        )
        for i, day in enumerate(days)
    ]
    for name, rows in (("eligibility", [member("X")]), ("medical_claim", extra_claims)):
        path = folder / f"{name}.csv"
        frame = pl.read_csv(path, infer_schema=False)
        more = pl.DataFrame(rows).select(pl.all().cast(pl.String))
        pl.concat([frame, more], how="diagonal").select(frame.columns).write_csv(path)
    return folder


def _runs(house):
    with duckdb.connect(str(house), read_only=True) as con:
        runs = con.sql("select * from runs order by as_of_date").pl()
        assignments = con.sql(
            "select run_id, member_id, pof_code from run_assignments order by all"
        ).pl()
    return runs, assignments


def _pairs_of(path):
    return set(pl.read_parquet(path).select("member_id", "pof_code").iter_rows())


def _statuses(out):
    rows = pl.concat(
        [
            pl.read_csv(p, separator="|", infer_schema=False)
            for p in sorted((out / "providers").rglob("ECM_MIF_*.txt"))
        ]
    )
    return dict(rows.select("Member CIN", "Assignment Status").iter_rows())


@pytest.fixture(scope="module")
def two_months(harness, feeds, tmp_path_factory):
    from flows.monthly import monthly

    root = tmp_path_factory.mktemp("months") / "out"
    september = monthly(input_dir=feeds, as_of=SEPTEMBER, out_dir=root / "2026-09")
    september_runs = _runs(root / "warehouse.duckdb")
    october = monthly(input_dir=feeds, as_of=AS_OF, out_dir=root / "2026-10")
    return root, september, october, september_runs


def test_a_first_run_records_itself_and_every_assignment_is_new(two_months):
    root, september, _, (runs, assignments) = two_months
    out = root / "2026-09"
    changes = pl.read_parquet(out / "changes.parquet")
    assert set(changes["change"]) == {"new"}
    assert changes["previous_as_of_date"].null_count() == changes.height
    assert set(changes.select("member_id", "pof_code").iter_rows()) == _pairs_of(
        out / "assignments.parquet"
    )
    assert set(_statuses(out).values()) == {"new"}
    assert runs.height == 1
    run = runs.row(0, named=True)
    assert run["as_of_date"] == SEPTEMBER and run["status"] == "succeeded"
    assert run["previous_as_of_date"] is None
    assert run["rules_sha256"] == september["rules"]["sha256"]
    # the rules file's text and path are kept, so `ecm diff` can read the run's rules back
    from ecm.config.paths import DEFAULT_RULES_FILE

    assert run["rules_text"] == DEFAULT_RULES_FILE.read_text(encoding="utf-8")
    assert run["rules_path"] == str(DEFAULT_RULES_FILE)
    assert run["assignments"] == september["assignments"] == assignments.height
    assert (
        json.loads(run["input_fingerprints"])
        == json.loads((out / "manifest.json").read_text())["inputs"]
    )
    assert json.loads(run["counts"])["members"] == september["members"]
    assert september["changes"] == {
        "previous_as_of_date": None,
        "new": changes.height,
        "ended": 0,
    }


def test_a_second_month_yields_true_changes_and_statuses(two_months):
    root, _, october, _ = two_months
    before = _pairs_of(root / "2026-09" / "assignments.parquet")
    now = _pairs_of(root / "2026-10" / "assignments.parquet")
    changes = pl.read_parquet(root / "2026-10" / "changes.parquet")
    new = {(m, c) for m, c, ch, _ in changes.iter_rows() if ch == "new"}
    ended = {(m, c) for m, c, ch, _ in changes.iter_rows() if ch == "ended"}
    assert new == now - before and ended == before - now
    assert ("A", "HIGH_UTIL_ADULT") in new and ("X", "HIGH_UTIL_ADULT") in ended
    assert now & before, "the story keeps some assignments from one month to the next"
    assert set(changes["previous_as_of_date"]) == {SEPTEMBER}
    assert changes.select("member_id", "pof_code").rows() == sorted(
        changes.select("member_id", "pof_code").rows()
    )
    statuses = _statuses(root / "2026-10")
    held_before = {m for m, _ in before}
    for member_id, status in statuses.items():
        codes = {c for m, c in now if m == member_id}
        carried = any((member_id, c) in before for c in codes)
        assert status == ("continuing" if carried else "new"), member_id
    assert statuses["A"] == "new" and "continuing" in statuses.values()
    assert held_before - set(statuses)  # X ended: in no provider file this month
    runs, assignments = _runs(root / "warehouse.duckdb")
    assert runs["as_of_date"].to_list() == [SEPTEMBER, AS_OF]
    assert runs["previous_as_of_date"].to_list() == [None, SEPTEMBER]
    october_run = runs.filter(pl.col("as_of_date") == AS_OF)["run_id"].item()
    assert (
        set(assignments.filter(pl.col("run_id") == october_run).drop("run_id").iter_rows()) == now
    )
    assert october["changes"]["new"] == len(new) and october["changes"]["ended"] == len(ended)


def test_rerunning_a_month_replaces_its_run(two_months, feeds):
    from flows.monthly import monthly

    root = two_months[0]
    out = root / "2026-10"
    runs_before, assignments_before = _runs(root / "warehouse.duckdb")
    changes_before = (out / "changes.parquet").read_bytes()
    monthly(input_dir=feeds, as_of=AS_OF, out_dir=out)
    runs, assignments = _runs(root / "warehouse.duckdb")
    assert runs["as_of_date"].to_list() == [SEPTEMBER, AS_OF]  # one run per month
    assert (out / "changes.parquet").read_bytes() == changes_before
    old = runs_before.filter(pl.col("as_of_date") == AS_OF)["run_id"].item()
    new = runs.filter(pl.col("as_of_date") == AS_OF)["run_id"].item()
    assert old != new and old not in set(assignments["run_id"])
    assert assignments.height == assignments_before.height
    september = runs_before.filter(pl.col("as_of_date") == SEPTEMBER)["run_id"].item()
    assert september in set(runs["run_id"])


NPI = "1111111111"


# --- the loop's history: run_member_files and run_referrals (ecm.warehouse.history) -------


def _record(con, tmp_path, as_of, listed, referred=None):
    """Record a run of `as_of` whose MIFs listed `listed` (member, provider, status) and
    whose referrals.parquet held `referred` (member, provider, state) rows."""
    from ecm.warehouse import history
    from transforms.loop import REFERRAL_SCHEMA

    folder = tmp_path / as_of.isoformat()
    folder.mkdir(exist_ok=True)
    pl.DataFrame(
        {"member_id": ["A"], "pof_code": ["X"], "age_group": ["adult"],
         "qualifying_date": [as_of], "provider_npi": [None]},
        schema_overrides={"provider_npi": pl.String},
    ).write_parquet(folder / "assignments.parquet")  # fmt: skip
    pl.DataFrame(
        [{"member_id": m, "provider_npi": p, "assignment_status": s} for m, p, s in listed],
        schema={"member_id": pl.String, "provider_npi": pl.String, "assignment_status": pl.String},
    ).write_parquet(folder / "member_files.parquet")
    pl.DataFrame(
        [
            {**dict.fromkeys(REFERRAL_SCHEMA), "member_id": m, "provider_npi": p,
             "opened_date": as_of, "state": s, "outreach_attempts": 0, "is_overdue": False}
            for m, p, s in referred or []
        ],
        schema=REFERRAL_SCHEMA,
    ).write_parquet(folder / "referrals.parquet")  # fmt: skip
    counts = {"members": {"enrolled": 1}, "assignments": 1, "assigned_members": 1}
    run = history.RunRecord(history.new_run_id(), as_of, "v", "sha", "0", {}, counts, None)
    history.record_run(
        con,
        run,
        folder / "assignments.parquet",
        folder / "member_files.parquet",
        folder / "referrals.parquet",
    )
    return run


def test_the_loop_history_is_recorded_with_the_run_and_a_month_rerun_replaces_its_rows(tmp_path):
    from ecm.warehouse import history

    with duckdb.connect(str(tmp_path / "w.duckdb")) as con:
        _record(
            con,
            tmp_path,
            SEPTEMBER,
            [("A", NPI, "new"), ("U", None, "new")],
            [("A", NPI, "referred")],
        )
        _record(con, tmp_path, AS_OF, [("A", NPI, "continuing"), ("B", NPI, "new")],
                [("A", NPI, "outreach"), ("B", NPI, "referred")])  # fmt: skip
        listed = history.member_files_before(con, D(2026, 12, 31))
        assert listed.rows() == [
            (SEPTEMBER, "A", NPI, "new"),  # unassigned/ rows are no referral: not read
            (AS_OF, "A", NPI, "continuing"),
            (AS_OF, "B", NPI, "new"),
        ]
        assert history.member_files_before(con, AS_OF)["as_of_date"].to_list() == [SEPTEMBER]
        assert con.execute("select count(*) from run_member_files").fetchall()[0][0] == 4
        _record(con, tmp_path, AS_OF, [("B", NPI, "new")], [("B", NPI, "declined")])  # re-run
        rows = con.sql(
            "select as_of_date, member_id, state from run_referrals order by all"
        ).fetchall()
        assert rows == [(SEPTEMBER, "A", "referred"), (AS_OF, "B", "declined")]
        assert history.member_files_before(con, D(2026, 12, 31)).rows() == [
            (SEPTEMBER, "A", NPI, "new"),
            (AS_OF, "B", NPI, "new"),
        ]
        assert history.run_dates_before(con, AS_OF)["as_of_date"].to_list() == [SEPTEMBER]
        held = history.populations_held(
            con, pl.DataFrame({"as_of_date": [SEPTEMBER, AS_OF], "member_id": ["A", "Z"]})
        )
        assert held.rows() == [(SEPTEMBER, "A", "X")]


def test_a_warehouse_from_before_the_loop_gains_its_tables_empty(tmp_path):
    from ecm.warehouse import history

    path = tmp_path / "old.duckdb"
    with duckdb.connect(str(path)) as con:  # the history tables of issue #15 only
        con.execute(
            "create table runs (run_id varchar, as_of_date date); "
            "create table run_assignments (run_id varchar, member_id varchar, pof_code varchar);"
            "insert into runs values ('r1', '2026-09-30')"
        )
    with duckdb.connect(str(path)) as con:
        assert history.member_files_before(con, AS_OF).height == 0
        assert history.member_files_before(con, AS_OF).columns == [
            "as_of_date", "member_id", "provider_npi", "assignment_status"
        ]  # fmt: skip
        assert history.run_dates_before(con, AS_OF)["as_of_date"].to_list() == [SEPTEMBER]
        tables = {
            r[0] for r in con.sql("select table_name from information_schema.tables").fetchall()
        }
        assert {"run_member_files", "run_referrals"} <= tables


# --- which assignments are held through the household (has_household_evidence) ------------


def _household_run(con, folder, as_of, evidence: bool):
    """Record a run of `as_of`: K (a child) holds HOMELESS_FAMILY on a homelessness row of
    their own, M (an adult of K's household) through the household, and HIGH_UTIL_ADULT;
    with `evidence`, the run's evidence file is recorded with it."""
    from ecm.warehouse import history
    from transforms.populations import EVIDENCE_SCHEMA
    from transforms.populations.homeless import HOUSEHOLD_CRITERION

    folder.mkdir(parents=True, exist_ok=True)
    held = [("K", "HOMELESS_FAMILY", "child_youth"), ("M", "HOMELESS_FAMILY", "adult"),
            ("M", "HIGH_UTIL_ADULT", "adult")]  # fmt: skip
    pl.DataFrame(
        [{"member_id": m, "pof_code": c, "age_group": g, "qualifying_date": as_of,
          "provider_npi": None} for m, c, g in held],
        schema={"member_id": pl.String, "pof_code": pl.String, "age_group": pl.String,
                "qualifying_date": pl.Date, "provider_npi": pl.String},
    ).write_parquet(folder / "assignments.parquet")  # fmt: skip
    facts = [
        ("K", "HOMELESS_FAMILY", "homelessness_feed", "homelessness.csv:2"),
        ("M", "HOMELESS_FAMILY", HOUSEHOLD_CRITERION, "H1"),
        # an adult of the household may have homelessness evidence of their own too
        ("M", "HOMELESS_FAMILY", "homelessness_feed", "homelessness.csv:3"),
        ("M", "HIGH_UTIL_ADULT", "avoidable_ed_visit", "c1"),
    ]
    pl.DataFrame(
        [{**dict.fromkeys(EVIDENCE_SCHEMA), "member_id": m, "pof_code": c, "criterion": k,
          "source_key": key, "event_date": as_of} for m, c, k, key in facts],
        schema=EVIDENCE_SCHEMA,
    ).write_parquet(folder / "evidence.parquet")  # fmt: skip
    counts = {"members": {"enrolled": 2}, "assignments": 3, "assigned_members": 2}
    run = history.RunRecord(history.new_run_id(), as_of, "v", "sha", "0", {}, counts, None)
    evidence_file = folder / "evidence.parquet" if evidence else None
    history.record_run(con, run, folder / "assignments.parquet", evidence_file=evidence_file)
    return run


def _household_flags(con) -> list[tuple]:
    return con.sql(
        "select r.as_of_date, a.member_id, a.pof_code, a.has_household_evidence "
        "from run_assignments a join runs r using (run_id) order by all"
    ).fetchall()


def test_the_history_records_who_holds_a_population_through_the_household(tmp_path):
    with duckdb.connect(str(tmp_path / "w.duckdb")) as con:
        _household_run(con, tmp_path / "with", AS_OF, evidence=True)
        _household_run(con, tmp_path / "without", SEPTEMBER, evidence=False)
        assert _household_flags(con) == [
            # without the evidence file: not known
            (SEPTEMBER, "K", "HOMELESS_FAMILY", None),
            (SEPTEMBER, "M", "HIGH_UTIL_ADULT", None),
            (SEPTEMBER, "M", "HOMELESS_FAMILY", None),
            # K is the index; M holds HOMELESS_FAMILY through the household, own rows or not
            (AS_OF, "K", "HOMELESS_FAMILY", False),
            (AS_OF, "M", "HIGH_UTIL_ADULT", False),
            (AS_OF, "M", "HOMELESS_FAMILY", True),
        ]


def test_a_warehouse_from_before_the_household_column_gains_it_empty(tmp_path):
    """run_assignments as issues #15-#16 wrote it: its rows keep an empty column, and the
    next run records the column."""
    from ecm.warehouse import history

    path = tmp_path / "old.duckdb"
    with duckdb.connect(str(path)) as con:
        history.ensure_history_tables(con)
        con.execute("alter table run_assignments drop column has_household_evidence")
        con.execute("alter table runs drop column assignments_key")
        con.execute("alter table runs drop column rules_text")
        con.execute("alter table runs drop column rules_path")
        con.execute(
            "insert into runs values ('r1', '2026-09-30', 'v', 's', 'e', '{}', 1, 1, 1, '{}', "
            "'succeeded', null, now()); "
            "insert into run_assignments values "
            "('r1', 'K', 'HOMELESS_FAMILY', 'child_youth', '2026-09-30', null)"
        )
    with duckdb.connect(str(path)) as con:
        _household_run(con, tmp_path / "october", AS_OF, evidence=True)
        assert _household_flags(con) == [
            (SEPTEMBER, "K", "HOMELESS_FAMILY", None),
            (AS_OF, "K", "HOMELESS_FAMILY", False),
            (AS_OF, "M", "HIGH_UTIL_ADULT", False),
            (AS_OF, "M", "HOMELESS_FAMILY", True),
        ]


def test_a_warehouse_from_before_the_rules_text_gains_its_columns_empty(tmp_path):
    """A run recorded before the rules file's text (and its assignments' key) was kept reads
    back with none, read only (no migration needed to read: no run answers a diff's side);
    a write to the history adds the columns, empty for it."""
    from ecm.warehouse import history

    path = tmp_path / "old.duckdb"
    with duckdb.connect(str(path)) as con:
        history.ensure_history_tables(con)
        con.execute("alter table runs drop column assignments_key")
        con.execute("alter table runs drop column rules_text")
        con.execute("alter table runs drop column rules_path")
        con.execute(
            "insert into runs values ('r1', ?, 'v', 's', 'e', '{}', 1, 1, 1, '{}', 'succeeded', "
            "null, now())",
            [SEPTEMBER],
        )
    with duckdb.connect(str(path), read_only=True) as con:
        assert history.latest_run(con) == history.RecordedRun("r1", SEPTEMBER, "v", "s", None, None)
        assert history.run_assigned(con, "k" * 64) is None
    with duckdb.connect(str(path)) as con:
        history.ensure_history_tables(con)
        kept = con.sql("select rules_path, rules_text, assignments_key from runs").fetchall()
        assert history.run_assigned(con, "k" * 64) is None
    assert kept == [(None, None, None)]


def test_the_latest_run_is_the_one_of_the_latest_as_of_date(tmp_path):
    from ecm.warehouse import history

    with duckdb.connect(str(tmp_path / "w.duckdb")) as con:
        assert history.latest_run(con) is None  # no history at all
        history.ensure_history_tables(con)
        assert history.latest_run(con) is None
        for run_id, day, text in (("r2", AS_OF, "b"), ("r1", SEPTEMBER, "a")):
            con.execute(
                f"insert into runs ({', '.join(history.RUN_COLUMNS)}) values "
                "(?, ?, 'v', 's', 'e', '{}', 1, 1, 1, '{}', 'succeeded', null, now(), 'p', ?, ?)",
                [run_id, day, text, f"{run_id:k<64}"],
            )
        assert history.latest_run(con) == history.RecordedRun("r2", AS_OF, "v", "s", "p", "b")
        assert history.run_assigned(con, f"{'r1':k<64}") == "r1"
        assert history.run_assigned(con, "k" * 64) is None
