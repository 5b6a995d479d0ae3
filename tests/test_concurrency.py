"""Two runs at once, and a run that was killed (issue #9): the run locks (ecm.run.locks) and
the recovery of what a dead run left behind (ecm.run.safety.recover_leftovers).

The unit tests lock in this process (a flock is held per open file, so a second lock in
the same process is refused as another process's would be) or in a small child process;
the end-to-end tests run `ecm run` as real processes against one Prefect test server."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import duckdb
import pytest

from ecm.errors import OutputError, RunLockedError
from ecm.run.locks import RunLock, hold_run_locks, lock_path
from ecm.run.safety import OutputFolder, recover_leftovers
from tests.story import DATA_FILES

AS_OF = "2026-10-31"


# --- the lock ------------------------------------------------------------------------


def test_a_held_lock_refuses_a_second_run_with_a_sentence_naming_the_warehouse(tmp_path):
    house, out = tmp_path / "warehouse.duckdb", tmp_path / "2026-10"
    with hold_run_locks(house, out):
        record = json.loads(lock_path(house).read_text())
        assert record["pid"] == os.getpid() and record["written_by"] == "ecm"
        with pytest.raises(RunLockedError) as refused:
            hold_run_locks(house, out)
    message = str(refused.value)
    assert message.startswith(f"Another ecm run (pid {os.getpid()} on {socket.gethostname()}")
    assert f"is using the warehouse {house}, so this run did not start" in message
    assert "--wait SECONDS" in message
    assert not lock_path(house).exists() and not lock_path(out).exists()  # released, removed


def test_the_output_folder_is_locked_too(tmp_path):
    out = tmp_path / "2026-10"
    with hold_run_locks(tmp_path / "a.duckdb", out):
        with pytest.raises(RunLockedError, match=f"is using the output folder {out}"):
            hold_run_locks(tmp_path / "b.duckdb", out)
        # the refused run freed the warehouse lock it had taken
        hold_run_locks(tmp_path / "b.duckdb", tmp_path / "2026-11").release()


def test_a_lock_is_released_when_the_run_fails(tmp_path):
    house, out = tmp_path / "warehouse.duckdb", tmp_path / "2026-10"
    with pytest.raises(ZeroDivisionError), hold_run_locks(house, out):
        1 / 0  # noqa: B018
    hold_run_locks(house, out).release()
    assert sorted(p.name for p in tmp_path.iterdir()) == []


def test_a_run_waits_for_the_lock_then_takes_it(tmp_path):
    house = tmp_path / "warehouse.duckdb"
    holder = _hold_in_child(house, tmp_path / "2026-10")
    try:
        started = time.monotonic()
        with pytest.raises(RunLockedError, match=r"still using the warehouse .* after 0.5 sec"):
            RunLock(house, "warehouse").acquire(0.5)
        assert time.monotonic() - started >= 0.5
        holder.stdin.write("release\n")
        holder.stdin.flush()
        lock = RunLock(house, "warehouse")
        lock.acquire(30)
        assert lock.held
        lock.release()
    finally:
        holder.kill()
        holder.wait()


def test_a_lock_file_left_by_a_killed_run_does_not_block(tmp_path):
    house, out = tmp_path / "warehouse.duckdb", tmp_path / "2026-10"
    holder = _hold_in_child(house, out)
    with pytest.raises(RunLockedError, match=f"pid {holder.pid} "):
        hold_run_locks(house, out)
    holder.send_signal(signal.SIGKILL)
    holder.wait()
    assert json.loads(lock_path(house).read_text())["pid"] == holder.pid  # left behind
    with hold_run_locks(house, out):
        assert json.loads(lock_path(house).read_text())["pid"] == os.getpid()


def test_a_file_with_the_lock_name_that_ecm_did_not_write_is_left_alone(tmp_path):
    house = tmp_path / "warehouse.duckdb"
    lock_path(house).write_text("someone else's notes\n")
    with pytest.raises(OutputError, match="was not written by ecm"):
        hold_run_locks(house, tmp_path / "2026-10")
    assert lock_path(house).read_text() == "someone else's notes\n"
    assert not lock_path(tmp_path / "2026-10").exists()
    target = tmp_path / "elsewhere.txt"
    target.write_text("mine")
    lock_path(tmp_path / "other.duckdb").symlink_to(target)
    with pytest.raises(OutputError, match="is a symbolic link"):
        hold_run_locks(tmp_path / "other.duckdb", tmp_path / "2026-10")
    assert target.read_text() == "mine"


def _hold_in_child(warehouse: Path, out: Path) -> subprocess.Popen:
    """A process holding a run's locks until it reads a line (or is killed)."""
    code = textwrap.dedent(
        f"""
        import sys
        from ecm.run.locks import hold_run_locks
        locks = hold_run_locks({str(warehouse)!r}, {str(out)!r})
        print("held", flush=True)
        sys.stdin.readline()
        locks.release()
        """
    )
    child = subprocess.Popen(
        [sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    assert child.stdout.readline().strip() == "held"
    return child


# --- what a dead run leaves behind -------------------------------------------------


def _earlier_output(folder: Path, files=("assignments.csv",)) -> Path:
    folder.mkdir(parents=True)
    for name in files:
        (folder / name).write_text("earlier\n")
    manifest = {"written_by": "ecm", "files": [{"path": n} for n in files]}
    (folder / "manifest.json").write_text(json.dumps(manifest))
    return folder


def test_recovery_removes_exactly_what_ecm_leaves_and_nothing_that_looks_like_it(tmp_path):
    ours = {
        ".warehouse.duckdb.run-0123456789ab.duckdb": "file",
        ".warehouse.duckdb.run-0123456789ab.duckdb.wal": "file",
        ".warehouse.duckdb.run-0123456789ab.duckdb.tmp": "dir",  # DuckDB's spill folder
        ".warehouse.duckdb.work-ab_9xyz0": "dir",
        ".2026-10.tmp-k2m_q9zz": "dir",
    }
    look_alikes = {
        ".warehouse.duckdb.run-0123456789ab.duckdb.bak": "file",
        ".warehouse.duckdb.run-0123456789AB.duckdb": "file",  # not the hex ecm writes
        ".warehouse.duckdb.run-0123456789a.duckdb": "file",  # one digit short
        ".other.duckdb.run-0123456789ab.duckdb": "file",  # another warehouse's run
        ".other.duckdb.work-ab_9xyz0": "dir",
        ".ecm-work-abcdefgh": "dir",  # not tied to a warehouse: no lock proves it stale
        ".warehouse.duckdb.work-ab_9xyz": "dir",
        "warehouse.duckdb.work-ab_9xyz0": "dir",
        ".2026-10.tmp-k2m_q9zzz": "dir",
        ".2026-10.tmp-abcdefgh": "file",  # a file where ecm makes a folder
        ".2026-1.tmp-k2m_q9zz": "dir",
        ".2026-10.old-0badf00d": "dir",  # moved aside, but no ecm manifest: not ours
        "notes.txt": "file",
    }
    for name, kind in {**ours, **look_alikes}.items():
        if kind == "dir":
            (tmp_path / name).mkdir()
            (tmp_path / name / "inside.txt").write_text("x")
        else:
            (tmp_path / name).write_text("x")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "keep.txt").write_text("keep")
    (tmp_path / ".2026-10.tmp-syml1nk0").symlink_to(elsewhere)  # a link, not our folder
    _earlier_output(tmp_path / "2026-10")

    found = recover_leftovers(tmp_path / "warehouse.duckdb", tmp_path / "2026-10")

    assert (found.warehouse_copies, found.work_folders, found.output_folders) == (2, 1, 1)
    assert found.describe() == (
        "removed 2 warehouse copy files, 1 work folder, 1 unpublished output folder"
    )
    assert not found.earlier_output_restored
    left = {p.name for p in tmp_path.iterdir()}
    assert left == {*look_alikes, "elsewhere", ".2026-10.tmp-syml1nk0", "2026-10"}
    assert (elsewhere / "keep.txt").read_text() == "keep"
    for name, kind in look_alikes.items():
        inside = tmp_path / name / "inside.txt" if kind == "dir" else tmp_path / name
        assert inside.read_text() == "x", name
    assert not recover_leftovers(tmp_path / "warehouse.duckdb", tmp_path / "2026-10")


def test_a_run_killed_between_the_two_moves_of_the_swap_gets_its_output_back(tmp_path, monkeypatch):
    target = _earlier_output(tmp_path / "2026-10")
    before = {p.name: p.read_bytes() for p in target.iterdir()}
    new = OutputFolder(target)
    (new.path / "assignments.csv").write_text("new\n")
    moves = []
    real_replace = Path.replace

    def killed_after_the_first_move(self, other):
        if moves:
            raise KeyboardInterrupt  # stands for the kill: nothing after it runs
        moves.append(self)
        return real_replace(self, other)

    monkeypatch.setattr(Path, "replace", killed_after_the_first_move)
    with pytest.raises(KeyboardInterrupt):
        new.publish()
    monkeypatch.undo()
    assert not target.exists()  # the earlier output is aside, the new one not yet in

    found = recover_leftovers(tmp_path / "warehouse.duckdb", target)

    assert found.earlier_output_restored and found.output_folders == 1
    assert {p.name: p.read_bytes() for p in target.iterdir()} == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["2026-10"]


def test_a_run_killed_while_removing_the_replaced_output_is_finished_by_the_next(
    tmp_path, monkeypatch
):
    target = _earlier_output(tmp_path / "2026-10", files=("a.csv", "b.csv", "c.csv"))
    new = OutputFolder(target)
    (new.path / "assignments.csv").write_text("new\n")
    real_unlink = Path.unlink

    def killed_after_one_removal(self, *args, **kwargs):
        monkeypatch.setattr(Path, "unlink", _killed)
        return real_unlink(self, *args, **kwargs)

    monkeypatch.setattr(Path, "unlink", killed_after_one_removal)
    with pytest.raises(KeyboardInterrupt):
        new.publish()
    monkeypatch.undo()
    (aside,) = [p for p in tmp_path.iterdir() if p.name.startswith(".2026-10.old-")]
    assert (aside / "manifest.json").exists()  # removed last, so the next run can finish
    (aside / "mine.txt").write_text("not ecm's")

    found = recover_leftovers(tmp_path / "warehouse.duckdb", target)

    assert found.earlier_outputs_finished == 1 and not found.earlier_output_restored
    assert sorted(p.name for p in aside.iterdir()) == ["mine.txt"]
    assert (target / "assignments.csv").read_text() == "new\n"


def _killed(*_args, **_kwargs):
    raise KeyboardInterrupt


# --- the flow and the command -------------------------------------------------------


@pytest.fixture(scope="module")
def feeds(tmp_path_factory):
    """A small feed directory: its ingest still takes a second or more, long enough to
    be caught in it."""
    from ecm.generate import generate_feeds

    folder = tmp_path_factory.mktemp("concurrency") / "feeds"
    generate_feeds(folder, members=200, months=13, end=_date(AS_OF), seed=9, fmt="csv")
    return folder


def _date(text):
    import datetime as dt

    return dt.date.fromisoformat(text)


def test_the_flow_itself_takes_the_lock(harness, feeds, tmp_path):
    """A deployment runs the flow without the command's early check."""
    from flows.monthly import monthly

    out, house = tmp_path / "out" / "2026-10", tmp_path / "out" / "warehouse.duckdb"
    with hold_run_locks(house, out), pytest.raises(RunLockedError, match=r"after 0\.2 seconds"):
        monthly(input_dir=feeds, as_of=_date(AS_OF), out_dir=out, lock_wait_seconds=0.2)
    assert sorted(p.name for p in out.parent.iterdir()) == []


def _env() -> dict[str, str]:
    """The children report to this session's Prefect test server (one server, not one
    per process)."""
    from prefect.settings import PREFECT_API_URL

    return {**os.environ, "PREFECT_API_URL": PREFECT_API_URL.value()}


MONTH_END = {"2026-09": "2026-09-30", "2026-10": AS_OF}


def _ecm_run(feeds, out, *extra, env) -> subprocess.Popen:
    command = ["run", "--input", feeds, "--as-of", MONTH_END[out.name], "--out", out, *extra]
    return subprocess.Popen(
        [str(Path(sys.executable).with_name("ecm")), *map(str, command)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        start_new_session=True,  # its own process group, to kill it whole
    )


def _finish(process: subprocess.Popen) -> tuple[int, str]:
    _stdout, stderr = process.communicate(timeout=600)
    return process.returncode, stderr


def _runs(house: Path) -> list[str]:
    with duckdb.connect(str(house), read_only=True) as con:
        rows = con.execute("select as_of_date from runs order by as_of_date").fetchall()
    return [str(r[0]) for r in rows]


def test_a_second_run_refuses_at_once_with_exit_2(harness, feeds, tmp_path):
    out = tmp_path / "out" / "2026-10"
    holder = _hold_in_child(tmp_path / "out" / "warehouse.duckdb", tmp_path / "other")
    try:
        code, stderr = _finish(_ecm_run(feeds, out, env=_env()))
    finally:
        holder.kill()
        holder.wait()
    assert code == 2, stderr
    house = (tmp_path / "out" / "warehouse.duckdb").resolve()
    assert f"ecm: Another ecm run (pid {holder.pid} on " in stderr
    assert f"is using the warehouse {house}, so this run did not start" in stderr
    assert "Traceback" not in stderr
    assert not out.exists() and not (tmp_path / "out" / "warehouse.duckdb").exists()


WAIT = ("--wait", "300")


@pytest.fixture(scope="module")
def killed_then_two_at_once(harness, feeds, tmp_path_factory):
    """A run killed mid-ingest (kill -9 of its process group); then, started together
    on the same warehouse, the same run again and a run of the month before, both
    willing to wait. Meanwhile, a clean run of the same month on a warehouse of its own
    gives the files to compare."""
    env = _env()
    root = tmp_path_factory.mktemp("together") / "out"
    clean = tmp_path_factory.mktemp("clean") / "out" / "2026-10"
    reference = _ecm_run(feeds, clean, env=env)
    killed = _ecm_run(feeds, root / "2026-10", *WAIT, env=env)
    copies: list[Path] = []
    deadline = time.monotonic() + 300
    while not copies and killed.poll() is None and time.monotonic() < deadline:
        copies = list(root.glob(".warehouse.duckdb.run-*.duckdb")) if root.exists() else []
        time.sleep(0.05)
    assert copies, "the run did not reach its ingest"
    os.killpg(killed.pid, signal.SIGKILL)
    killed.communicate()
    left_by_kill = sorted(p.name for p in root.iterdir())
    runs = {m: _ecm_run(feeds, root / m, *WAIT, env=env) for m in ("2026-10", "2026-09")}
    results = {m: _finish(p) for m, p in runs.items()}
    code, stderr = _finish(reference)
    assert code == 0, stderr[-3000:]
    return root, left_by_kill, results, clean


def test_a_killed_run_leaves_its_copy_and_work_folder(killed_then_two_at_once):
    _root, left, _results, _clean = killed_then_two_at_once
    assert ".warehouse.duckdb.lock" in left and "2026-10" not in left, left
    assert "warehouse.duckdb" not in left  # a first run: the warehouse never existed
    assert any(n.startswith(".warehouse.duckdb.run-") for n in left), left
    assert any(n.startswith(".warehouse.duckdb.work-") for n in left), left


def test_two_runs_on_one_warehouse_at_once_take_turns_and_both_are_kept(
    killed_then_two_at_once,
):
    root, _left, results, _clean = killed_then_two_at_once
    for code, stderr in results.values():
        assert code == 0, stderr[-3000:]
    waited = [m for m, (_c, err) in results.items() if "is using the warehouse" in err]
    assert len(waited) == 1, "the runs did not overlap: nothing was tested"
    assert _runs(root / "warehouse.duckdb") == ["2026-09-30", "2026-10-31"]


def test_the_killed_run_run_again_succeeds_with_no_clean_up(killed_then_two_at_once):
    root, _left, results, clean = killed_then_two_at_once
    assert sorted(p.name for p in root.iterdir()) == [
        "2026-09",
        "2026-10",
        "warehouse.duckdb",
        "warehouse.duckdb.files",  # the warehouse's own folder: its kept shard inputs
    ]
    # whichever took the warehouse first found the killed run's leftovers
    cleaned = [m for m, (_c, err) in results.items() if "did not finish: removed" in err]
    assert len(cleaned) == 1, [err[-2000:] for _c, err in results.values()]
    for name in DATA_FILES:
        assert (root / "2026-10" / name).read_bytes() == (clean / name).read_bytes(), name


def test_the_early_check_of_the_command_makes_no_folder(tmp_path):
    from ecm.run.locks import check_not_locked

    check_not_locked(tmp_path / "new" / "warehouse.duckdb", tmp_path / "new" / "2026-10")
    assert list(tmp_path.iterdir()) == []
    held = hold_run_locks(tmp_path / "warehouse.duckdb", tmp_path / "2026-10")
    with held, pytest.raises(RunLockedError, match="output folder"):
        check_not_locked(tmp_path / "new" / "warehouse.duckdb", tmp_path / "2026-10")


def test_one_folder_spelled_two_ways_has_one_lock(tmp_path, monkeypatch):
    (tmp_path / "out" / "2026-10").mkdir(parents=True)
    monkeypatch.chdir(tmp_path / "out" / "2026-10")
    assert lock_path(".") == tmp_path.resolve() / "out" / ".2026-10.lock"
    assert lock_path(tmp_path / "out" / ".." / "out" / "2026-10") == lock_path(".")


def test_validate_stages_into_a_warehouse_only_while_no_run_holds_it(tmp_path):
    from click.testing import CliRunner

    from ecm.cli import main
    from tests.feeds import line, member, write_feed

    write_feed(tmp_path / "feeds", "eligibility", [member("A")])
    write_feed(tmp_path / "feeds", "medical_claim", [line("c1", "A", "2026-01-05")])
    house = tmp_path / "staged.duckdb"
    args = ["validate", "--input", str(tmp_path / "feeds"), "--warehouse", str(house)]
    with hold_run_locks(house, tmp_path / "2026-10"):
        refused = CliRunner().invoke(main, args)
    assert refused.exit_code == 2
    assert f"is using the warehouse {house.resolve()}" in refused.output
    assert not house.exists()
    staged = CliRunner().invoke(main, args)
    assert staged.exit_code in (0, 1), staged.output  # 1: this tiny feed fails expectations
    assert house.exists() and not lock_path(house).exists()
