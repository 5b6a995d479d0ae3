"""Only regular files, never trusted for their size (feeds.md): a named pipe, socket,
device, dangling symlink or symlink loop in the feed folder is an InputError naming it,
never a hang; the folder's other entries are never opened."""

from __future__ import annotations

import gzip
import os
import re
import signal
import socket
import tempfile
from contextlib import contextmanager, suppress
from pathlib import Path

import duckdb
import pytest
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st

from data_contracts import load_contracts
from ecm.cli import main
from ecm.errors import InputError
from ecm.ingest import ingest as ingest_unguarded
from ecm.ingest.discover import discover_feeds
from tests.feeds import minimal_feeds

HANG_SECONDS = 5


def ingest(*args, **kwargs):
    """The ingest as a run calls it: with the run's quarantine guard."""
    return ingest_unguarded(*args, **kwargs, quarantine_guard="run")


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
    from ecm.ingest.fingerprints import fingerprint_inputs

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
    import flows.launch

    def no_prefect():
        raise AssertionError("Prefect was started")

    monkeypatch.setattr(flows.launch, "apply_prefect_defaults", no_prefect)
    feeds = minimal_feeds(tmp_path / "feeds")
    os.mkfifo(feeds / "homelessness.csv")
    with fails_if_it_hangs():
        result = CliRunner().invoke(
            main, ["run", "--input", str(feeds), "--out", str(tmp_path / "out" / "2026-10")]
        )
    assert result.exit_code == 2, result.output
    assert "homelessness.csv: is a named pipe" in result.output
    assert not (tmp_path / "out").exists()


# --- never trusted for its size ----------------------------------------------------------


def rules_with(tmp_path, **guards):
    """The packaged rules file with some `[guards]` settings changed."""
    from ecm.config.paths import DEFAULT_RULES_FILE
    from ecm.config.rules import load_rules

    text = DEFAULT_RULES_FILE.read_text(encoding="utf-8")
    for key, value in guards.items():
        text, found = re.subn(rf"(?m)^{key} = .*$", f"{key} = {value}", text)
        assert found == 1, key
    path = tmp_path / "rules.toml"
    path.write_text(text, encoding="utf-8")
    return load_rules(path)


ELIGIBILITY_HEADER = "member_id,birth_date,enrollment_start_date,enrollment_end_date,first_name\n"


def eligibility_with_a_line_of(feeds, length, suffix=".csv", *, crlf=False):
    """An eligibility file whose line 3 is exactly `length` bytes before its line end."""
    start = "B,1980-01-01,2020-01-01,,"
    end = "\r\n" if crlf else "\n"
    text = (
        ELIGIBILITY_HEADER.replace("\n", end)
        + "A,1980-01-01,2020-01-01,,Ann"
        + end
        + start
        + "x" * (length - len(start))
        + end
        + "C,1980-01-01,2020-01-01,,Cy"
        + end
    )
    (feeds / "eligibility.csv").unlink(missing_ok=True)
    path = feeds / f"eligibility{suffix}"
    data = text.encode()
    path.write_bytes(gzip.compress(data) if suffix.endswith(".gz") else data)
    return path


def reference_measure(data: bytes, limit: int) -> tuple[int | None, int, bool]:
    """What measure_file must find, the slow way: the first line longer than `limit`
    (its LF or CRLF not counted), the rows at most (lines less the header), and whether a
    line end lies inside quotes."""
    lines = data.split(b"\n")
    ended, last = lines[:-1], lines[-1]
    lengths = [len(x) - x.endswith(b"\r") for x in ended] + ([len(last)] if last else [])
    too_long = next((i + 1 for i, n in enumerate(lengths) if n > limit), None)
    quotes = [x.count(b'"') for x in ended]
    spans = any(sum(quotes[: i + 1]) % 2 for i in range(len(ended)))
    return too_long, max(len(lengths) - 1, 0), spans


@settings(max_examples=300, deadline=None)
@given(
    data=st.lists(st.sampled_from([b"a", b",", b'"', b"\r", b"\n", b"\r\n"]), max_size=60).map(
        b"".join
    ),
    limit=st.integers(0, 6),
    chunk=st.integers(1, 7),
)
def test_measure_file_finds_what_a_slow_reading_finds(data, limit, chunk):
    """Chunk boundaries anywhere (a CR at the end of one chunk, its LF in the next)."""
    from unittest import mock

    from ecm.ingest import measure

    too_long, rows, spans = reference_measure(data, limit)
    with (
        tempfile.TemporaryDirectory() as folder,
        mock.patch.object(measure, "MEASURE_CHUNK_BYTES", chunk),
    ):
        path = Path(folder) / "eligibility.csv"
        path.write_bytes(data)
        if too_long is not None:
            with pytest.raises(InputError, match=rf": line {too_long} is longer than {limit} "):
                measure.measure_file(path, limit)
            return
        measured = measure.measure_file(path, limit)
    assert measured == measure.FileMeasure(len(data), rows, spans)


@pytest.mark.parametrize("suffix", [".csv", ".csv.gz"])
@pytest.mark.parametrize("crlf", [False, True])
def test_a_line_longer_than_max_line_bytes_names_the_file_and_line(tmp_path, suffix, crlf):
    """The limit is the rules file's; a line of exactly that many bytes (its line end not
    counted, LF or CRLF) is read, one byte more is refused, naming file and line."""
    limit = 16_384  # the least the rules file allows (guards.max_line_bytes)
    rules = rules_with(tmp_path, max_line_bytes=limit)
    feeds = minimal_feeds(tmp_path / "feeds")
    eligibility_with_a_line_of(feeds, limit, suffix, crlf=crlf)
    with duckdb.connect() as con:
        assert ingest(con, feeds, rules, tmp_path / "w1").feeds["eligibility"].read == 3
    path = eligibility_with_a_line_of(feeds, limit + 1, suffix, crlf=crlf)
    with duckdb.connect() as con, pytest.raises(InputError) as refused:
        ingest(con, feeds, rules, tmp_path / "w2")
    assert str(refused.value).startswith(
        f"{path}: line 3 is longer than 16,384 bytes (the rules file's guards.max_line_bytes)"
    )
    assert "xxx" not in str(refused.value)


def test_the_default_line_limit_is_one_mebibyte(tmp_path, rules):
    feeds = minimal_feeds(tmp_path / "feeds")
    path = eligibility_with_a_line_of(feeds, 2**20 + 1)
    with (
        duckdb.connect() as con,
        pytest.raises(InputError, match=r"line 3 is longer than 1,048,576"),
    ):
        ingest(con, feeds, rules, tmp_path / "work")
    assert path.name in str(path)


def test_a_last_line_without_a_line_end_is_measured_too(tmp_path):
    rules = rules_with(tmp_path, max_line_bytes=16_384)
    feeds = minimal_feeds(tmp_path / "feeds")
    (feeds / "eligibility.csv").write_bytes(
        (ELIGIBILITY_HEADER + "A,1980-01-01,2020-01-01,,").encode() + b"y" * 16_384
    )
    with duckdb.connect() as con, pytest.raises(InputError, match=r"line 2 is longer than 16,384"):
        ingest(con, feeds, rules, tmp_path / "work")


def fake_free_disk(monkeypatch, free):
    """The disk holding the warehouse reports `free` bytes free."""
    import shutil

    from ecm.ingest import measure

    def usage(path):
        return shutil._ntuple_diskusage(10 * free + 1, 9 * free, free)

    monkeypatch.setattr(measure.shutil, "disk_usage", usage)


def test_a_file_the_warehouse_disk_has_no_room_for_is_exit_4(tmp_path, rules, monkeypatch):
    """A gzip is counted by what it expands to, not its own size: the disk must hold
    STAGING_DISK_FACTOR x that (MachineError, exit 4, naming the disk's folder, the file,
    the room needed and free); with a byte more free, it is staged."""
    from ecm.errors import MachineError
    from ecm.ingest.measure import STAGING_DISK_FACTOR
    from tests.feeds import line, write_feed

    feeds = minimal_feeds(tmp_path / "feeds")
    rows = [line(f"c{i}", "A", "2026-01-05") for i in range(3000)]
    (feeds / "medical_claim.csv").unlink()
    path = write_feed(feeds, "medical_claim", rows, suffix=".csv.gz")
    expanded = len(gzip.decompress(path.read_bytes()))
    assert expanded > 20 * path.stat().st_size
    needed = int(STAGING_DISK_FACTOR * expanded)
    fake_free_disk(monkeypatch, needed)
    with duckdb.connect() as con, pytest.raises(MachineError) as refused:
        ingest(con, feeds, rules, tmp_path / "work")
    message = str(refused.value)
    assert str(path) in message and str(tmp_path) in message
    assert f"{needed:,} bytes" in message and "free" in message
    fake_free_disk(monkeypatch, needed + 1)
    with duckdb.connect() as con:
        assert ingest(con, feeds, rules, tmp_path / "work2").feeds["medical_claim"].read == 3000


def test_a_parquet_file_is_counted_by_its_uncompressed_size(tmp_path, rules, monkeypatch):
    import polars as pl
    import pyarrow.parquet as pq

    from ecm.errors import MachineError
    from ecm.ingest.measure import STAGING_DISK_FACTOR

    feeds = minimal_feeds(tmp_path / "feeds")
    (feeds / "eligibility.csv").unlink()
    n = 20000
    path = feeds / "eligibility.parquet"
    pl.DataFrame(
        {
            "member_id": [f"M{i:07d}" for i in range(n)],
            "birth_date": ["1980-01-01"] * n,
            "enrollment_start_date": ["2020-01-01"] * n,
            "enrollment_end_date": [None] * n,
        }
    ).write_parquet(path, compression="zstd")
    meta = pq.read_metadata(path)
    uncompressed = sum(meta.row_group(g).total_byte_size for g in range(meta.num_row_groups))
    assert uncompressed > 2 * path.stat().st_size
    fake_free_disk(monkeypatch, int(STAGING_DISK_FACTOR * uncompressed))
    with duckdb.connect() as con, pytest.raises(MachineError, match=r"eligibility\.parquet"):
        ingest(con, feeds, rules, tmp_path / "work")


# --- the quarantine guard, during the ingest ----------------------------------------------


def homelessness(feeds, broken, good, *, broken_first=True, suffix=".csv"):
    """A homelessness file of `good` rows and `broken` rows that break a row rule (exit
    before entry), in that order or the other."""
    from tests.feeds import write_feed

    ok = {"member_id": "A", "entry_date": "2026-01-01", "exit_date": "2026-02-01"}
    bad = {"member_id": "A", "entry_date": "2026-03-01", "exit_date": "2026-01-31"}
    rows = [bad] * broken + [ok] * good if broken_first else [ok] * good + [bad] * broken
    return write_feed(feeds, "homelessness", rows, suffix=suffix)


@pytest.mark.parametrize(("broken", "refused"), [(20, False), (21, True)])
def test_an_optional_feed_past_the_quarantined_share_stops_the_ingest(
    tmp_path, rules, broken, refused
):
    """guards.max_quarantined_share (20%) holds for optional feeds too: 20 of 100 rows
    quarantined pass, 21 stop the ingest (exit 3) naming the feed, share and setting."""
    from ecm.errors import SanityGuardError

    feeds = minimal_feeds(tmp_path / "feeds")
    homelessness(feeds, broken, 100 - broken)
    with duckdb.connect() as con:
        if not refused:
            assert ingest(con, feeds, rules, tmp_path / "w").feeds["homelessness"].quarantined == 20
            return
        with pytest.raises(SanityGuardError) as stopped:
            ingest(con, feeds, rules, tmp_path / "w")
    message = str(stopped.value)
    assert "21% of the homelessness feed's rows" in message
    assert "guards.max_quarantined_share is 20%" in message
    summary = stopped.value.summary
    assert summary["refused_during"] == "ingest"
    assert summary["feeds"]["homelessness"]["quarantined"] == 21
    assert summary["feeds"]["eligibility"] == {
        "present": True,
        "files": 1,
        "read": 1,
        "staged": 1,
        "quarantined": 0,
    }


@pytest.fixture
def small_pieces(monkeypatch):
    """Stage files in pieces of 100 rows, and count the pieces staged."""
    from ecm.ingest import stage

    monkeypatch.setattr(stage, "PIECE_ROWS", 100)
    pieces: list[int] = []
    real = stage._stage_file

    def counting(con, contract, raw, *args, **kwargs):
        counts = real(con, contract, raw, *args, **kwargs)
        if contract.name == "homelessness":
            pieces.append(counts[0])
        return counts

    monkeypatch.setattr(stage, "_stage_file", counting)
    return pieces


@pytest.mark.parametrize("suffix", [".csv", ".csv.gz", ".parquet"])
def test_the_guard_stops_as_soon_as_the_share_is_certain(tmp_path, rules, small_pieces, suffix):
    """1,000 rows, every one broken: after 300 (three pieces of 100) more than 20% of the
    file is certainly quarantined, whatever the rest holds; the other 700 are never staged."""
    from ecm.errors import SanityGuardError

    feeds = minimal_feeds(tmp_path / "feeds")
    path = homelessness(feeds, 1000, 0, suffix=".csv")
    if suffix == ".parquet":
        import polars as pl

        pl.read_csv(path, infer_schema=False).write_parquet(feeds / "homelessness.parquet")
        path.unlink()
    elif suffix == ".csv.gz":
        path.with_suffix(".csv.gz").write_bytes(gzip.compress(path.read_bytes()))
        path.unlink()
    with duckdb.connect() as con, pytest.raises(SanityGuardError) as stopped:
        ingest(con, feeds, rules, tmp_path / "w")
    assert small_pieces == [100, 100, 100]
    counts = stopped.value.summary["feeds"]["homelessness"]
    assert (counts["read"], counts["quarantined"], counts["rows_at_most"]) == (300, 300, 1000)
    assert "at least 30% of the homelessness feed's rows" in str(stopped.value)


def test_a_share_that_is_not_certain_is_not_a_guess_from_the_first_pieces(
    tmp_path, rules, small_pieces
):
    """The first 200 rows of 1,000 broken: exactly 20%, not past it. The guard never
    extrapolates from the first pieces: the file is staged whole and passes."""
    feeds = minimal_feeds(tmp_path / "feeds")
    homelessness(feeds, 200, 800)
    with duckdb.connect() as con:
        result = ingest(con, feeds, rules, tmp_path / "w")
    assert small_pieces == [100] * 10
    assert (result.feeds["homelessness"].read, result.feeds["homelessness"].quarantined) == (
        1000,
        200,
    )


def test_a_share_found_only_at_the_end_still_stops_the_ingest(tmp_path, rules, small_pieces):
    from ecm.errors import SanityGuardError

    feeds = minimal_feeds(tmp_path / "feeds")
    homelessness(feeds, 250, 750, broken_first=False)
    with duckdb.connect() as con, pytest.raises(SanityGuardError, match="25% of the homel"):
        ingest(con, feeds, rules, tmp_path / "w")
    assert small_pieces == [100] * 10


def test_the_end_of_run_guard_covers_optional_feeds():
    """guards.sanity_guard_failures (after the run) holds optional feeds to the share too;
    an absent or header-only feed is no failure."""
    from ecm.config.rules import load_rules
    from ecm.run.guards import sanity_guard_failures

    def feed(read, quarantined, present=True):
        return {
            "present": present,
            "files": 1,
            "read": read,
            "staged": read - quarantined,
            "quarantined": quarantined,
        }

    summary = {
        "as_of_date": "2026-10-31",
        "members": {"enrolled": 10},
        "feeds": {
            "eligibility": feed(10, 0),
            "medical_claim": feed(10, 2),
            "homelessness": feed(10, 3),
            "incarceration": feed(0, 0),
            "child_welfare": feed(0, 0, present=False),
        },
    }
    failures = sanity_guard_failures(summary, load_rules())
    assert len(failures) == 1
    assert failures[0].startswith("30% of the homelessness feed's rows were quarantined")


def test_ecm_run_stopped_by_an_optional_feed_exits_3_and_prints_what_it_staged(tmp_path):
    """The refused run's summary (partial: the feeds staged when the ingest stopped) is
    printed, nothing is replaced, and the warehouse is not created."""
    import subprocess
    import sys

    feeds = minimal_feeds(tmp_path / "feeds")
    homelessness(feeds, 50, 50)
    out = tmp_path / "out" / "2026-10"
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "ecm.cli",
            "run",
            "--input",
            feeds,
            "--as-of",
            "2026-10-31",
            "--out",
            out,
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert proc.returncode == 3, proc.stderr
    assert "50% of the homelessness feed's rows" in proc.stderr
    assert "The ingest stopped in the homelessness feed" in proc.stderr and "Feeds" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert not out.exists() and not (tmp_path / "out" / "warehouse.duckdb").exists()


# --- the bombs of issue #14 ---------------------------------------------------------------

BOMB_SECONDS = 60
BOMB_RSS_BYTES = 1_500_000_000
BOMB_DISK_BYTES = 1_000_000_000

INGEST_CHILD = """
import sys
from pathlib import Path

import duckdb

from ecm.cli import _exit_code
from ecm.errors import EcmError
from ecm.ingest import ingest
from ecm.config.rules import load_rules

feeds, house = Path(sys.argv[1]), Path(sys.argv[2])
try:
    with duckdb.connect(str(house / "warehouse.duckdb")) as con:
        ingest(con, feeds, load_rules(), house / "work", quarantine_guard="run")
except EcmError as exc:
    print(f"{type(exc).__name__}: {exc}", file=sys.stderr)
    sys.exit(_exit_code(exc))
"""


def gzip_repeating(path, head: bytes, block: bytes, times: int) -> int:
    """A multi-member gzip of `head` then `block` `times` times, built in a moment: the
    block is compressed once and its bytes repeated (each copy a valid gzip member).
    Returns the bytes it expands to."""
    member = gzip.compress(block, compresslevel=9)
    with path.open("wb") as out:
        out.write(gzip.compress(head))
        for _ in range(times):
            out.write(member)
    return len(head) + len(block) * times


def folder_bytes(folder) -> int:
    """The disk space the files under `folder` take (allocated blocks)."""
    total = 0
    for root, _dirs, files in os.walk(folder):
        for name in files:
            with suppress(OSError):  # removed while walking
                total += (Path(root) / name).lstat().st_blocks * 512
    return total


def ingest_watched(feeds, house):
    """Ingest `feeds` into a warehouse in `house` in a child process, sampling the peak
    memory (RSS of its whole process tree, from /proc) and the disk `house` takes; the
    child is killed once it passes BOMB_SECONDS, BOMB_RSS_BYTES or BOMB_DISK_BYTES, so a
    regression fails the test without taking the machine down with it."""
    import subprocess
    import sys
    import time

    from tests.bench import tree_rss_bytes

    house.mkdir()
    start = time.monotonic()
    with (house.parent / "child.err").open("w+") as err:
        child = subprocess.Popen(
            [sys.executable, "-c", INGEST_CHILD, str(feeds), str(house)],
            stderr=err,
            start_new_session=True,
        )
        peak_rss = peak_disk = 0
        killed = None
        while child.poll() is None:
            peak_rss = max(peak_rss, tree_rss_bytes(child.pid))
            peak_disk = max(peak_disk, folder_bytes(house))
            seconds = time.monotonic() - start
            for over, what in (
                (seconds > BOMB_SECONDS, f"ran {seconds:.0f} s"),
                (peak_rss > BOMB_RSS_BYTES, f"took {peak_rss / 1e9:.1f} GB of memory"),
                (peak_disk > BOMB_DISK_BYTES, f"took {peak_disk / 1e9:.1f} GB of disk"),
            ):
                if over and killed is None:
                    killed = what
                    os.killpg(child.pid, signal.SIGKILL)
            time.sleep(0.05)
        err.seek(0)
        stderr = err.read()
    assert killed is None, f"the ingest was killed: it {killed}"
    return child.returncode, stderr, time.monotonic() - start, peak_rss, peak_disk


@pytest.mark.bomb
def test_a_gzip_of_two_gigabytes_of_broken_rows_costs_seconds(tmp_path):
    """Issue #14: a ~3 MB homelessness.csv.gz expanding to ~2 GB of rows that each break
    a row rule ran 11 minutes, took 12.4 GB of memory and 50 GB of disk. Now the
    quarantine guard stops it (exit 3) once its share is certain."""
    feeds = minimal_feeds(tmp_path / "feeds")
    row = b"A,2026-03-01,2026-01-31,ES,street,hmis\n"  # exit before entry: quarantined
    header = b"member_id,entry_date,exit_date,project_type,living_situation,source\n"
    expands = gzip_repeating(feeds / "homelessness.csv.gz", header, row * (2**20 // len(row)), 2048)
    assert expands > 2 * 10**9
    assert (feeds / "homelessness.csv.gz").stat().st_size < 8 * 10**6
    code, stderr, seconds, rss, disk = ingest_watched(feeds, tmp_path / "house")
    print(f"bomb of rows: {seconds:.1f} s, peak RSS {rss / 1e6:.0f} MB, disk {disk / 1e6:.0f} MB")
    assert code == 3, stderr
    assert "of the homelessness feed's rows" in stderr
    assert "guards.max_quarantined_share" in stderr


@pytest.mark.bomb
def test_a_gzip_holding_one_three_gibibyte_line_costs_seconds(tmp_path):
    """Issue #14: a ~3 MB gzip holding one 3 GiB line was refused after 91 s and 21.9 GB
    of memory, with a message about quotes. Now the line is found in bounded memory."""
    feeds = minimal_feeds(tmp_path / "feeds")
    (feeds / "medical_claim.csv").unlink()
    header = (",".join(load_contracts()["medical_claim"].columns) + "\n").encode()
    path = feeds / "medical_claim.csv.gz"
    assert gzip_repeating(path, header, b"x" * 2**20, 3 * 1024) > 3 * 2**30
    assert path.stat().st_size < 8 * 10**6
    code, stderr, seconds, rss, disk = ingest_watched(feeds, tmp_path / "house")
    print(f"bomb line: {seconds:.1f} s, peak RSS {rss / 1e6:.0f} MB, disk {disk / 1e6:.0f} MB")
    assert code == 2, stderr
    assert f"{path}: line 2 is longer than 1,048,576 bytes" in stderr
    assert "quote" not in stderr


def test_a_file_staged_in_pieces_is_staged_as_a_whole_one(tmp_path, rules, monkeypatch):
    """Pieces of 3 rows against one piece: the same staged rows, quarantine and
    ingest_files rows, with quoted line breaks, blank lines, broken rows, a column filled
    only in a later piece, gzip and Parquet drops (by row ranges)."""
    import polars as pl

    from ecm.ingest import stage
    from tests.feeds import member, write_feed

    feeds = minimal_feeds(tmp_path / "feeds")
    rows = [
        member(f"M{i}", address="1 Main St\nApt 2" if i % 4 == 0 else "")
        | ({"birth_date": "not a date"} if i % 5 == 0 else {})
        | ({"note": "late"} if i > 10 else {})
        for i in range(14)
    ] + [member("A")]
    path = write_feed(feeds, "eligibility", rows)
    path.write_text(path.read_text().replace("\nM3,", "\n,,,\n\nM3,"))
    drops = feeds / "homelessness"
    drops.mkdir()
    homelessness(drops, 4, 6, suffix=".csv.gz").rename(drops / "homelessness_1.csv.gz")
    second = homelessness(drops, 2, 5)
    pl.read_csv(second, infer_schema=False).write_parquet(drops / "homelessness_2.parquet")
    second.unlink()

    def staged(pieces):
        monkeypatch.setattr(stage, "PIECE_ROWS", pieces)
        with duckdb.connect() as con:
            ingest_unguarded(con, feeds, rules, tmp_path / f"work{pieces}")
            return {
                name: con.sql(f"select * from {name} order by all").fetchall()
                for name in (
                    "stg__eligibility",
                    "stg__homelessness",
                    "quarantine",
                    "(select * exclude (staging_sha256, stored), list_sort(stored) "
                    "from ingest_files)",
                )
            }

    whole, pieces = staged(1 << 20), staged(3)
    assert pieces == whole
    assert len(whole["stg__eligibility"]) == 12 and len(whole["quarantine"]) == 3 + 6


@pytest.mark.parametrize(
    ("share", "limit", "at_least", "shown"),
    [
        (0.21, 0.2, False, "21%"),
        (0.2049, 0.2, False, "20.5%"),  # never "20%" against a 20% setting
        (0.2001, 0.2, True, "20.01%"),
        (0.2999, 0.2, True, "29%"),  # "at least" never rounds up
        (1.0, 0.2, False, "100%"),
    ],
)
def test_a_share_is_shown_so_that_it_differs_from_the_setting(share, limit, at_least, shown):
    from ecm.run.guards import percent, setting_percent

    assert percent(share, limit, at_least=at_least) == shown
    assert setting_percent(0.125) == "12.5%" and setting_percent(0.2) == "20%"
