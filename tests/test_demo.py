"""`ecm demo` (flows/demo.py): the months of a plan in one warehouse, the ECM providers
answering each run's member information files before the next run."""

from __future__ import annotations

import datetime as dt
import json

import duckdb
import pytest
from click.testing import CliRunner

from ecm.cli import main
from ecm.config.dates import default_as_of
from ecm.config.rules import load_rules
from ecm.errors import InputError
from flows.demo import _begin_new_warehouse, demo_as_of_dates

D = dt.date


@pytest.mark.parametrize(
    ("end", "runs", "dates"),
    [
        (D(2026, 11, 30), 3, [D(2026, 9, 30), D(2026, 10, 31), D(2026, 11, 30)]),
        (D(2026, 3, 31), 3, [D(2026, 1, 31), D(2026, 2, 28), D(2026, 3, 31)]),
        (D(2026, 1, 31), 2, [D(2025, 12, 31), D(2026, 1, 31)]),
        (D(2026, 10, 15), 2, [D(2026, 9, 30), D(2026, 10, 15)]),
        (D(2026, 11, 30), 1, [D(2026, 11, 30)]),
    ],
)
def test_the_months_end_on_the_as_of_date_each_a_month_after_the_one_before(end, runs, dates):
    assert demo_as_of_dates(end, runs) == dates


def test_a_demo_begins_a_new_warehouse_and_never_removes_another_database(tmp_path):
    ours = tmp_path / "warehouse.duckdb"
    with duckdb.connect(str(ours)) as con:
        con.execute("create table runs (run_id text)")
    owned = tmp_path / "warehouse.duckdb.files"  # the folder a warehouse owns (outputs.md)
    owned.mkdir()
    (owned / "0a1b.parquet").write_bytes(b"PAR1")
    _begin_new_warehouse(ours)
    assert not ours.exists() and not owned.exists()
    _begin_new_warehouse(ours)  # none: nothing to do
    theirs = tmp_path / "theirs.duckdb"
    with duckdb.connect(str(theirs)) as con:
        con.execute("create table ledger (amount int)")
    with pytest.raises(InputError, match="not an ecm warehouse"):
        _begin_new_warehouse(theirs)
    assert theirs.exists()


def test_months_of_history_must_hold_the_runs(tmp_path):
    args = ["demo", "--months", "2", "--runs", "3", "--workdir", str(tmp_path)]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 2
    assert "2 months of history cannot hold 3 monthly runs" in result.output
    assert not (tmp_path / "feeds").exists()


@pytest.fixture(scope="module")
def harness():
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=120):
        yield


@pytest.mark.flow
def test_the_demo_runs_three_months_in_one_warehouse_with_the_providers_answers(harness, tmp_path):
    # an earlier demo's warehouse, holding a run of another month: not this demo's history
    (tmp_path / "out").mkdir()
    with duckdb.connect(str(tmp_path / "out" / "warehouse.duckdb")) as con:
        con.execute("create table runs as select date '2020-01-31' as as_of_date")
    args = ["demo", "--members", "300", "--months", "6", "--workdir", str(tmp_path)]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output[-3000:]
    dates = demo_as_of_dates(default_as_of(load_rules().timezone), 3)
    months = [d.strftime("%Y-%m") for d in dates]
    out = tmp_path / "out"
    # a folder per month, and the warehouse's own (its kept shard inputs)
    assert sorted(p.name for p in out.iterdir() if p.is_dir()) == [
        *months,
        "warehouse.duckdb.files",
    ]
    with duckdb.connect(str(out / "warehouse.duckdb"), read_only=True) as con:
        recorded = [d for (d,) in con.sql("select as_of_date from runs order by 1").fetchall()]
    assert recorded == dates
    # between two runs the providers answered the earlier run's files, one a provider a month
    feeds = tmp_path / "feeds"
    for feed in ("provider_return", "outreach"):
        periods = {p.stem.rsplit("_", 1)[1] for p in (feeds / feed).iterdir()}
        assert periods == {d.strftime("%Y%m") for d in dates[:2]}, feed
    summaries = [json.loads((out / m / "summary.json").read_text()) for m in months]
    first, second, last = (s["feeds"] for s in summaries)
    assert not first["provider_return"]["present"] and not first["outreach"]["present"]
    for feeds_read in (second, last):
        for feed in ("provider_return", "outreach"):
            counts = feeds_read[feed]
            assert counts["present"] and counts["read"] == counts["staged"] > 0
            assert counts["quarantined"] == 0
    assert last["provider_return"]["read"] > second["provider_return"]["read"]
    # the same members every month: one eligibility, staged once
    assert {s["feeds"]["eligibility"]["read"] for s in summaries} == {first["eligibility"]["read"]}
    # printed: the months, then the last month's summary
    assert "3 month(s) in one warehouse" in result.stdout
    assert f"Populations of Focus on {dates[-1]}" in result.stdout
    assert result.stdout.index("3 month(s)") < result.stdout.index("Populations of Focus")
