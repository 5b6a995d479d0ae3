"""Interrupted runs (outputs.md, Exit codes: 130 Ctrl-C, 143 SIGTERM): within seconds,
even in the middle of a long DuckDB query, "interrupted; nothing was replaced", every
process the run started gone with it, the warehouse and --out as they were, the locks
released (ecm.run.interrupts).

The first tests drive the mechanism in a small Python process (no Prefect): a long
query, a run that will not stop, a signal during the swap. The end-to-end tests signal
real `ecm run` processes at the ingest (inside its longest query: staging a medical-claim
Parquet file of a few seconds) and at the write stage, record the process tree while the
run lives (children of the ecm pid, from /proc), and check it is gone afterwards."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest

from ecm.generate import generate_feeds
from tests.story import DATA_FILES, write_story

AS_OF = "2026-10-31"
ALL_GONE_SECONDS = 10  # outputs.md: "every process the run started ends with it"
SENTENCE = "interrupted; nothing was replaced"


# --- the mechanism, in a small process ------------------------------------------------


def _python(code: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(code)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _wait_for(process: subprocess.Popen, line: str) -> str:
    said = process.stdout.readline().strip()
    assert said.startswith(line), (said, process.stderr.read() if process.poll() else "")
    return said


LONG_QUERY = """
    from ecm.run import interrupts
    from ecm.cli import _guarded

    def long_query():
        with interrupts.connect(":memory:") as con:
            print("querying", flush=True)
            con.execute("select sum(hash(i)) from range(1000000000000) t(i)").fetchall()

    with interrupts.watching():
        _guarded(long_query, as_json={as_json})
"""


@pytest.mark.parametrize(
    ("signal_number", "as_json"), [(signal.SIGTERM, False), (signal.SIGINT, True)]
)
def test_a_signal_ends_a_long_duckdb_query_within_seconds(signal_number, as_json):
    process = _python(LONG_QUERY.format(as_json=as_json))
    _wait_for(process, "querying")
    time.sleep(0.5)  # inside the query
    sent = time.monotonic()
    process.send_signal(signal_number)
    _stdout, stderr = process.communicate(timeout=30)
    assert time.monotonic() - sent < ALL_GONE_SECONDS, stderr  # the query alone: hours
    assert process.returncode == 128 + signal_number, stderr
    if as_json:
        error = json.loads(stderr.strip().splitlines()[-1])
        assert error["error"] == "interrupted" and error["exit_code"] == 130
        assert error["message"].startswith(SENTENCE)
    else:
        assert stderr.startswith(f"ecm: {SENTENCE}"), stderr
        assert len(stderr.strip().splitlines()) == 1, stderr  # one sentence, no traceback


def test_a_run_that_does_not_stop_is_ended_with_its_children(tmp_path):
    """A main thread that does not end (a clean-up that hangs, a long call no signal
    reaches): the process ends anyway with 128 + signal, its child process with it."""
    process = _python(
        """
        import subprocess, time
        from ecm.run import interrupts

        quiet = subprocess.DEVNULL
        child = subprocess.Popen(["sleep", "600"], stdout=quiet, stderr=quiet)
        said = False
        with interrupts.watching():
            while True:
                try:
                    if not said:
                        said = print("child", child.pid, flush=True) or True
                    time.sleep(0.1)
                except BaseException:
                    pass  # swallowed: the main thread goes on
        """
    )
    child = int(_wait_for(process, "child").split()[1])
    started = _start_time(child)
    sent = time.monotonic()
    process.send_signal(signal.SIGTERM)
    _stdout, stderr = process.communicate(timeout=60)
    took = time.monotonic() - sent
    assert process.returncode == 143, stderr
    assert took < ALL_GONE_SECONDS, took
    assert stderr.count(SENTENCE) == 1, stderr
    assert started is not None and _start_time(child) != started  # the child ended too


def test_a_signal_during_the_swap_waits_for_it_and_says_so():
    """The swap (the warehouse's rename, then the output's) is never cut in the middle:
    a signal then is honoured right after it, and the sentence says the files are in."""
    process = _python(
        """
        import os, signal, time
        from ecm.run import interrupts
        from ecm.cli import _guarded

        def run():
            with interrupts.replacing():
                os.kill(os.getpid(), signal.SIGTERM)
                time.sleep(0.3)
                print("swapped", flush=True)
            print("went on", flush=True)

        with interrupts.watching():
            _guarded(run, as_json=False)
        """
    )
    stdout, stderr = process.communicate(timeout=30)
    assert stdout.splitlines() == ["swapped"]
    assert process.returncode == 143
    assert stderr.startswith("ecm: interrupted after the run had replaced its files"), stderr


def test_the_watch_is_undone_when_the_block_ends():
    """Outside a run (and after one) a signal does what it did before."""
    before = signal.getsignal(signal.SIGTERM), signal.getsignal(signal.SIGINT)
    from ecm.run import interrupts

    with interrupts.watching():
        assert signal.getsignal(signal.SIGTERM) is not before[0]
    assert (signal.getsignal(signal.SIGTERM), signal.getsignal(signal.SIGINT)) == before
    assert interrupts.received() is None


# --- real runs ------------------------------------------------------------------------


def _start_time(pid: int) -> int | None:
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = text[text.rindex(")") + 2 :].split()
    return None if fields[0] == "Z" else int(fields[19])  # a zombie has ended


def _descendants(root: int) -> set[tuple[int, int]]:
    """The processes below `root` now, as (pid, start time)."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:
            continue
        fields = text[text.rindex(")") + 2 :].split()
        children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    found, todo = set(), [root]
    while todo:
        for pid in children.get(todo.pop(), []):
            start = _start_time(pid)
            if start is not None:
                found.add((pid, start))
                todo.append(pid)
    return found


def _alive(processes: set[tuple[int, int]]) -> set[tuple[int, int]]:
    return {(pid, start) for pid, start in processes if _start_time(pid) == start}


class TreeRecorder(threading.Thread):
    """Every process seen below `pid` while it lives (and after the signal, until
    stopped), with its command line."""

    def __init__(self, pid: int) -> None:
        super().__init__(daemon=True)
        self.pid, self.stop = pid, threading.Event()
        self.seen: dict[tuple[int, int], str] = {}

    def run(self) -> None:
        while not self.stop.is_set():
            for process in _descendants(self.pid):  # read again: a fork execs after
                self.seen[process] = _cmdline(process[0]) or self.seen.get(process, "")
            time.sleep(0.05)

    def alive(self) -> list[str]:
        return [self.seen[p] for p in _alive(set(self.seen))]

    def wait_until_gone(self, since: float) -> None:
        while self.alive() and time.monotonic() - since < ALL_GONE_SECONDS:
            time.sleep(0.1)
        self.stop.set()


def _env(own_server: bool) -> dict[str, str]:
    """Against this session's Prefect test server, or (own_server) none: the run starts
    its temporary server, a process of its own that must end with it."""
    from prefect.settings import PREFECT_API_URL

    env = {**os.environ, "PREFECT_API_URL": PREFECT_API_URL.value()}
    if own_server:
        env.pop("PREFECT_API_URL")
    return env


def _ecm(feeds: Path, out: Path, as_of: str, *extra: str, env) -> subprocess.Popen:
    return subprocess.Popen(
        [str(Path(sys.executable).with_name("ecm")), "run", "--input", str(feeds), "--as-of",
         as_of, "--out", str(out), *extra],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        start_new_session=True,  # a terminal's Ctrl-C reaches its whole group
    )  # fmt: skip


def _finished(process: subprocess.Popen) -> str:
    _stdout, stderr = process.communicate(timeout=900)
    assert process.returncode == 0, stderr[-3000:]
    return stderr


def _snapshot(folder: Path) -> dict[str, bytes | None]:
    return {
        str(p.relative_to(folder)): None if p.is_dir() else p.read_bytes()
        for p in sorted(folder.rglob("*"))
    }


@pytest.fixture(scope="module")
def feeds(tmp_path_factory):
    """One medical-claim Parquet file whose staging is one DuckDB query of a few seconds."""
    folder = tmp_path_factory.mktemp("interrupts") / "feeds"
    generate_feeds(folder, members=8000, months=13, end=_date(AS_OF), seed=5, fmt="parquet")
    return folder


def _date(text):
    import datetime as dt

    return dt.date.fromisoformat(text)


@pytest.fixture(scope="module")
def before(harness, tmp_path_factory):
    """What is on disk before the interrupted run: an earlier month's output and the
    warehouse holding its run (another, small feed, so that the run to interrupt stages
    every file of its own)."""
    root = tmp_path_factory.mktemp("before") / "out"
    small = write_story(root.parent / "small-feeds")
    _finished(_ecm(small, root / "2026-10", AS_OF, env=_env(False)))
    return root


@pytest.fixture(scope="module")
def clean(before, feeds, tmp_path_factory):
    """The files of the same run, never interrupted, on a copy of `before`."""
    root = tmp_path_factory.mktemp("clean") / "out"
    shutil.copytree(before, root, symlinks=True)
    _finished(_ecm(feeds, root / "2026-10", AS_OF, env=_env(False)))
    return root / "2026-10"


def _interrupt(process: subprocess.Popen, signal_number: int, when: str, as_json: bool):
    """Read the run's stderr until it reaches `when` ("ingest": inside the staging of
    the medical-claim file; "write": the write stage has started), then signal it (SIGINT
    to its process group, as a terminal's Ctrl-C does; SIGTERM to it alone, as a
    scheduler does). Returns the time sent and everything it said."""
    said = []
    for line in process.stderr:
        said.append(line)
        if as_json:
            event = json.loads(line) if line.startswith("{") else {}
            reached = (event.get("event"), event.get("status")) in {
                ("file", "started"),
                ("stage", "started"),
            } and (
                event.get("file") == "medical_claim.parquet"
                if when == "ingest"
                else event.get("stage") == "write"
            )
        else:
            reached = (
                "ingest: reading medical_claim.parquet" in line
                if when == "ingest"
                else "write: started" in line
            )
        if reached:
            break
    else:
        pytest.fail(f"the run ended before {when}: {''.join(said)[-3000:]}")
    if when == "ingest":
        time.sleep(1.0)  # inside the query (a few seconds long)
    sent = time.monotonic()
    if signal_number == signal.SIGINT:
        os.killpg(process.pid, signal_number)
    else:
        process.send_signal(signal_number)
    rest = process.stderr.read()
    process.wait(timeout=60)
    return sent, "".join(said) + rest


SCENARIOS = [
    # signal, stage, the run's own Prefect server, --json
    pytest.param(signal.SIGTERM, "ingest", True, False, id="sigterm-ingest-own-server"),
    # a terminal's Ctrl-C reaches the run's Prefect server too: the run must end anyway
    pytest.param(signal.SIGINT, "ingest", True, True, id="sigint-ingest-own-server-json"),
    pytest.param(signal.SIGTERM, "write", False, True, id="sigterm-write-json"),
    pytest.param(signal.SIGINT, "write", False, False, id="sigint-write"),
]


@pytest.mark.flow
@pytest.mark.parametrize(("signal_number", "when", "own_server", "as_json"), SCENARIOS)
def test_an_interrupted_run_ends_within_seconds_and_changes_nothing(
    feeds, before, clean, tmp_path, signal_number, when, own_server, as_json
):
    root = tmp_path / "out"
    shutil.copytree(before, root, symlinks=True)
    on_disk = _snapshot(root)
    process = _ecm(
        feeds, root / "2026-10", AS_OF, *(["--json"] if as_json else []), env=_env(own_server)
    )
    tree = TreeRecorder(process.pid)
    tree.start()

    sent, stderr = _interrupt(process, signal_number, when, as_json)
    ended = time.monotonic() - sent
    tree.wait_until_gone(sent)

    assert process.returncode == 128 + signal_number, stderr[-3000:]
    assert ended < ALL_GONE_SECONDS, ended
    if own_server:
        assert any("uvicorn" in c for c in tree.seen.values()), tree.seen  # it had one
    assert tree.alive() == []
    last = stderr.strip().splitlines()[-1]
    if as_json:
        error = json.loads(last)
        assert (error["error"], error["exit_code"]) == ("interrupted", 128 + signal_number)
        assert error["message"].startswith(SENTENCE)
    else:
        assert last.startswith(f"ecm: {SENTENCE}"), stderr[-3000:]
    assert "Traceback" not in stderr and "bug" not in stderr
    assert _snapshot(root) == on_disk  # the warehouse, --out and no lock or copy left

    rerun = _ecm(feeds, root / "2026-10", AS_OF, env=_env(False))  # would refuse if locked
    _finished(rerun)
    for name in DATA_FILES:
        assert (root / "2026-10" / name).read_bytes() == (clean / name).read_bytes(), name


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


@pytest.mark.dask
def test_an_interrupted_dask_run_ends_its_cluster(feeds, before, tmp_path):
    root = tmp_path / "out"
    shutil.copytree(before, root, symlinks=True)
    on_disk = _snapshot(root)
    process = _ecm(feeds, root / "2026-10", AS_OF, "--dask", env=_env(False))
    tree = TreeRecorder(process.pid)
    tree.start()

    sent, stderr = _interrupt(process, signal.SIGTERM, "ingest", False)
    tree.wait_until_gone(sent)

    assert process.returncode == 143, stderr[-3000:]
    workers = [c for c in tree.seen.values() if "multiprocessing" in c]
    assert len(workers) >= 2, tree.seen  # the cluster had started: nannies and workers
    assert tree.alive() == []
    assert stderr.strip().splitlines()[-1].startswith(f"ecm: {SENTENCE}")
    # the workers' own reports of the closed cluster (heartbeat tracebacks) are not shown
    assert "Traceback" not in stderr and "distributed.worker" not in stderr, stderr[-3000:]
    assert _snapshot(root) == on_disk
