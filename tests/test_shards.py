"""Household shards: the shard map's grain and households, and a run's files byte-identical
for every shard count (ecm.shards.inputs, ecm.shards.run)."""

from __future__ import annotations

import datetime as dt
import pickle

import duckdb
import polars as pl
import pytest

from ecm.config.dates import RunDates
from ecm.config.rules import load_rules
from ecm.errors import RulesError
from ecm.generate import generate_feeds
from ecm.ingest import ingest
from ecm.shards.evaluate import (
    assign_populations,
    build_events,
    read_inputs,
    scan_inputs,
)
from ecm.shards.inputs import (
    build_households,
    build_shard_map,
    install_shard_macros,
    shard_count,
    shard_of,
    write_shard_inputs,
)
from ecm.shards.run import OUTPUT_ORDER, merge_shard_results, run_shard, sort_totally
from ecm.warehouse.sql import install_macros
from tests.conftest import ROOT, eligibility

END = dt.date(2026, 10, 31)
MEMBERS = 3_000
SHARD_COUNTS = (1, 3, 7)


@pytest.fixture(scope="module")
def generated(tmp_path_factory, rules):
    """A generated feed directory (every population, many households), ingested."""
    root = tmp_path_factory.mktemp("shards")
    generate_feeds(root / "feeds", members=MEMBERS, months=24, end=END, seed=11, fmt="parquet")
    warehouse = root / "warehouse.duckdb"
    with duckdb.connect(str(warehouse)) as con:
        ingested = ingest(con, root / "feeds", rules, root / "work")
    return root, warehouse, frozenset(ingested.feeds)


@pytest.fixture(scope="module")
def runs(generated, rules, ref):
    """The merged files and counts of a run in 1, 3 and 7 shards."""
    root, warehouse, feeds = generated
    merged = {}
    for n in SHARD_COUNTS:
        with duckdb.connect(str(warehouse)) as con:
            shard_set = write_shard_inputs(
                con,
                root / f"n{n}" / "inputs",
                rules,
                RunDates.of(rules, END).history_start,
                feeds,
                shards=n,
            )
        assert shard_set.shards == n
        results = [
            run_shard(shard, rules, RunDates.of(rules, END), root / f"n{n}" / "results", ref)
            for shard in shard_set.paths()
        ]
        merged[n] = merge_shard_results(results, root / f"n{n}" / "merged")
    return merged


@pytest.mark.parametrize("n", SHARD_COUNTS[1:])
@pytest.mark.parametrize("name", list(OUTPUT_ORDER))
def test_files_are_byte_identical_for_every_shard_count(runs, n, name):
    assert runs[n].files[name].read_bytes() == runs[1].files[name].read_bytes()


@pytest.mark.parametrize("n", SHARD_COUNTS[1:])
def test_summary_counts_are_the_same_for_every_shard_count(runs, n):
    assert runs[n].counts == runs[1].counts


def test_every_population_and_household_members_are_in_the_sharded_run(runs, rules):
    assignments = pl.read_parquet(runs[7].files["assignments"])
    assert set(assignments["pof_code"]) == set(rules.population_codes)
    # HOMELESS_FAMILY relatives (not themselves homeless children) prove households met.
    evidence = pl.read_parquet(runs[7].files["evidence"])
    assert (evidence["criterion"] == "homeless_child_in_household").sum() > 0


def test_the_sharded_run_has_exclusions_of_both_sources(runs):
    """The generated programs and hospice claims exclude members in every shard count
    (their files byte-identical above); rows of programs that never exclude are counted
    across the shards, each program once."""
    exclusions = pl.read_parquet(runs[7].files["exclusions"])
    assert set(exclusions["source_feed"]) == {"program_enrollment", "medical_claim"}
    assert runs[7].counts["exclusions"]["programs_not_excluding"]["smhs_tcm"] > 0
    assert runs[7].counts["exclusion_status"]["status"] == "evaluated"


def test_a_sharded_run_equals_the_whole_population_run(generated, runs, rules, ref):
    """Sharding changes where rows are computed, never what: the merged files hold the
    rows of a run over every member at once (ecm.shards.evaluate.read_inputs)."""
    _, warehouse, feeds = generated
    with duckdb.connect(str(warehouse)) as con:
        inputs = read_inputs(con, feeds, RunDates.of(rules, END).history_start)
    events = build_events(inputs, ref, rules, RunDates.of(rules, END))
    whole = assign_populations(events, inputs, rules)
    for name, (keys, nulls_last) in OUTPUT_ORDER.items():
        expected = sort_totally(getattr(whole, name), keys, nulls_last)
        assert pl.read_parquet(runs[7].files[name]).equals(expected), name
    assert runs[7].counts["members"]["enrolled"] == events.members.height
    assert runs[7].counts["events"] == {
        "ed_visits": events.ed_visits.height,
        "stays": events.stays.height,
    }


def test_shard_inputs_have_the_columns_and_rows_of_the_staged_tables(generated, rules):
    root, warehouse, feeds = generated
    with duckdb.connect(str(warehouse)) as con:
        whole = read_inputs(con, feeds, RunDates.of(rules, END).history_start)
        shard_set = write_shard_inputs(
            con, root / "columns", rules, RunDates.of(rules, END).history_start, feeds, shards=3
        )
    shards = [scan_inputs(p.files(), feeds) for p in shard_set.paths()]
    assert set(shard_set.tables) == set(whole.frames)
    for table in shard_set.tables:
        expected = whole[table]
        assert all(s[table].collect_schema() == expected.collect_schema() for s in shards)
        rows = sum(s[table].select(pl.len()).collect().item() for s in shards)
        assert rows == expected.select(pl.len()).collect().item(), table


# --- the shard map -----------------------------------------------------------------------


def _stage_eligibility(con: duckdb.DuckDBPyConnection, rows: list[dict]) -> None:
    frame = eligibility(*rows).collect()  # noqa: F841 (read by DuckDB by name)
    con.execute("create or replace table stg__eligibility as select * from frame")


def _shard_map(rows: list[dict], shards: int) -> dict[str, tuple[str, int]]:
    with duckdb.connect() as con:
        install_macros(con)
        _stage_eligibility(con, rows)
        build_households(con)
        build_shard_map(con, shards)
        return {
            m: (h, s)
            for m, h, s in con.sql(
                "select member_id, household_id, shard from int__member_shard"
            ).fetchall()
        }


# Households: P, C1, C2 share subscriber S1; X held S2, then (a later span) S3, so S2's
# and S3's members are one household through X; Y has no subscriber_id; a chain D-E-F
# takes two rounds to settle (F reaches D only through E).
HOUSEHOLD_ROWS = [
    {"member_id": "P", "subscriber_id": "S1"},
    {"member_id": "C1", "subscriber_id": "S1"},
    {"member_id": "C2", "subscriber_id": "S1"},
    {"member_id": "X", "subscriber_id": "S2", "enrollment_end_date": dt.date(2025, 12, 31)},
    {"member_id": "X", "subscriber_id": "S3", "enrollment_start_date": dt.date(2026, 1, 1)},
    {"member_id": "W2", "subscriber_id": "S2"},
    {"member_id": "W3", "subscriber_id": "S3"},
    {"member_id": "Y", "subscriber_id": None},
    {"member_id": "D", "subscriber_id": "T1"},
    {"member_id": "E", "subscriber_id": "T1"},
    {"member_id": "E", "subscriber_id": "T2"},
    {"member_id": "F", "subscriber_id": "T2"},
    {"member_id": "F", "subscriber_id": "T3"},
    {"member_id": "G", "subscriber_id": "T3"},
]
HOUSEHOLDS = {
    "C1": "C1",
    "C2": "C1",
    "P": "C1",
    "W2": "W2",
    "W3": "W2",
    "X": "W2",
    "Y": "Y",
    "D": "D",
    "E": "D",
    "F": "D",
    "G": "D",
}


@pytest.mark.parametrize("shards", [1, 2, 3, 7, 64])
def test_a_household_lands_in_one_shard_for_every_shard_count(shards):
    mapped = _shard_map(HOUSEHOLD_ROWS, shards)
    assert {m: h for m, (h, _) in mapped.items()} == HOUSEHOLDS
    for member, (household, shard) in mapped.items():
        assert shard == mapped[household][1], member
        assert shard == shard_of(household, shards)  # the SQL and Python hashes agree
        assert 0 <= shard < shards


def test_a_member_whose_subscriber_id_changed_keeps_both_households_together():
    mapped = _shard_map(HOUSEHOLD_ROWS, 7)
    assert mapped["W2"] == mapped["X"] == mapped["W3"]


def test_the_shard_map_has_one_row_per_member(generated):
    _, warehouse, _ = generated
    with duckdb.connect(str(warehouse)) as con:
        install_macros(con)
        build_households(con)
        build_shard_map(con, 7)
        rows, members, distinct = con.execute(
            "select count(*), (select count(distinct member_id) from stg__eligibility), "
            "count(distinct member_id) from int__member_shard"
        ).fetchall()[0]
        # many households: generated children share a parent's subscriber_id
        households, multi = con.execute(
            "select count(*), count(*) filter (where n > 1) from "
            "(select household_id, count(*) as n from int__member_shard group by all)"
        ).fetchall()[0]
    assert rows == members == distinct
    assert multi > 100 and households < members


def test_the_shard_hash_is_fixed():
    """md5, not a process-seeded hash: the same household lands in the same shard on every
    machine and version (these values must never change)."""
    keys = ["M000001", "M000002", "C1", "", "household-42"]
    assert [shard_of(k, 7) for k in keys] == [0, 1, 4, 5, 1]
    with duckdb.connect() as con:
        install_shard_macros(con)
        in_sql = con.execute(
            "select [ecm_household_shard(k, 7) for k in $keys], ecm_household_shard(null, 7)",
            {"keys": keys},
        ).fetchall()[0]
    assert in_sql == ([0, 1, 4, 5, 1], 5)
    assert shard_of("M1", 2**60) == 1094904600807302259


@pytest.mark.parametrize(
    ("members", "budget_gib", "per_member", "expected"),
    [(0, 8, 30_000, 1), (1, 8, 30_000, 1), (300_000, 8, 30_000, 2), (1_500_000, 8, 30_000, 6)],
)
def test_the_shard_count_follows_the_memory_budget(
    rules, members, budget_gib, per_member, expected
):
    data = {**rules.data, "run": {"memory_budget_gib": budget_gib, "bytes_per_member": per_member}}
    assert shard_count(members, type(rules)(data, rules.path, rules.sha256)) == expected


@pytest.mark.parametrize(
    ("members", "workers", "expected"),
    [
        (1, 2, 2),  # every worker has a shard
        (286_331, 1, 1),  # 8 GiB / 30,000 bytes: 286,331.15 members fit one shard
        (286_332, 1, 2),
        (286_331, 2, 2),  # two workers side by side: 4 GiB each
        (286_332, 2, 3),
        (1_500_000, 4, 21),
    ],
)
def test_workers_side_by_side_share_the_memory_budget(rules, members, workers, expected):
    data = {**rules.data, "run": {"memory_budget_gib": 8, "bytes_per_member": 30_000}}
    budget = type(rules)(data, rules.path, rules.sha256)
    assert shard_count(members, budget, workers) == expected


def test_the_packaged_budget_runs_300k_members_in_one_shard_and_1_5m_in_four(rules):
    assert [shard_count(m, rules) for m in (3_000, 300_000, 1_500_000)] == [1, 1, 4]


def test_a_rules_file_without_the_run_budget_is_a_rules_error(tmp_path):
    text = (ROOT / "reference" / "rules.toml").read_text()
    path = tmp_path / "rules.toml"
    path.write_text(text.replace("bytes_per_member =", "bytes_per_members ="))
    with pytest.raises(RulesError, match=r"run\.bytes_per_member"):
        load_rules(path)


def test_a_shard_and_the_rules_can_be_sent_to_another_process(generated, rules, tmp_path):
    _, warehouse, feeds = generated
    with duckdb.connect(str(warehouse)) as con:
        shard_set = write_shard_inputs(
            con, tmp_path / "inputs", rules, RunDates.of(rules, END).history_start, feeds, shards=2
        )
    shard = shard_set.paths()[1]
    assert pickle.loads(pickle.dumps((shard, rules))) == (shard, rules)
