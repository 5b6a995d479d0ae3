"""Safety of what is on disk: which --out a run may replace, and the warehouse copy."""

import json

import duckdb
import pytest
from click.testing import CliRunner

from ecm.cli import main
from ecm.errors import InputError, OutputError
from ecm.run.safety import (
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
        con.execute("create table runs as select 1 as x")  # an ecm warehouse's table
    before = _tables(house)

    failed = WorkWarehouse(house)
    with duckdb.connect(str(failed.path)) as con:
        con.execute("drop table runs")
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


# --- symbolic links (outputs.md: followed to the target, never replaced) ---------------


def _link(link, target):
    link.parent.mkdir(parents=True, exist_ok=True)
    link.symlink_to(target, target_is_directory=target.is_dir())
    return link


def test_a_symlinked_out_gets_the_new_output_through_the_link(tmp_path):
    target = earlier_output(tmp_path / "disk" / "2026-10", files=("a.csv", "providers/1/x.txt"))
    link = _link(tmp_path / "out" / "2026-10", target)
    folder = OutputFolder(link)
    (folder.path / "assignments.csv").write_text("new\n")
    folder.publish()
    assert link.is_symlink() and link.readlink() == target
    assert sorted(p.name for p in target.iterdir()) == ["assignments.csv"]  # a.csv, x.txt gone
    assert (link / "assignments.csv").read_text() == "new\n"
    assert sorted(p.name for p in link.parent.iterdir()) == ["2026-10"]
    assert sorted(p.name for p in target.parent.iterdir()) == ["2026-10"]


def test_a_discarded_output_behind_a_link_leaves_both_alone(tmp_path):
    target = earlier_output(tmp_path / "disk" / "2026-10")
    link = _link(tmp_path / "out" / "2026-10", target)
    folder = OutputFolder(link)
    (folder.path / "assignments.csv").write_text("new\n")
    folder.discard()
    assert link.readlink() == target and (target / "assignments.csv").read_text() == "x\n"
    assert sorted(p.name for p in target.parent.iterdir()) == ["2026-10"]


def test_a_symlinked_warehouse_is_updated_through_the_link_and_stays_a_link(tmp_path):
    target = tmp_path / "disk" / "warehouse.duckdb"
    target.parent.mkdir()
    with duckdb.connect(str(target)) as con:
        con.execute("create table runs as select 1 as x")
    link = _link(tmp_path / "out" / "warehouse.duckdb", target)
    work = WorkWarehouse(link)
    assert work.path.parent == target.parent  # the copy lies beside the target
    with duckdb.connect(str(work.path)) as con:
        con.execute("create table added as select 3 as z")
    work.commit()
    assert link.is_symlink() and link.readlink() == target
    assert _tables(link) == {"runs": [(1,)], "added": [(3,)]}
    assert sorted(p.name for p in link.parent.iterdir()) == ["warehouse.duckdb"]


def test_the_target_of_a_symlinked_out_must_pass_the_checks(layout):
    root, feeds, house = layout
    mine = root / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("keep me")
    with pytest.raises(OutputError, match=f"The output folder {mine} is not empty"):
        check_output_folder(_link(root / "links" / "2026-10", mine), feeds, house)
    with pytest.raises(OutputError, match="is the input folder"):
        check_output_folder(_link(root / "links" / "feeds", feeds), feeds, house)


@pytest.mark.parametrize("what", ["out", "warehouse"])
def test_a_dangling_link_is_refused_naming_its_target(layout, what):
    root, feeds, house = layout
    target = root / "unmounted" / "2026-10"
    link = _link(root / "links" / "x", target)
    with pytest.raises(OutputError, match=f"is a symbolic link to {target}, which does not exist"):
        if what == "out":
            check_output_folder(link, feeds, house)
        else:
            WorkWarehouse(link)
    assert not target.parent.exists()


def test_the_default_warehouse_of_a_symlinked_out_sits_beside_its_target(tmp_path):
    target = tmp_path / "disk" / "2026-10"
    target.mkdir(parents=True)
    link = _link(tmp_path / "out" / "2026-10", target)
    assert default_warehouse(link) == target.parent / "warehouse.duckdb"


def test_a_run_through_links_locks_the_targets(tmp_path):
    """The lock of a linked --out and warehouse is their target's: a run holding the
    target's lock blocks a run given the link (refused before Prefect starts)."""
    from ecm.cli import _run_flow
    from ecm.errors import RunLockedError
    from ecm.run.locks import hold_run_locks
    from tests.story import AS_OF, write_story

    feeds = write_story(tmp_path / "feeds")
    disk = tmp_path / "disk"
    target = disk / "2026-10"
    target.mkdir(parents=True)
    duckdb.connect(str(disk / "w.duckdb")).close()
    out_link = _link(tmp_path / "out" / "2026-10", target)
    house_link = _link(tmp_path / "out" / "w.duckdb", disk / "w.duckdb")
    with (
        hold_run_locks(disk / "other.duckdb", target),
        pytest.raises(RunLockedError, match=f"is using the output folder {target},"),
    ):
        _run_flow(feeds, AS_OF, out_link, tmp_path / "out" / "x.duckdb", None)
    with (
        hold_run_locks(disk / "w.duckdb", disk / "other"),
        pytest.raises(RunLockedError, match=f"is using the warehouse {disk}/w.duckdb,"),
    ):
        _run_flow(feeds, AS_OF, tmp_path / "out" / "2026-11", house_link, None)
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["2026-10", "w.duckdb"]


@pytest.mark.flow
def test_ecm_run_through_a_symlinked_out_and_warehouse(harness, tmp_path):
    """The defect of 2026-12-05: `--out` a link made `ecm run` exit 1 after moving the new
    output in, with the link renamed `.2026-10.old-*` and the warehouse not recorded."""
    from ecm.cli import _run_flow
    from tests.story import AS_OF, DATA_FILES, write_story

    feeds = write_story(tmp_path / "feeds")
    disk = tmp_path / "disk"
    target = earlier_output(disk / "2026-10", files=("assignments.csv", "old-only.csv"))
    house = disk / "history.duckdb"
    _run_flow(feeds, AS_OF, disk / "first", house, None)  # an earlier run in the warehouse
    out_link = _link(tmp_path / "out" / "2026-10", target)
    house_link = _link(tmp_path / "out" / "warehouse.duckdb", house)

    summary = _run_flow(feeds, AS_OF, out_link, house_link, None)

    assert summary["assignments"] > 0
    assert out_link.is_symlink() and out_link.readlink() == target
    assert house_link.is_symlink() and house_link.readlink() == house
    assert not (target / "old-only.csv").exists()
    for name in DATA_FILES:
        assert (target / name).read_bytes() == (disk / "first" / name).read_bytes(), name
    assert sorted(p.name for p in out_link.parent.iterdir()) == ["2026-10", "warehouse.duckdb"]
    # the warehouse's own folder (its kept shard inputs) is beside the target too
    assert sorted(p.name for p in disk.iterdir()) == [
        "2026-10",
        "first",
        "history.duckdb",
        "history.duckdb.files",
    ]
    with duckdb.connect(str(house_link), read_only=True) as con:
        assert con.execute("select count(*) from runs").fetchall() == [(1,)]  # same as-of
        recorded = con.execute("select count(*) from run_assignments").fetchall()[0][0]
    assert recorded == summary["assignments"]


# --- another application's DuckDB file as the warehouse ---------------------------------


def _duckdb_file(path, *statements):
    with duckdb.connect(str(path)) as con:
        for statement in statements:
            con.execute(statement)
    return path


def test_another_applications_duckdb_file_is_refused_naming_its_tables(tmp_path):
    house = _duckdb_file(
        tmp_path / "clinic.duckdb",
        "create table patients as select 1 as id",
        "create table visits as select 1 as id",
        "create view recent as select * from visits",
    )
    before = house.read_bytes()
    with pytest.raises(InputError) as refused:
        WorkWarehouse(house)
    assert str(refused.value).startswith(
        f"The warehouse {house} is a DuckDB database but not an ecm warehouse: it has tables "
        f"ecm did not make (patients, recent, visits)"
    )
    assert house.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["clinic.duckdb"]


def test_an_empty_duckdb_file_and_an_ecm_warehouse_are_taken(tmp_path):
    WorkWarehouse(_duckdb_file(tmp_path / "empty.duckdb")).discard()
    ours = _duckdb_file(
        tmp_path / "ours.duckdb",
        "create table ingest_files (feed varchar)",
        "create table my_notes as select 1 as x",  # a table an analyst added: still ours
    )
    WorkWarehouse(ours).discard()
    history_only = _duckdb_file(tmp_path / "history.duckdb", "create table runs (run_id varchar)")
    WorkWarehouse(history_only).discard()


def _with_storage_version(source, target, version):
    """A copy of a DuckDB file whose header claims another storage version. The header's
    checksum (its first 8 bytes) is DuckDB's: the XOR of each 8-byte word times
    0xbf58476d1ce4e5b9, so changing one word is corrected by two XORs."""
    import struct

    data = bytearray(source.read_bytes())
    word = slice(8, 16)  # "DUCK" and the low half of the version number at offset 12
    old = struct.unpack("<Q", data[word])[0]
    data[12:20] = struct.pack("<Q", version)
    new = struct.unpack("<Q", data[word])[0]
    mix = 0xBF58476D1CE4E5B9
    checksum = struct.unpack("<Q", data[:8])[0] ^ (old * mix % 2**64) ^ (new * mix % 2**64)
    data[:8] = struct.pack("<Q", checksum)
    target.write_bytes(bytes(data))
    return target


@pytest.mark.parametrize(("version", "said"), [(1000, "a newer DuckDB"), (39, "an older DuckDB")])
def test_a_duckdb_file_of_another_storage_version_is_refused(tmp_path, version, said):
    made = _duckdb_file(tmp_path / "made.duckdb", "create table runs (run_id varchar)")
    house = _with_storage_version(made, tmp_path / "warehouse.duckdb", version)
    with pytest.raises(InputError) as refused:
        WorkWarehouse(house)
    message = str(refused.value)
    assert message.startswith(
        f"The warehouse {house} is a DuckDB database of storage version {version}, which "
        f"this DuckDB ({duckdb.__version__}) cannot open: it was written by {said}."
    )


def test_a_duckdb_file_open_in_another_program_is_refused(tmp_path):
    import subprocess
    import sys
    import textwrap

    house = _duckdb_file(tmp_path / "warehouse.duckdb", "create table runs (run_id varchar)")
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            textwrap.dedent(
                f"""
                import duckdb, sys
                con = duckdb.connect({str(house)!r})
                print("open", flush=True)
                sys.stdin.readline()
                """
            ),
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "open"
        with pytest.raises(InputError, match=f"The warehouse {house} is open in another program"):
            WorkWarehouse(house)
    finally:
        holder.kill()
        holder.wait()


def test_ecm_run_refuses_a_foreign_warehouse_with_exit_2_before_starting(tmp_path):
    from tests.story import write_story

    feeds = write_story(tmp_path / "feeds")
    house = _duckdb_file(tmp_path / "clinic.duckdb", "create table patients as select 1 as id")
    result = CliRunner().invoke(
        main,
        ["run", "--input", str(feeds), "--as-of", "2026-10-31", "--out", str(tmp_path / "o"),
         "--warehouse", str(house)],
    )  # fmt: skip
    assert result.exit_code == 2, result.output
    assert result.output.startswith(f"ecm: The warehouse {house} is a DuckDB database but not")
    assert not (tmp_path / "o").exists()
