"""Safety of what is on disk: which --out a run may replace, and the warehouse copy."""

import json

import duckdb
import pytest

from ecm.errors import InputError, OutputError
from ecm.safety import (
    OutputFolder,
    WorkWarehouse,
    check_output_folder,
    default_warehouse,
)


@pytest.fixture
def layout(tmp_path):
    feeds = tmp_path / "feeds"
    feeds.mkdir()
    (feeds / "eligibility.csv").write_text("member_id\n")
    return tmp_path, feeds, tmp_path / "out" / "warehouse.duckdb"


def earlier_output(folder, files=("assignments.csv",)):
    folder.mkdir(parents=True)
    for name in files:
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_text("x\n")
    manifest = {"written_by": "ecm", "files": [{"path": n} for n in files]}
    (folder / "manifest.json").write_text(json.dumps(manifest))
    return folder


def test_absent_and_empty_folders_may_be_written(layout):
    root, feeds, house = layout
    check_output_folder(root / "out" / "2026-10", feeds, house)
    (root / "empty").mkdir()
    check_output_folder(root / "empty", feeds, house)


def test_an_earlier_ecm_output_may_be_replaced(layout):
    root, feeds, house = layout
    check_output_folder(earlier_output(root / "out" / "2026-10"), feeds, house)


def test_a_folder_holding_an_unrelated_file_is_refused(layout):
    root, feeds, house = layout
    folder = root / "mine"
    folder.mkdir()
    (folder / "notes.txt").write_text("keep me")
    with pytest.raises(OutputError, match="not an earlier ecm output"):
        check_output_folder(folder, feeds, house)


def test_a_manifest_not_written_by_ecm_does_not_count(layout):
    root, feeds, house = layout
    folder = root / "other"
    folder.mkdir()
    (folder / "manifest.json").write_text(json.dumps({"files": []}))
    with pytest.raises(OutputError, match="not an earlier ecm output"):
        check_output_folder(folder, feeds, house)


def test_an_earlier_output_with_a_file_ecm_did_not_write_is_refused(layout):
    root, feeds, house = layout
    folder = earlier_output(root / "out" / "2026-10")
    (folder / "sub").mkdir()
    (folder / "sub" / "my-analysis.xlsx").write_text("mine")
    with pytest.raises(OutputError, match=r"files ecm did not write \(sub/my-analysis.xlsx\)"):
        check_output_folder(folder, feeds, house)


def test_the_input_folder_is_refused(layout):
    _root, feeds, house = layout
    with pytest.raises(OutputError, match="is the input folder"):
        check_output_folder(feeds, feeds, house)


def test_a_folder_inside_the_input_is_refused(layout):
    _root, feeds, house = layout
    with pytest.raises(OutputError, match="lies inside the input folder"):
        check_output_folder(feeds / "out", feeds, house)


def test_a_folder_holding_the_input_is_refused(layout):
    root, feeds, house = layout
    with pytest.raises(OutputError, match="holds the input folder"):
        check_output_folder(root, feeds, house)


def test_a_folder_holding_the_warehouse_or_being_it_is_refused(layout):
    root, feeds, house = layout
    with pytest.raises(OutputError, match="holds the warehouse"):
        check_output_folder(root / "out", feeds, house)
    with pytest.raises(OutputError, match="holds the warehouse"):
        check_output_folder(house, feeds, house)


def test_a_file_is_refused(layout):
    root, feeds, house = layout
    (root / "file.txt").write_text("x")
    with pytest.raises(OutputError, match="is a file"):
        check_output_folder(root / "file.txt", feeds, house)


def test_the_default_warehouse_sits_beside_the_output_folder(tmp_path):
    assert default_warehouse(tmp_path / "out" / "2026-10") == tmp_path / "out" / "warehouse.duckdb"


def test_publishing_replaces_only_the_files_the_earlier_manifest_lists(tmp_path):
    target = earlier_output(tmp_path / "run", files=("assignments.csv", "providers/1/x.txt"))
    folder = OutputFolder(target)
    (folder.path / "assignments.csv").write_text("new\n")
    folder.publish()
    assert (target / "assignments.csv").read_text() == "new\n"
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".run.")]


def test_publishing_never_deletes_a_file_that_landed_during_the_run(tmp_path):
    target = earlier_output(tmp_path / "run")
    folder = OutputFolder(target)
    (target / "landed-meanwhile.txt").write_text("mine")
    (folder.path / "assignments.csv").write_text("new\n")
    folder.publish()
    kept = list(tmp_path.rglob("landed-meanwhile.txt"))
    assert len(kept) == 1 and kept[0].read_text() == "mine"


def test_a_discarded_output_leaves_the_target_alone(tmp_path):
    target = earlier_output(tmp_path / "run")
    folder = OutputFolder(target)
    (folder.path / "assignments.csv").write_text("new\n")
    folder.discard()
    assert (target / "assignments.csv").read_text() == "x\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run"]


def _tables(path):
    with duckdb.connect(str(path), read_only=True) as con:
        names = [r[0] for r in con.execute("select table_name from duckdb_tables()").fetchall()]
        return {n: con.execute(f"select * from {n} order by all").fetchall() for n in names}


def test_work_warehouse_commits_whole_or_not_at_all(tmp_path):
    house = tmp_path / "warehouse.duckdb"
    with duckdb.connect(str(house)) as con:
        con.execute("create table kept as select 1 as x")
    before = _tables(house)

    failed = WorkWarehouse(house)
    with duckdb.connect(str(failed.path)) as con:
        con.execute("drop table kept")
        con.execute("create table half as select 2 as y")
    failed.discard()
    assert _tables(house) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["warehouse.duckdb"]

    good = WorkWarehouse(house)
    with duckdb.connect(str(good.path)) as con:
        con.execute("create table added as select 3 as z")
    good.commit()
    assert _tables(house) == {**before, "added": [(3,)]}


def test_a_warehouse_path_that_is_not_duckdb_is_refused(tmp_path):
    house = tmp_path / "warehouse.duckdb"
    house.write_text("member_id,birth_date\n")
    with pytest.raises(InputError, match="not a DuckDB database file"):
        WorkWarehouse(house)
    assert house.read_text() == "member_id,birth_date\n"


def test_an_output_of_ecm_before_the_written_by_marker_counts_as_ecm_output(layout):
    root, feeds, house = layout
    folder = root / "out" / "2026-09"
    folder.mkdir(parents=True)
    (folder / "summary.json").write_text("{}")
    manifest = {
        "as_of_date": "2026-09-30",
        "ecm_version": "0.1.0",
        "files": [{"path": "summary.json"}],
        "inputs": {},
        "reference": {},
    }
    (folder / "manifest.json").write_text(json.dumps(manifest))
    check_output_folder(folder, feeds, house)
