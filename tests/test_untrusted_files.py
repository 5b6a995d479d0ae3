"""Only regular files, never trusted for their size (feeds.md): a named pipe, socket,
device, dangling symlink or symlink loop in the feed folder is an InputError naming it,
never a hang; the folder's other entries are never opened."""

from __future__ import annotations

import os
import re
import signal
import socket
import tempfile
from contextlib import contextmanager
from pathlib import Path

import duckdb
import pytest
from click.testing import CliRunner

from data_contracts import load_contracts
from ecm.cli import main
from ecm.errors import InputError
from ecm.ingest import discover_feeds, ingest
from tests.feeds import minimal_feeds

HANG_SECONDS = 5


class HangError(Exception):
    """The code under test blocked (opening a named pipe waits for a writer forever)."""


@contextmanager
def fails_if_it_hangs(seconds: float = HANG_SECONDS):
    """Raise HangError when the block runs longer than `seconds`: SIGALRM interrupts a blocking
    open() of a named pipe, and the handler's exception ends it."""

    def hung(_signum, _frame):
        raise HangError(f"still running after {seconds} s: something opened a non-regular file")

    previous = signal.signal(signal.SIGALRM, hung)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def _fifo(path):
    os.mkfifo(path)


def _socket(path):
    # A unix socket file stays after the socket is closed (a server that died leaves one).
    with socket.socket(socket.AF_UNIX) as server:
        server.bind(str(path))


def _dev_null(path):
    path.symlink_to("/dev/null")


def _dangling(path):
    path.symlink_to(path.with_name("gone.csv"))


def _loop(path):
    path.symlink_to(path.name)  # a link to itself


def _link_to_fifo(path):
    os.mkfifo(path.with_name("pipe"))
    path.symlink_to("pipe")


NOT_REGULAR = {
    "fifo": (_fifo, "is a named pipe"),
    "socket": (_socket, "is a socket"),
    "dev_null": (_dev_null, "is a character device"),
    "dangling": (_dangling, r"gone\.csv, which does not exist"),
    "loop": (_loop, "loops"),
    "link_to_fifo": (_link_to_fifo, "is a named pipe"),
}


@pytest.fixture
def short_tmp():
    """A folder with a short path: a unix socket's path must fit in 108 bytes."""
    with tempfile.TemporaryDirectory(prefix="ecm-", dir="/tmp") as folder:
        yield Path(folder)


@pytest.mark.parametrize("kind", NOT_REGULAR)
@pytest.mark.parametrize("where", ["top", "drops"])
def test_a_feed_file_that_is_not_a_regular_file_is_an_input_error(short_tmp, kind, where):
    """At the top of the folder (an optional feed's file) or among a required feed's
    monthly drops: discovery names the entry and what was expected, in a moment."""
    make, says = NOT_REGULAR[kind]
    feeds = minimal_feeds(short_tmp / "f")
    if where == "top":
        entry = feeds / "homelessness.csv"
    else:
        drops = feeds / "medical_claim"
        drops.mkdir()
        (feeds / "medical_claim.csv").rename(drops / "medical_claim_2026-01.csv")
        entry = drops / "medical_claim_2026-02.csv"
    make(entry)
    with fails_if_it_hangs(), pytest.raises(InputError) as refused:
        discover_feeds(feeds, load_contracts())
    message = str(refused.value)
    assert message.startswith(f"{entry}: ")
    assert re.search(says, message), message
    assert "expected a regular file" in message


def test_the_ingest_refuses_a_named_pipe_before_reading_anything(tmp_path, rules):
    feeds = minimal_feeds(tmp_path / "feeds")
    os.mkfifo(feeds / "homelessness.csv")
    with fails_if_it_hangs(), duckdb.connect() as con, pytest.raises(InputError, match="pipe"):
        ingest(con, feeds, rules, tmp_path / "work")


def test_a_symlink_to_a_regular_file_is_read(tmp_path):
    feeds = minimal_feeds(tmp_path / "feeds")
    (feeds / "medical_claim.csv").rename(tmp_path / "claims.csv")
    (feeds / "medical_claim.csv").symlink_to(tmp_path / "claims.csv")
    found = discover_feeds(feeds, load_contracts())
    assert found.feeds["medical_claim"].files == (feeds / "medical_claim.csv",)


def test_entries_that_match_no_feed_are_listed_as_ignored_never_opened(short_tmp):
    """A pipe, a socket and a dangling link named after no feed are left alone, and the
    run's input fingerprints (which hash the folder's files) never open them."""
    from flows.monthly import fingerprint_inputs

    feeds = minimal_feeds(short_tmp / "f")
    os.mkfifo(feeds / "notes.pipe")
    _socket(feeds / "agent.sock")
    (feeds / "old.csv").symlink_to(feeds / "gone.csv")
    (feeds / "attic").mkdir()
    os.mkfifo(feeds / "attic" / "medical_claim.csv")  # in a folder that is no feed's
    with fails_if_it_hangs():
        found = discover_feeds(feeds, load_contracts())
        fingerprints = fingerprint_inputs(feeds)
    assert sorted(p.name for p in found.ignored) == ["agent.sock", "attic", "notes.pipe", "old.csv"]
    assert sorted(fingerprints) == ["eligibility.csv", "medical_claim.csv"]


def test_ecm_run_refuses_a_named_pipe_with_exit_2_before_prefect_starts(tmp_path, monkeypatch):
    import ecm.cli

    def no_prefect():
        raise AssertionError("Prefect was started")

    monkeypatch.setattr(ecm.cli, "apply_prefect_defaults", no_prefect)
    feeds = minimal_feeds(tmp_path / "feeds")
    os.mkfifo(feeds / "homelessness.csv")
    with fails_if_it_hangs():
        result = CliRunner().invoke(
            main, ["run", "--input", str(feeds), "--out", str(tmp_path / "out" / "2026-10")]
        )
    assert result.exit_code == 2, result.output
    assert "homelessness.csv: is a named pipe" in result.output
    assert not (tmp_path / "out").exists()
