"""The referral loop's stage (ecm.loop.stage.run_loop) on a warehouse built here: what it
reads (merged assignments with or without excluded_by and exclusions, eligibility, the
staged RTF and OTF or their absence, the history of earlier runs), the files it writes
(empty with their columns when there is nothing to list), its counts and its warning."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import duckdb
import polars as pl
import pytest

from data_contracts import load_contract
from ecm.config.dates import RunDates
from ecm.loop.stage import LoopResult, loop_counts, run_loop
from ecm.warehouse import history
from transforms.loop import (
    EXCLUSIONS_SCHEMA,
    LISTING_SCHEMA,
    OTF_SCHEMA,
    REFERRAL_SCHEMA,
    REVIEW_SCHEMA,
    RTF_SCHEMA,
)

D = dt.date
SEPTEMBER, OCTOBER = D(2026, 9, 30), D(2026, 10, 31)
P, Q = "1111111111", "2222222222"
ASSIGNMENT_SCHEMA = {
    "member_id": pl.String,
    "pof_code": pl.String,
    "age_group": pl.String,
    "qualifying_date": pl.Date,
    "provider_npi": pl.String,
}


def _warehouse(path: Path, members: list[dict], rtf=(), otf=None) -> Path:
    """A warehouse with stg__eligibility of `members` and, when given, the staged RTF
    rows (member, provider, period, status, extra) and OTF rows."""
    eligibility = pl.DataFrame(
        [
            {"member_id": m["member_id"], "birth_date": D(1980, 1, 1),
             "death_date": m.get("death_date"),
             "enrollment_start_date": D(2020, 1, 1),
             "enrollment_end_date": m.get("enrollment_end_date")}
            for m in members
        ],
        schema={"member_id": pl.String, "birth_date": pl.Date, "death_date": pl.Date,
                "enrollment_start_date": pl.Date, "enrollment_end_date": pl.Date},
    )  # fmt: skip
    others = [c for c in load_contract("eligibility").read_columns if c not in eligibility.columns]
    eligibility = eligibility.with_columns(pl.lit(None, dtype=pl.String).alias(c) for c in others)
    with duckdb.connect(str(path)) as con:
        con.register("e", eligibility)
        con.execute("create table stg__eligibility as select * from e")
        if rtf is not None:
            rows = [
                {**dict.fromkeys(RTF_SCHEMA), "member_id": m, "provider_npi": p,
                 "reporting_period": period, "ecm_status": status, "_source_file": "rtf.csv",
                 "_line": i + 2, **extra}
                for i, (m, p, period, status, extra) in enumerate(rtf)
            ]  # fmt: skip
            frame = pl.DataFrame(rows, schema=RTF_SCHEMA).with_columns(
                pl.lit("3").alias("acuity_level")  # a template column the loop does not read
            )
            con.register("r", frame)
            con.execute("create table stg__provider_return as select * from r")
        if otf is not None:
            con.register("o", pl.DataFrame(otf, schema=OTF_SCHEMA))
            con.execute("create table stg__outreach as select * from o")
    return path


def _assignments(folder: Path, rows, excluded: dict | None = None) -> Path:
    """The merged assignments: (member, code, provider) rows; `excluded` member →
    excluded_by (the column only when given)."""
    frame = pl.DataFrame(
        [
            {"member_id": m, "pof_code": c, "age_group": "adult", "qualifying_date": D(2026, 1, 1),
             "provider_npi": p}
            for m, c, p in rows
        ],
        schema=ASSIGNMENT_SCHEMA,
    )  # fmt: skip
    if excluded is not None:
        frame = frame.with_columns(
            pl.col("member_id").replace_strict(excluded, default="").alias("excluded_by")
        )
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "assignments.parquet"
    frame.write_parquet(path)
    return path


def _run(tmp_path, house, as_of, results, rules) -> LoopResult:
    return run_loop(house, results, rules, RunDates.of(rules, as_of), tmp_path / f"loop-{as_of}")


def _record(house, as_of, assignments: Path, result: LoopResult) -> None:
    """Record the run as the flow does, so that the next month sees it."""
    counts = {"members": {"enrolled": 1}, "assignments": 1, "assigned_members": 1}
    record = history.RunRecord(history.new_run_id(), as_of, "v", "sha", "0", {}, counts, None)
    with duckdb.connect(str(house)) as con:
        history.record_run(con, record, assignments, result.member_files, result.files["referrals"])


def _frame(result: LoopResult, name: str) -> pl.DataFrame:
    return pl.read_parquet(result.files[name])


def test_a_first_run_without_the_providers_feeds_opens_a_referral_per_member_listed(
    tmp_path, rules
):
    house = _warehouse(tmp_path / "w.duckdb", [{"member_id": m} for m in "ABU"], rtf=None, otf=None)
    held = [("A", "X", P), ("A", "Y", P), ("B", "X", Q), ("U", "X", None)]
    results = {"assignments": _assignments(tmp_path / "m", held)}
    got = _run(tmp_path, house, OCTOBER, results, rules)
    referrals = _frame(got, "referrals")
    assert referrals.schema == pl.Schema(REFERRAL_SCHEMA)
    assert referrals.select("member_id", "provider_npi", "opened_date", "state").rows() == [
        ("A", P, OCTOBER, "referred"),
        ("B", Q, OCTOBER, "referred"),
    ]
    assert _frame(got, "listing").rows() == [
        ("A", P, "new", None),
        ("B", Q, "new", None),
        ("U", None, "new", None),
    ]
    review = _frame(got, "review")
    assert review.height == 0 and review.schema == pl.Schema(REVIEW_SCHEMA)
    assert got.counts["referrals"] == 2 and got.counts["referrals_by_state"]["referred"] == 2
    assert got.counts["assignment_status"] == {"new": 2, "continuing": 0, "enrolled": 0,
                                              "re-referral": 0}  # fmt: skip
    assert got.counts["provider_return_rows"] == 0 and got.counts["outreach_rows"] == 0
    assert got.warnings == []
    assert pl.read_parquet(got.member_files).rows() == [
        ("A", P, "new"),
        ("B", Q, "new"),
        ("U", None, "new"),
    ]


def test_nothing_to_list_gives_every_file_empty_with_its_columns(tmp_path, rules):
    house = _warehouse(tmp_path / "w.duckdb", [])
    got = _run(tmp_path, house, OCTOBER, {"assignments": _assignments(tmp_path / "m", [])}, rules)
    for name, schema in (("referrals", REFERRAL_SCHEMA), ("review", REVIEW_SCHEMA),
                         ("listing", LISTING_SCHEMA)):  # fmt: skip
        frame = _frame(got, name)
        assert frame.height == 0 and frame.schema == pl.Schema(schema), name
    assert got.counts["referrals"] == 0 and got.counts["overdue"] == 0


def test_a_month_later_the_loop_reads_the_history_and_the_providers_files(tmp_path, rules):
    """September lists A, B, C, E with P; the providers answer; in October A is enrolled,
    B declined (left out), C in outreach (continuing), E enrolled with Q (left out of P's
    file); Q returned E and F, whom it was never sent (warned, counted per provider)."""
    september_rtf = [
        ("A", P, D(2026, 9, 1), "enrolled", {"enrollment_start_date": D(2026, 10, 2)}),
        ("B", P, D(2026, 10, 1), "declined", {"referral_status_date": D(2026, 10, 9)}),
        ("E", Q, D(2026, 10, 1), "enrolled", {"enrollment_start_date": D(2026, 10, 1)}),
        ("F", Q, D(2026, 10, 1), "pending", {}),
        ("F", Q, D(2026, 9, 1), "pending", {}),
        ("A", P, D(2026, 11, 1), "discontinued", {}),  # after October: not read
    ]
    otf = [
        {"member_id": "C", "provider_npi": P, "attempt_date": D(2026, 10, 3), "method": "phone",
         "successful": "N", "_source_file": "otf.csv", "_line": 2},
    ]  # fmt: skip
    members = [{"member_id": m} for m in "ABCEF"]
    house = _warehouse(tmp_path / "w.duckdb", members, rtf=september_rtf, otf=otf)
    held = [("A", "X", P), ("B", "X", P), ("C", "X", P), ("E", "X", P)]
    september = _assignments(tmp_path / "sep", held)
    first = _run(tmp_path, house, SEPTEMBER, {"assignments": september}, rules)
    assert {s for _, _, s, _ in _frame(first, "listing").rows()} == {"new"}
    _record(house, SEPTEMBER, september, first)

    october = _assignments(tmp_path / "oct", held)
    got = _run(tmp_path, house, OCTOBER, {"assignments": october}, rules)
    assert _frame(got, "listing").rows() == [
        ("A", P, "enrolled", None),
        ("B", P, None, "loop_closed"),
        ("C", P, "continuing", None),
        ("E", P, None, "enrolled_elsewhere"),
    ]
    states = _frame(got, "referrals").select("member_id", "state", "state_date", "days_open")
    assert states.rows() == [
        ("A", "enrolled", D(2026, 10, 2), None),
        ("B", "declined", D(2026, 10, 9), None),
        ("C", "outreach", D(2026, 10, 3), 31),
        ("E", "referred", SEPTEMBER, 31),  # P never answered for E
    ]
    assert got.counts["left_out"] == {"loop_closed": 1, "enrolled_elsewhere": 1}
    assert got.counts["provider_return_rows"] == 5 and got.counts["outreach_rows"] == 1
    (warning,) = got.warnings
    assert warning["rule"] == "member_not_referred_to_provider"
    assert (warning["provider_npi"], warning["rows"], warning["members"]) == (Q, 3, 2)
    assert warning["feed"] == "provider_return" and warning["column"] == "provider_npi"
    said = json.dumps(warning)
    assert '"E"' not in said and '"F"' not in said and " F " not in warning["detail"]
    assert pl.read_parquet(got.member_files).rows() == [
        ("A", P, "enrolled"),
        ("C", P, "continuing"),
    ]  # the members left out are in no file


def test_a_population_gained_since_the_closing_run_is_read_from_the_history(tmp_path, rules):
    """A declined on 2026-09-10 (September's run saw it closed, holding X); in October A
    holds Y too: a re-referral that opens a new referral on October's date."""
    rtf = [("A", P, D(2026, 9, 1), "declined", {"referral_status_date": D(2026, 9, 10)})]
    house = _warehouse(tmp_path / "w.duckdb", [{"member_id": "A"}], rtf=rtf)
    august = D(2026, 8, 31)
    first = _assignments(tmp_path / "aug", [("A", "X", P)])
    _record(house, august, first, _run(tmp_path, house, august, {"assignments": first}, rules))
    second = _assignments(tmp_path / "sep", [("A", "X", P)])
    closed = _run(tmp_path, house, SEPTEMBER, {"assignments": second}, rules)
    assert _frame(closed, "listing").rows() == [("A", P, None, "loop_closed")]
    _record(house, SEPTEMBER, second, closed)
    gained = _assignments(tmp_path / "oct", [("A", "X", P), ("A", "Y", P)])
    got = _run(tmp_path, house, OCTOBER, {"assignments": gained}, rules)
    assert _frame(got, "listing").rows() == [("A", P, "re-referral", None)]
    assert _frame(got, "referrals").select("opened_date", "state").rows() == [
        (OCTOBER, "referred")  # September's decline answered the loop before
    ]
    same = _assignments(tmp_path / "oct-same", [("A", "X", P)])
    got = _run(tmp_path, house, OCTOBER, {"assignments": same}, rules)
    assert _frame(got, "listing").rows() == [("A", P, None, "loop_closed")]


def test_exclusions_and_leaving_the_plan_close_loops_and_are_reviewed(tmp_path, rules):
    """A enrolled with P, then excluded (hospice starting 2026-10-20) while enrolled: no
    file lists it, its referral is `excluded`, the review says so. B enrolled, then left
    the plan on 2026-10-15; E died on 2026-10-20."""
    rtf = [
        (m, P, D(2026, 9, 1), "enrolled", {"enrollment_start_date": D(2026, 9, 5)}) for m in "ABE"
    ]
    members = [
        {"member_id": "A"},
        {"member_id": "B", "enrollment_end_date": D(2026, 10, 15)},
        {"member_id": "E", "death_date": D(2026, 10, 20)},
    ]
    house = _warehouse(tmp_path / "w.duckdb", members, rtf=rtf)
    september = _assignments(tmp_path / "sep", [(m, "X", P) for m in "ABE"], excluded={})
    first = _run(tmp_path, house, SEPTEMBER, {"assignments": september}, rules)
    _record(house, SEPTEMBER, september, first)
    exclusions = tmp_path / "exclusions.parquet"
    pl.DataFrame(
        [{"member_id": "A", "program": "hospice", "source_feed": "medical_claim",
          "source_key": "c1", "start_date": D(2026, 10, 20), "end_date": None}],
        schema=EXCLUSIONS_SCHEMA,
    ).write_parquet(exclusions)  # fmt: skip
    october = _assignments(tmp_path / "oct", [("A", "X", P)], excluded={"A": "hospice"})
    got = _run(tmp_path, house, OCTOBER, {"assignments": october, "exclusions": exclusions}, rules)
    assert _frame(got, "listing").height == 0  # excluded: in no file, not even unassigned
    assert _frame(got, "referrals").select("member_id", "state", "state_date").rows() == [
        ("A", "excluded", D(2026, 10, 20)),
        ("B", "left_plan", D(2026, 10, 16)),
        ("E", "left_plan", D(2026, 10, 20)),
    ]
    assert _frame(got, "review").rows() == [
        ("A", P, "excluded", None, "hospice", D(2026, 9, 5)),
        ("B", P, "left_plan", None, None, D(2026, 9, 5)),
        ("E", P, "left_plan", None, None, D(2026, 9, 5)),
    ]
    assert got.counts["review"] == {"no_population": 0, "fewer_populations": 0, "excluded": 1,
                                   "left_plan": 2}  # fmt: skip


def test_a_staged_rtf_without_the_loops_columns_is_a_bug(tmp_path, rules):
    house = _warehouse(tmp_path / "w.duckdb", [{"member_id": "A"}], rtf=None)
    with duckdb.connect(str(house)) as con:
        con.execute("create table stg__provider_return (member_id varchar)")
    with pytest.raises(ValueError, match="stg__provider_return lacks the columns"):
        _run(tmp_path, house, OCTOBER, {"assignments": _assignments(tmp_path / "m", [])}, rules)


def test_the_counts_name_every_state_status_reason_even_at_zero():
    empty = (
        pl.DataFrame(schema=REFERRAL_SCHEMA),
        pl.DataFrame(schema=LISTING_SCHEMA),
        pl.DataFrame(schema=REVIEW_SCHEMA),
    )
    counts = loop_counts(*empty, 0, 0, max_open_days=60)
    assert list(counts["referrals_by_state"]) == [
        "left_plan", "excluded", "discontinued", "enrolled", "declined", "unable_to_reach",
        "not_eligible", "pending", "reached", "outreach", "referred",
    ]  # fmt: skip
    assert set(counts["referrals_by_state"].values()) == {0}
    assert list(counts["left_out"]) == ["loop_closed", "enrolled_elsewhere"]
    assert counts["open_by_age"] == {"0_30": 0, "31_60": 0, "61_90": 0, "over_90": 0}
    assert list(counts["discontinued_by_reason"]) == [
        "WM", "SC", "DP", "UE", "UBE", "EXP", "NE", "OH", "CAP", "ERR", "OTH", "DNC",
    ]  # fmt: skip
    assert set(counts["discontinued_by_reason"].values()) == {0}
    assert counts["discontinued_without_reason"] == 0
    assert counts["max_open_days"] == 60


def test_the_counts_give_open_loops_by_age_and_discontinuations_by_reason():
    rows = [
        {**dict.fromkeys(REFERRAL_SCHEMA), "member_id": m, "provider_npi": P,
         "opened_date": SEPTEMBER, "state": s, "discontinuation_reason_code": code,
         "outreach_attempts": 0, "days_open": days, "is_overdue": bool(days and days > 45)}
        for m, s, code, days in (
            ("A", "referred", None, 30), ("B", "outreach", None, 31), ("C", "reached", None, 91),
            ("E", "discontinued", "SC", None), ("F", "discontinued", "SC", None),
            ("G", "discontinued", "EXP", None), ("H", "discontinued", None, None),
            ("I", "enrolled", "WM", None),  # a code on a loop not discontinued: not counted
        )
    ]  # fmt: skip
    referrals = pl.DataFrame(rows, schema=REFERRAL_SCHEMA)
    counts = loop_counts(
        referrals,
        pl.DataFrame(schema=LISTING_SCHEMA),
        pl.DataFrame(schema=REVIEW_SCHEMA),
        0,
        0,
        max_open_days=45,
    )
    assert counts["open_by_age"] == {"0_30": 1, "31_60": 1, "61_90": 0, "over_90": 1}
    assert (counts["open"], counts["overdue"], counts["max_open_days"]) == (3, 1, 45)
    assert {k: v for k, v in counts["discontinued_by_reason"].items() if v} == {"SC": 2, "EXP": 1}
    assert counts["discontinued_without_reason"] == 1


def test_the_console_says_the_loop_and_its_warning_with_counts_only():
    from ecm.deliver.console import loop_said, warnings_said
    from ecm.loop.stage import not_referred_warnings

    referrals = pl.DataFrame(
        [{**dict.fromkeys(REFERRAL_SCHEMA), "member_id": m, "provider_npi": P,
          "opened_date": SEPTEMBER, "state": s, "outreach_attempts": 0, "is_overdue": o}
         for m, s, o in (("A", "enrolled", False), ("B", "referred", True))],
        schema=REFERRAL_SCHEMA,
    )  # fmt: skip
    listing = pl.DataFrame(
        [("A", P, "enrolled", None), ("C", P, None, "loop_closed")],
        schema=LISTING_SCHEMA,
        orient="row",
    )
    review = pl.DataFrame([("A", P, "excluded", None, "pace", None)], schema=REVIEW_SCHEMA,
                          orient="row")  # fmt: skip
    summary = {"loop": loop_counts(referrals, listing, review, 3, 0, max_open_days=60)}
    assert loop_said(summary) == (
        "Referral loop: 2 referrals (enrolled 1, referred 1), 1 open, 1 overdue. Listed with "
        "a provider: enrolled 1; left out: 1 loop closed, 0 enrolled elsewhere. For review: "
        "1 (excluded 1)."
    )
    assert loop_said({}) is None
    unreferred = pl.DataFrame({"provider_npi": [Q], "rows": [3], "members": [1]})
    summary["data_quality"] = {"warnings": not_referred_warnings(unreferred)}
    assert warnings_said(summary) == [
        f"provider_return: 3 rows: provider {Q} returned 1 member it was never sent in a "
        "member information file (the rows are kept)"
    ]


def test_a_warehouse_from_before_the_loop_is_its_first_run_of_the_loop(tmp_path, rules):
    """September was run before the loop existed (runs and run_assignments only): October
    knows no referral, so every member listed with a provider is `new`, while U, carried
    over in unassigned/, is `continuing` as before."""
    house = _warehouse(tmp_path / "w.duckdb", [{"member_id": m} for m in "AU"])
    september = _assignments(tmp_path / "sep", [("A", "X", P), ("U", "X", None)])
    counts = {"members": {"enrolled": 2}, "assignments": 2, "assigned_members": 2}
    record = history.RunRecord(history.new_run_id(), SEPTEMBER, "v", "s", "0", {}, counts, None)
    with duckdb.connect(str(house)) as con:
        history.record_run(con, record, september)  # no listing, no referrals
        con.execute("drop table run_member_files; drop table run_referrals")
    october = _assignments(tmp_path / "oct", [("A", "X", P), ("U", "X", None)])
    got = _run(tmp_path, house, OCTOBER, {"assignments": october}, rules)
    assert _frame(got, "listing").rows() == [("A", P, "new", None), ("U", None, "continuing", None)]


def test_outputs_md_names_every_key_of_the_summarys_loop():
    """docs/OUTPUTS.md's summary.json table says every key of `loop`, and every key of
    its tables, each as `code`."""
    docs = (Path(__file__).resolve().parents[1] / "docs" / "OUTPUTS.md").read_text()
    row = next(line for line in docs.splitlines() if line.startswith("| `loop` |"))
    counts = loop_counts(
        pl.DataFrame(schema=REFERRAL_SCHEMA),
        pl.DataFrame(schema=LISTING_SCHEMA),
        pl.DataFrame(schema=REVIEW_SCHEMA),
        0,
        0,
        max_open_days=60,
    )
    assert [k for k in counts if f"`{k}`" not in row] == []
    # the tables whose keys it lists (referrals_by_state: every state; the reason codes:
    # `WM` … `DNC`, the contract's)
    for table in ("open_by_age", "assignment_status", "left_out", "review"):
        assert f"`{{{', '.join(counts[table])}}}`" in row, table
