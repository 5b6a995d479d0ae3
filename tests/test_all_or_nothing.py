"""A run all or nothing (ecm.run.all_or_nothing), without Prefect: what a block that fails
leaves, the check of --out just before the swap, a full disk said of what it concerns."""

from __future__ import annotations

import errno
import os

import duckdb
import pytest

from ecm.errors import MachineError, OutputError
from ecm.run.all_or_nothing import all_or_nothing
from ecm.run.file_modes import OWNER_ONLY
from ecm.run.locks import hold_run_locks
from tests.test_safety import earlier_output


@pytest.fixture
def disk(tmp_path):
    """An input folder, an earlier output and a warehouse holding one table."""
    feeds = tmp_path / "feeds"
    feeds.mkdir()
    out = earlier_output(tmp_path / "out" / "2026-10")
    house = tmp_path / "out" / "warehouse.duckdb"
    with duckdb.connect(str(house)) as con:
        con.execute("create table runs (as_of_date date)")
    return feeds, out, house


def _tables(house) -> list[str]:
    with duckdb.connect(str(house), read_only=True) as con:
        return sorted(
            r[0] for r in con.execute("select table_name from duckdb_tables()").fetchall()
        )


def _tree(root) -> dict[str, bytes | None]:
    return {
        str(p.relative_to(root)): (p.read_bytes() if p.is_file() else None)
        for p in sorted(root.rglob("*"))
    }


def _work(space, marker: str = "new") -> None:
    """What a run does: write into the warehouse copy and the new output folder."""
    with duckdb.connect(str(space.warehouse_copy)) as con:
        con.execute(f"create table {marker} (x int)")
    (space.new_output() / "assignments.csv").write_text(marker)
    assert space.work_dir.is_dir()


def test_a_block_that_fails_changes_nothing_and_frees_the_locks_and_umask(disk):
    feeds, out, house = disk
    before = _tree(out.parent)
    mask = os.umask(0o022)
    try:
        with (
            pytest.raises(ValueError, match="a bug"),
            all_or_nothing(feeds, out, house, OWNER_ONLY, 0) as space,
        ):
            _work(space)
            assert os.umask(0o077) == 0o077  # the run's own umask while it holds the disk
            raise ValueError("a bug")
        assert os.umask(0o022) == 0o022  # the caller's given back
    finally:
        os.umask(mask)
    assert _tree(out.parent) == before  # no copy, work folder, temporary output or lock left
    hold_run_locks(house, out).release()  # free


def test_the_swap_replaces_the_warehouse_and_the_output(disk):
    feeds, out, house = disk
    with all_or_nothing(feeds, out, house, OWNER_ONLY, 0) as space:
        _work(space)
        space.swap_in()
    assert _tables(house) == ["new", "runs"]
    assert (out / "assignments.csv").read_text() == "new"
    assert sorted(p.name for p in out.parent.iterdir()) == ["2026-10", "warehouse.duckdb"]


def test_a_file_that_lands_in_out_while_the_run_works_stops_the_swap(disk):
    feeds, out, house = disk
    with (
        pytest.raises(OutputError, match=r"notes\.txt"),
        all_or_nothing(feeds, out, house, OWNER_ONLY, 0) as space,
    ):
        _work(space)
        (out / "notes.txt").write_text("mine")  # after the run started, before its swap
        space.swap_in()
    assert (out / "notes.txt").read_text() == "mine"
    assert (out / "assignments.csv").read_text() == "x\n"  # the earlier output, untouched
    assert _tables(house) == ["runs"]


def test_a_full_disk_is_said_of_the_folder_it_concerns(disk):
    feeds, out, house = disk
    with (
        pytest.raises(MachineError, match="output folder"),
        all_or_nothing(feeds, out, house, OWNER_ONLY, 0) as space,
    ):
        path = space.new_output() / "evidence.parquet"
        raise OSError(errno.ENOSPC, "No space left on device", str(path))
    assert sorted(p.name for p in out.parent.iterdir()) == ["2026-10", "warehouse.duckdb"]


def test_swapping_in_before_writing_is_a_bug(disk):
    feeds, out, house = disk
    with (
        pytest.raises(RuntimeError, match="wrote nothing"),
        all_or_nothing(feeds, out, house, OWNER_ONLY, 0) as space,
    ):
        space.swap_in()
    assert _tables(house) == ["runs"]
