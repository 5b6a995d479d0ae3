"""The shard inputs a run keeps in the warehouse's folder (ecm.shards.inputs,
ecm.warehouse.kept; issue #18): a rerun with another rules file or as-of date over the same
feeds reads the kept set and writes no partition, and its files equal a full run's, byte for
byte; a run over other feeds writes a new set and the old one goes; a refused run changes
neither the set nor the catalog; only folders named like ours are ever removed."""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path

import duckdb
import pytest

from ecm.errors import SanityGuardError
from ecm.warehouse.kept import COMPLETE, KEPT_TABLE, files_folder
from tests.test_pinned_outputs import _hashes

pytestmark = pytest.mark.flow

AS_OF = dt.date(2026, 10, 31)
EARLIER = dt.date(2026, 8, 31)
RULES = Path(__file__).resolve().parent.parent / "reference" / "rules.toml"
KEY_LENGTH = 64


def _rules(folder: Path, old: str, new: str) -> Path:
    text = RULES.read_text(encoding="utf-8")
    assert old in text, old
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "rules.toml"
    path.write_text(text.replace(old, new, 1), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def feeds(tmp_path_factory) -> Path:
    from ecm.generate import generate_feeds

    folder = tmp_path_factory.mktemp("kept") / "feeds"
    generate_feeds(folder, members=1_200, months=24, end=AS_OF, seed=11, fmt="csv")
    return folder


@pytest.fixture(scope="module")
def lower_ed(tmp_path_factory) -> Path:
    """Rules B: four avoidable ED visits make an adult a high utiliser (five in A)."""
    return _rules(
        tmp_path_factory.mktemp("rules_b"),
        "min_avoidable_ed_visits = 5",
        "min_avoidable_ed_visits = 4",
    )


def _run(feeds: Path, out: Path, warehouse: Path, as_of=AS_OF, rules=None, shards=None) -> dict:
    from flows.monthly import monthly

    return monthly(
        input_dir=feeds,
        as_of=as_of,
        out_dir=out,
        warehouse=warehouse,
        rules_file=rules,
        shards=shards,
    )


def _one_drop_fewer(feeds: Path, into: Path) -> Path:
    """The feeds without the claims' last monthly drop."""
    shutil.copytree(feeds, into)
    sorted((into / "medical_claim").iterdir())[-1].unlink()
    return into


def _sets(warehouse: Path) -> dict[str, float]:
    """The kept shard-input sets beside `warehouse`: key → newest mtime of its files."""
    root = files_folder(warehouse) / "shard_inputs"
    if not root.is_dir():
        return {}
    return {
        d.name: max(p.stat().st_mtime_ns for p in d.rglob("*") if p.is_file())
        for d in root.iterdir()
    }


def _named(warehouse: Path) -> list[tuple[str, str]]:
    """The shard-input sets the catalog names (it names the kept events too:
    tests/test_kept_events.py)."""
    with duckdb.connect(str(warehouse), read_only=True) as con:
        return con.execute(
            f"select kind, key from {KEPT_TABLE} where kind = 'shard_inputs'"
        ).fetchall()


def test_a_rerun_with_other_rules_reads_the_kept_set_and_equals_a_full_run(
    harness, feeds, lower_ed, tmp_path
):
    house = tmp_path / "w" / "warehouse.duckdb"
    first = _run(feeds, tmp_path / "a", house)
    assert first["shards"]["inputs_kept"] is False
    kept = _sets(house)
    assert len(kept) == 1 and len(next(iter(kept))) == KEY_LENGTH
    assert _named(house) == [("shard_inputs", next(iter(kept)))]

    again = _run(feeds, tmp_path / "b", house, rules=lower_ed)
    assert again["shards"]["inputs_kept"] is True
    assert _sets(house) == kept  # the same set, not a file of it written again

    full = _run(feeds, tmp_path / "b_full", tmp_path / "w2" / "warehouse.duckdb", rules=lower_ed)
    assert full["shards"]["inputs_kept"] is False
    assert _hashes(tmp_path / "b") == _hashes(tmp_path / "b_full")
    # Rules B finds more high utilisers than A: the rerun is not the first run again.
    assert (
        again["populations"]["HIGH_UTIL_ADULT"]["members"]
        > first["populations"]["HIGH_UTIL_ADULT"]["members"]
    )


def test_a_rerun_at_another_as_of_date_reads_the_kept_set_and_equals_a_full_run(
    harness, feeds, tmp_path
):
    house = tmp_path / "w" / "warehouse.duckdb"
    _run(feeds, tmp_path / "a", house)
    kept = _sets(house)
    earlier = _run(feeds, tmp_path / "earlier", house, as_of=EARLIER)
    assert earlier["shards"]["inputs_kept"] is True
    assert _sets(house) == kept
    _run(feeds, tmp_path / "earlier_full", tmp_path / "w2" / "warehouse.duckdb", as_of=EARLIER)
    assert _hashes(tmp_path / "earlier") == _hashes(tmp_path / "earlier_full")


def test_sharded_runs_keep_their_set_and_a_rerun_equals_one_shard(
    harness, feeds, lower_ed, tmp_path
):
    house = tmp_path / "w" / "warehouse.duckdb"
    _run(feeds, tmp_path / "a", house, shards=3)
    again = _run(feeds, tmp_path / "b", house, rules=lower_ed, shards=3)
    assert again["shards"] == {**again["shards"], "shards": 3, "inputs_kept": True}
    _run(feeds, tmp_path / "one", tmp_path / "w2" / "warehouse.duckdb", rules=lower_ed)
    assert _hashes(tmp_path / "b") == _hashes(tmp_path / "one")
    # Another N is another set: written, and the set of 3 shards is no longer named.
    other = _run(feeds, tmp_path / "c", house, shards=2)
    assert other["shards"]["inputs_kept"] is False
    assert len(_sets(house)) == 1


def test_other_feeds_write_a_new_set_and_the_old_one_goes(harness, feeds, tmp_path):
    house = tmp_path / "w" / "warehouse.duckdb"
    _run(feeds, tmp_path / "a", house)
    before = set(_sets(house))
    changed = _one_drop_fewer(feeds, tmp_path / "feeds")
    second = _run(changed, tmp_path / "b", house)
    assert second["shards"]["inputs_kept"] is False
    after = set(_sets(house))
    assert len(after) == 1 and after != before
    assert _named(house) == [("shard_inputs", next(iter(after)))]


def test_a_refused_run_changes_neither_the_kept_set_nor_the_catalog(harness, feeds, tmp_path):
    house = tmp_path / "w" / "warehouse.duckdb"
    _run(feeds, tmp_path / "a", house)
    kept, named = _sets(house), _named(house)
    changed = _one_drop_fewer(feeds, tmp_path / "feeds")
    strict = _rules(
        tmp_path / "strict", "min_enrolled_members = 1", "min_enrolled_members = 10000000"
    )
    with pytest.raises(SanityGuardError):
        _run(changed, tmp_path / "b", house, rules=strict)
    assert _sets(house) == kept
    assert _named(house) == named


def test_a_set_no_catalog_names_is_pruned_and_nothing_else_is_touched(harness, feeds, tmp_path):
    house = tmp_path / "w" / "warehouse.duckdb"
    _run(feeds, tmp_path / "a", house)
    root = files_folder(house)
    orphan = root / "shard_inputs" / ("ab" * 32)
    orphan.mkdir()
    (orphan / "data_0.parquet").write_bytes(b"left by a run that died before its swap")
    theirs = [root / "shard_inputs" / "notes", root / "README.txt", root / "other" / ("cd" * 32)]
    theirs[0].mkdir()
    theirs[1].write_text("a plan's note", encoding="utf-8")
    theirs[2].mkdir(parents=True)
    _run(feeds, tmp_path / "b", house)
    assert not orphan.exists()
    # Another name, a file, or a folder of our shape under a kind ecm does not keep.
    assert theirs[0].is_dir() and theirs[1].is_file() and theirs[2].is_dir()


def test_a_kept_set_cut_short_is_never_read(harness, feeds, tmp_path):
    house = tmp_path / "w" / "warehouse.duckdb"
    _run(feeds, tmp_path / "a", house)
    (key,) = _sets(house)
    (files_folder(house) / "shard_inputs" / key / COMPLETE).unlink()
    again = _run(feeds, tmp_path / "b", house)
    assert again["shards"]["inputs_kept"] is False
    assert (files_folder(house) / "shard_inputs" / key / COMPLETE).is_file()
    assert _hashes(tmp_path / "a") == _hashes(tmp_path / "b")


def test_a_rerun_over_the_same_staged_rows_reads_the_kept_suite_results(
    harness, feeds, lower_ed, tmp_path, monkeypatch
):
    """The contracts' GX suites depend on the staged rows alone: a rerun with another
    rules file reads their results from the warehouse (GX is not run) and its summary's
    data_quality equals the first run's, the fill rates (which depend on the rules) measured
    again; other feeds run the suites again."""
    from data_contracts import gx_suites

    house = tmp_path / "w" / "warehouse.duckdb"
    first = _run(feeds, tmp_path / "a", house)
    with duckdb.connect(str(house), read_only=True) as con:
        assert con.execute(f"select count(*) from {gx_suites.KEPT_RESULTS_TABLE}").fetchall() == [
            (1,)
        ]

    def not_again(*_args, **_kwargs):
        raise AssertionError("the suites ran again over the same staged rows")

    with monkeypatch.context() as patched:
        patched.setattr(gx_suites, "run_suites", not_again)
        again = _run(feeds, tmp_path / "b", house, rules=lower_ed)
    assert again["data_quality"] == first["data_quality"]
    ran = []
    real = gx_suites.run_suites
    monkeypatch.setattr(gx_suites, "run_suites", lambda *a: ran.append(1) or real(*a))
    _run(_one_drop_fewer(feeds, tmp_path / "feeds"), tmp_path / "c", house)
    assert ran == [1]
