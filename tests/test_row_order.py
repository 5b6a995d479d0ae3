"""A run's result does not depend on the order of the rows it reads.

The same feeds with every file's rows shuffled give byte-identical result files: no
rule, tie-break or output depends on the order rows arrive in (the order of a feed file,
of a staged table, or of a shard's input files)."""

from __future__ import annotations

import datetime as dt

import duckdb
import polars as pl
import pytest

from ecm.config.dates import RunDates
from ecm.generate import generate_feeds
from ecm.ingest import ingest
from ecm.shards.inputs import write_shard_inputs
from ecm.shards.run import OUTPUT_ORDER, merge_shard_results, run_shard, sort_totally

END = dt.date(2026, 10, 31)
MEMBERS = 2_500


def _shuffle_feeds(source, target, seed: int) -> dict[str, list[int]]:
    """Every Parquet feed file of `source` written to `target` with its rows shuffled;
    returns, per file (its path relative to the folder), the generated file's line of
    each line of the shuffled one."""
    lines: dict[str, list[int]] = {}
    for path in sorted(source.rglob("*.parquet")):
        frame = pl.read_parquet(path).with_row_index("_generated_line", offset=1)
        shuffled = frame.sample(fraction=1.0, shuffle=True, seed=seed)
        out = target / path.relative_to(source)
        out.parent.mkdir(parents=True, exist_ok=True)
        shuffled.drop("_generated_line").write_parquet(out)
        lines[path.relative_to(source).as_posix()] = shuffled["_generated_line"].to_list()
    return lines


def _as_generated(evidence: pl.DataFrame, lines: dict[str, list[int]]) -> pl.DataFrame:
    """`evidence` of a shuffled run with every `file:line` source key (a partner feed's
    row) pointing at the same row's line in the generated file."""

    def translate(key: str | None) -> str | None:
        file, _, line = (key or "").rpartition(":")
        if file in lines and line.isdigit():
            return f"{file}:{lines[file][int(line) - 1]}"
        return key

    return evidence.with_columns(
        pl.col("source_key").map_elements(translate, return_dtype=pl.String)
    )


def _run(root, feeds, rules, ref, shards: int):
    root.mkdir(parents=True)
    warehouse = root / "warehouse.duckdb"
    with duckdb.connect(str(warehouse)) as con:
        ingested = ingest(con, feeds, rules, root / "work")
        shard_set = write_shard_inputs(
            con,
            root / "inputs",
            rules,
            RunDates.of(rules, END).history_start,
            frozenset(ingested.feeds),
            shards=shards,
        )
    results = [
        run_shard(s, rules, RunDates.of(rules, END), root / "results", ref)
        for s in shard_set.paths()
    ]
    return merge_shard_results(results, root / "merged")


@pytest.fixture(scope="module")
def feeds(tmp_path_factory):
    root = tmp_path_factory.mktemp("row_order")
    generate_feeds(root / "feeds", members=MEMBERS, months=24, end=END, seed=5, fmt="parquet")
    return root


@pytest.fixture(scope="module")
def runs(feeds, rules, ref):
    """The merged results of the feeds as generated, and of two shuffles of them."""
    merged = {"as generated": (_run(feeds / "a", feeds / "feeds", rules, ref, shards=1), {})}
    for seed, shards in ((1, 1), (2, 3)):
        shuffled = feeds / f"shuffled-{seed}"
        lines = _shuffle_feeds(feeds / "feeds", shuffled, seed)
        merged[seed] = (_run(feeds / f"run-{seed}", shuffled, rules, ref, shards=shards), lines)
    return merged


def test_the_shuffled_feeds_are_really_in_another_order(feeds, runs):
    original = pl.read_parquet(feeds / "feeds" / "medical_claim.parquet")
    shuffled = pl.read_parquet(feeds / "shuffled-1" / "medical_claim.parquet")
    assert original.height == shuffled.height > 10_000
    assert not original.equals(shuffled)
    assert original.sort(original.columns).equals(shuffled.sort(shuffled.columns))


@pytest.mark.parametrize("seed", [1, 2])
@pytest.mark.parametrize("name", ["assignments", "member_metrics"])
def test_result_files_are_byte_identical_whatever_the_row_order(runs, seed, name):
    generated, shuffled = runs["as generated"][0], runs[seed][0]
    assert shuffled.files[name].read_bytes() == generated.files[name].read_bytes()


@pytest.mark.parametrize("seed", [1, 2])
def test_the_evidence_is_the_same_rows_whatever_the_row_order(runs, seed):
    """The same evidence, in the same order, once a partner-feed row's `file:line` is
    read as the line the row had in the generated file (the line is where the row is in
    the file delivered, so it moves with the row; claims are keyed by their claim id)."""
    generated, (shuffled, lines) = runs["as generated"][0], runs[seed]
    keys, nulls_last = OUTPUT_ORDER["evidence"]
    expected = pl.read_parquet(generated.files["evidence"])
    delivered = pl.read_parquet(shuffled.files["evidence"])
    translated = _as_generated(delivered, lines)
    assert sort_totally(translated, keys, nulls_last).equals(expected)
    assert (translated["source_key"] != delivered["source_key"]).any()  # some rows moved


@pytest.mark.parametrize("seed", [1, 2])
def test_counts_are_the_same_whatever_the_row_order(runs, seed):
    assert runs[seed][0].counts == runs["as generated"][0].counts
    assert runs[seed][0].counts["assignments"] > 100
