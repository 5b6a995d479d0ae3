"""The machine stopped the run (outputs.md, Exit codes: 4): a full disk, a folder that
cannot be written, memory run out. Each is a sentence naming the path or the resource and
what to do, never "a bug in ecm" (exit 1), and a run stopped so replaces nothing.

The unit tests build the errors the libraries raise (their texts as measured: DuckDB's
IOException names the file, Polars' ComputeError only says "os error 28"); the end-to-end
tests run `ecm run` on a small tmpfs as the disk (they need `mount`: root, or skipped)."""

from __future__ import annotations

import errno
import json
import os
import subprocess
import sys
from contextlib import contextmanager
from pathlib import Path

import duckdb
import polars as pl
import pytest
from click.testing import CliRunner

from ecm.cli import main
from ecm.errors import InputError, MachineError
from ecm.run.machine import machine_error
from tests.story import write_story


@pytest.fixture
def written(tmp_path):
    """What a run writes: its output folder and its warehouse (in folders of their own)."""
    out, house = tmp_path / "out" / "2026-10", tmp_path / "house" / "warehouse.duckdb"
    out.parent.mkdir()
    house.parent.mkdir()
    return {"output folder": out, "warehouse": house}


def _full(path: Path | None = None) -> OSError:
    return OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), *([str(path)] if path else []))


def test_a_full_disk_names_the_folder_of_the_file_that_did_not_fit(written):
    out = written["output folder"]
    error = machine_error(_full(out.parent / ".2026-10.tmp-k2m_q9zz" / "summary.json"), written)
    assert isinstance(error, MachineError)
    message = str(error)
    assert message.startswith(f"The disk holding the output folder {out} is full (")
    assert "No space left on device" in message
    assert "free space on that disk, or choose an --out on a disk with room" in message
    assert "warehouse" not in message


def test_a_copy_that_did_not_fit_names_the_disk_it_was_copied_to(written):
    # shutil.copy's OSError names the source first (filename) and the destination second
    # (filename2): a full disk is the destination's. The referral loop's files are copied
    # from the warehouse's work folder into the output folder.
    out, house = written["output folder"], written["warehouse"]
    source = house.parent / ".warehouse.duckdb.work-frx3g2fi" / "loop" / "review.parquet"
    target = out.parent / ".2026-10.tmp-_4bez1e4" / "review.parquet"
    raised = OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(source), None, str(target))
    message = str(machine_error(raised, written))
    assert message.startswith(f"The disk holding the output folder {out} is full (")
    assert "warehouse" not in message


def test_duckdb_names_the_file_it_could_not_write(written):
    house = written["warehouse"]
    copy = house.parent / ".warehouse.duckdb.run-0123456789ab.duckdb"
    raised = duckdb.IOException(f'IO Error: Could not write file "{copy}": No space left on device')
    message = str(machine_error(raised, written))
    assert message.startswith(f"The disk holding the warehouse {house} is full (")
    assert "free space on that disk, or choose a --warehouse on a disk with room" in message


def test_a_quota_counts_as_a_full_disk(written):
    quota = OSError(errno.EDQUOT, os.strerror(errno.EDQUOT))
    assert "is full" in str(machine_error(quota, written))


def test_polars_names_no_file_then_the_disks_of_what_the_run_writes_are_named(written):
    raised = pl.exceptions.ComputeError(
        "parquet: File out of specification: underlying IO error: No space left on device "
        "(os error 28)"
    )
    message = str(machine_error(raised, written))
    # both folders lie on the test's one disk: it is named once, for both
    assert message.startswith(
        f"The disk holding the output folder {written['output folder']} and the warehouse "
        f"{written['warehouse']} is full ("
    )


def test_a_folder_that_cannot_be_written_is_named(written):
    out = written["output folder"]
    for code in (errno.EROFS, errno.EACCES, errno.EPERM):
        raised = OSError(code, os.strerror(code), str(out.parent / ".2026-10.lock"))
        message = str(machine_error(raised, written))
        assert message.startswith(f"The folder {out.parent} (of the output folder {out}) ")
        assert f"cannot be written ({os.strerror(code)})" in message
        assert "make it writable for this user, or choose another --out" in message


def test_a_path_outside_what_the_run_writes_is_named_as_it_is(written, tmp_path):
    """An input file the user may not read is not "a folder that cannot be written"."""
    feed = tmp_path / "feeds" / "eligibility.csv"
    denied = PermissionError(errno.EACCES, os.strerror(errno.EACCES), str(feed))
    message = str(machine_error(denied, written))
    assert message.startswith(f"{feed} cannot be used (Permission denied): give this user")
    assert "cannot be written" not in message


def test_without_a_path_or_a_folder_the_places_to_look_are_named():
    message = str(machine_error(_full()))
    assert message.startswith("A disk the run writes to is full (No space left on device)")
    assert "the temporary folder" in message


@pytest.mark.parametrize(
    "raised",
    [
        MemoryError(),
        duckdb.OutOfMemoryException(
            "Out of Memory Error: failed to allocate data of size 2.0 GiB (1.9 GiB/2.0 GiB used)"
        ),
        pl.exceptions.ComputeError("memory allocation of 8589934592 bytes failed"),
    ],
    ids=["python", "duckdb", "polars"],
)
def test_memory_says_what_to_lower(written, raised):
    message = str(machine_error(raised, written))
    assert message.startswith("The run ran out of memory")
    assert "lower [run] memory_budget_gib in the rules file" in message
    assert "--shards N" in message


def test_a_machine_fault_behind_another_error_is_still_the_machine(written):
    try:
        try:
            raise _full()
        except OSError:
            raise RuntimeError("clean-up failed") from None
    except RuntimeError as exc:
        hidden = exc
    hidden.__context__ = _full()  # `from None` hides it from a traceback, not from us
    assert isinstance(machine_error(hidden, written), MachineError)


@pytest.mark.parametrize(
    "raised",
    [
        FileNotFoundError(errno.ENOENT, "No such file or directory", "/x"),
        ValueError("No space left on device"),  # a text alone, from no I/O library
        InputError("feeds/eligibility.csv, line 3: out of memory is not a date"),
        ZeroDivisionError(),
    ],
)
def test_what_is_not_the_machine_is_left_alone(written, raised):
    assert machine_error(raised, written) is None


def test_the_command_says_it_as_a_last_resort_with_exit_4(tmp_path, monkeypatch):
    """A machine fault no code translated (the path unknown to the flow) still exits 4."""
    import ecm.cli

    def disk_full(*_args, **_kwargs):
        raise _full(tmp_path / "somewhere" / "file.parquet")

    monkeypatch.setattr(ecm.cli, "_run_flow", disk_full)
    args = ["run", "--input", str(tmp_path), "--out", str(tmp_path / "o")]
    result = CliRunner().invoke(main, [*args, "--json"])
    assert result.exit_code == 4, result.output
    error = json.loads(result.output.strip().splitlines()[-1])
    assert error["error"] == "machine" and error["exit_code"] == 4
    assert f"The disk holding {tmp_path / 'somewhere'} is full" in error["message"]
    assert "bug" not in error["message"]

    def no_memory(*_args, **_kwargs):
        raise MemoryError

    monkeypatch.setattr(ecm.cli, "_run_flow", no_memory)
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 4
    assert result.output.startswith("ecm: The run ran out of memory")


# --- the real thing: a small disk ----------------------------------------------------


@contextmanager
def _mounted(folder: Path, options: str):
    folder.mkdir(parents=True, exist_ok=True)
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(folder)],
        capture_output=True,
        text=True,
        check=False,
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here ({mounted.stderr.strip()}); the test needs one")
    try:
        yield folder
    finally:
        subprocess.run(["umount", "-l", str(folder)], check=False)


def _snapshot(folder: Path) -> dict[str, bytes | None]:
    return {
        str(p.relative_to(folder)): None if p.is_dir() else p.read_bytes()
        for p in sorted(folder.rglob("*"))
    }


def _earlier_output(folder: Path) -> Path:
    folder.mkdir(parents=True)
    (folder / "assignments.csv").write_text("earlier\n")
    manifest = {"written_by": "ecm", "files": [{"path": "assignments.csv"}]}
    (folder / "manifest.json").write_text(json.dumps(manifest))
    return folder


def _ecm_run(feeds: Path, out: Path, *extra) -> subprocess.CompletedProcess:
    """`ecm run` reporting to this session's Prefect test server (no start-up of its own)."""
    from prefect.settings import PREFECT_API_URL

    return subprocess.run(
        [sys.executable, "-m", "ecm.cli", "run", "--input", str(feeds), "--as-of",
         "2026-10-31", "--out", str(out), *map(str, extra)],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
        env={**os.environ, "PREFECT_API_URL": PREFECT_API_URL.value()},
    )  # fmt: skip


@pytest.mark.flow
def test_a_full_disk_under_the_warehouse_exits_4_and_replaces_nothing(harness, tmp_path):
    feeds = write_story(tmp_path / "feeds")
    with _mounted(tmp_path / "disk", "size=1m") as disk:
        out = _earlier_output(disk / "out" / "2026-10")
        duckdb.connect(str(disk / "out" / "warehouse.duckdb")).close()  # an empty warehouse
        before = _snapshot(disk)

        proc = _ecm_run(feeds, out)

        assert proc.returncode == 4, proc.stderr[-3000:]
        said = proc.stderr.strip().splitlines()[-1]
        # whichever step meets the full disk first (the ingest's check of the room a file
        # needs, DuckDB's write), the sentence names the disk and what to do
        assert said.startswith("ecm: The disk holding ") and f"{disk}/out" in said, said
        assert "free space on that disk" in said
        assert "Traceback" not in proc.stderr and "bug" not in proc.stderr
        assert _snapshot(disk) == before


@pytest.mark.flow
def test_a_full_disk_under_the_output_exits_4_and_replaces_nothing(harness, tmp_path):
    feeds = write_story(tmp_path / "feeds")
    house = tmp_path / "house" / "warehouse.duckdb"
    with _mounted(tmp_path / "small", "size=64k") as small:
        out = _earlier_output(small / "2026-10")
        before = _snapshot(small)

        proc = _ecm_run(feeds, out, "--warehouse", house, "--json")

        assert proc.returncode == 4, proc.stderr[-3000:]
        error = json.loads(proc.stderr.strip().splitlines()[-1])
        assert error["error"] == "machine"
        assert error["message"].startswith(f"The disk holding the output folder {out} is full")
        assert _snapshot(small) == before
        assert not house.exists()  # a first run that failed: no warehouse


@pytest.fixture
def read_only_folder(tmp_path):
    """A folder nobody may write to: a read-only tmpfs (as root, whom permissions do not
    stop), else a folder without write permission."""
    folder = tmp_path / "read-only"
    if os.geteuid() == 0:
        with _mounted(folder, "ro,size=64k"):
            yield folder
        return
    folder.mkdir()
    folder.chmod(0o555)
    yield folder
    folder.chmod(0o755)


@pytest.mark.parametrize("what", ["out", "warehouse"])
def test_a_folder_that_cannot_be_written_exits_4_before_the_run_starts(
    tmp_path, read_only_folder, what
):
    feeds = write_story(tmp_path / "feeds")
    out, house = tmp_path / "out" / "2026-10", tmp_path / "out" / "warehouse.duckdb"
    if what == "out":
        out = read_only_folder / "2026-10"
    else:
        house = read_only_folder / "warehouse.duckdb"
    proc = subprocess.run(
        [sys.executable, "-m", "ecm.cli", "run", "--input", str(feeds), "--as-of",
         "2026-10-31", "--out", str(out), "--warehouse", str(house)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )  # fmt: skip
    assert proc.returncode == 4, proc.stderr
    assert proc.stderr.startswith(f"ecm: The folder {read_only_folder} ")
    assert "cannot be written" in proc.stderr and "Traceback" not in proc.stderr
    assert list(read_only_folder.iterdir()) == []
