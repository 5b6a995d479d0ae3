"""Progress a person can watch (ecm/progress.py): plain lines when stderr is not a
terminal, one JSON object per line under --json, nothing under --quiet, and a live rich
display on a terminal whose elapsed times tick while a long query runs. Only stage names,
file names, counts and seconds: never member data."""

from __future__ import annotations

import datetime as dt
import io
import json
import logging
import os
import pty
import re
import select
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import polars as pl
import pytest
from click.testing import CliRunner
from rich.console import Console

from ecm.cli import main
from ecm.run import progress
from ecm.run.progress import LogRenderer, Reporter, RichRenderer
from tests.feeds import generated_with_distinctive_names

AS_OF = dt.date(2026, 10, 31)
FLOW_STAGES = (
    "start_workers",
    "ingest",
    "shard_inputs",
    "validate",
    "shards",
    "merge",
    "loop",
    "write",
)
SECONDS = r"\((\d+\.\d) s\)"


def _feed_files(folder: Path) -> list[str]:
    """The feed files of a generated folder, relative to it (as the progress names them)."""
    return sorted(
        str(p.relative_to(folder))
        for p in folder.rglob("*")
        if p.is_file() and not p.name.startswith(".")
    )


@pytest.fixture(scope="module")
def feeds(tmp_path_factory):
    """300 generated members, their names made distinctive (as in
    test_no_member_data_in_logs), so that a name in a progress line would be found."""
    folder = tmp_path_factory.mktemp("progress") / "feeds"
    return generated_with_distinctive_names(folder, end=AS_OF, seed=11)


@pytest.fixture(scope="module")
def secrets(feeds):
    eligibility = pl.read_csv(feeds / "eligibility.csv", infer_schema=False)
    values = set()
    for column in ("member_id", "first_name", "last_name", "address", "phone"):
        values |= {v for v in eligibility[column].drop_nulls().unique() if v}
    assert "M00000001" in values and "Qzfirst0000" in values
    return values


# ------------------------------------------------------------------ the reporter


def _plain_lines(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "ecm.progress"]


def test_plain_lines_say_when_each_stage_and_file_starts_and_ends(caplog):
    reporter = Reporter(LogRenderer())
    with caplog.at_level(logging.INFO, logger="ecm"):
        with reporter.stage("ingest") as stage:
            with reporter.file("medical_claim/2026-01.csv", feed="medical_claim") as f:
                f.count(9_362_113, "rows read", staged=9_362_100, quarantined=13)
            with reporter.step("resolving claim versions"):
                pass
            stage.count(9_362_113, "rows read")
        with reporter.stage("shards"):
            reporter.advance(2, 4, item="shard 1", rows=1234, unit="members", seconds=5.04)
        with pytest.raises(RuntimeError), reporter.stage("write"):
            raise RuntimeError("disk full")
    lines = _plain_lines(caplog)
    assert lines[0] == "ingest: started"
    assert lines[1] == "ingest: reading medical_claim/2026-01.csv"
    assert re.fullmatch(
        r"ingest: medical_claim/2026-01\.csv — 9,362,113 rows read, 9,362,100 staged, "
        r"13 quarantined " + SECONDS,
        lines[2],
    )
    assert lines[3] == "ingest: resolving claim versions"
    assert re.fullmatch(r"ingest: resolving claim versions — done " + SECONDS, lines[4])
    assert re.fullmatch(r"ingest: done — 9,362,113 rows read " + SECONDS, lines[5])
    assert lines[7] == "shards: 2 of 4 done — shard 1, 1,234 members (5.0 s)"
    assert re.fullmatch(r"shards: done — 1,234 members " + SECONDS, lines[8])
    assert re.fullmatch(r"write: failed " + SECONDS, lines[10])
    fields = [getattr(r, "progress", None) for r in caplog.records if r.name == "ecm.progress"]
    assert fields[2] == {
        "event": "file",
        "stage": "ingest",
        "file": "medical_claim/2026-01.csv",
        "feed": "medical_claim",
        "status": "done",
        "rows": 9_362_113,
        "unit": "rows read",
        "staged": 9_362_100,
        "quarantined": 13,
        "seconds": fields[2]["seconds"],
    }
    assert fields[7]["event"] == "progress" and fields[7]["done"] == 2
    assert fields[10]["status"] == "failed" and fields[10]["seconds"] >= 0


def test_a_stage_begun_lasts_until_the_next_one_begins(caplog):
    reporter = Reporter(LogRenderer())
    with caplog.at_level(logging.INFO, logger="ecm"):
        reporter.begin("start_prefect")
        time.sleep(0.2)
        with reporter.stage("ingest"):
            pass
        reporter.begin("again")
        reporter.close(failed=True)
    lines = _plain_lines(caplog)
    assert lines[0] == "start_prefect: started"
    seconds = float(re.fullmatch(r"start_prefect: done " + SECONDS, lines[1]).group(1))
    assert seconds >= 0.2
    assert lines[2] == "ingest: started"
    assert re.fullmatch(r"again: failed " + SECONDS, lines[-1])


def test_the_reporter_without_the_command_logs_plain_lines(caplog):
    """The flow run without the command (tests, a deployment) reports through the `ecm`
    logger: lines wherever that logger is configured."""
    with caplog.at_level(logging.INFO, logger="ecm"), progress.reporter().stage("merge"):
        pass
    assert _plain_lines(caplog)[0] == "merge: started"


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.mark.parametrize(
    ("quiet", "as_json", "stream", "renderer"),
    [
        (False, False, _Terminal(), "RichRenderer"),
        (False, False, io.StringIO(), "LogRenderer"),
        (False, True, _Terminal(), "LogRenderer"),
        (True, False, _Terminal(), "NullRenderer"),
    ],
)
def test_the_command_chooses_rich_only_on_a_terminal(quiet, as_json, stream, renderer):
    logger = logging.getLogger("ecm")
    before = (list(logger.handlers), logger.level, logger.propagate)
    try:
        chosen = progress._choose(quiet=quiet, as_json=as_json, stream=stream)
        chosen.close()
    finally:
        logger.handlers[:], logger.level, logger.propagate = before
    assert type(chosen.renderer).__name__ == renderer


def _slow_query(seconds: float = 2.5) -> None:
    """One DuckDB query of about `seconds` (sized on this machine, one thread): the
    display must tick meanwhile."""
    with duckdb.connect() as con:
        con.execute("set threads = 1")
        query = "select sum(hash(x)) from range({}) t(x)"
        started = time.perf_counter()
        con.execute(query.format(20_000_000)).fetchall()
        rows = int(20_000_000 * seconds / max(time.perf_counter() - started, 0.01))
        con.execute(query.format(rows)).fetchall()


def test_the_rich_display_shows_stages_files_rows_and_ticking_elapsed_time():
    out = io.StringIO()
    console = Console(file=out, force_terminal=True, width=110, color_system=None)
    reporter = Reporter(RichRenderer(console))
    with reporter.stage("ingest") as stage:
        with reporter.file("medical_claim.parquet", feed="medical_claim") as f:
            started = time.perf_counter()
            _slow_query()
            took = time.perf_counter() - started
            f.count(9_362_113, "rows read", staged=9_362_113, quarantined=0)
        time.sleep(0.6)  # while the stage runs on, its line adds up its files' rows
        stage.count(9_362_113, "rows read")
    with reporter.stage("shards"):
        reporter.advance(1, 4, item="shard 0", rows=300, unit="members")
    reporter.close()
    text = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", out.getvalue())
    last = text[text.rindex("✓ ingest") :]  # the display's last frame
    assert "✓ ingest" in last
    assert re.search(r"✓ +medical_claim\.parquet +9,362,113 rows read, 9,362,113 staged", last)
    assert re.search(r"shards +1 of 4 done, 300 members", last)
    assert re.search(r"⠀?\S? ingest +9,362,113 rows read so far", text)
    # the file's elapsed time was redrawn while the one query ran (rich refreshes 4 times
    # a second from its own thread)
    ticks = set(re.findall(r"medical_claim\.parquet[^\n\r]*?(\d+\.\d) s", text))
    assert took > 1.0, f"the query took {took:.2f} s: too short to see the display tick"
    assert len(ticks) >= 4, (took, ticks)


def test_the_rich_display_folds_a_stages_older_files():
    out = io.StringIO()
    console = Console(file=out, force_terminal=True, width=110, color_system=None)
    reporter = Reporter(RichRenderer(console))
    with reporter.stage("ingest"):
        for month in range(1, 13):
            with reporter.file(f"medical_claim/2026-{month:02d}.csv", feed="medical_claim") as f:
                f.count(100, "rows read", staged=100, quarantined=0)
    reporter.close()
    final = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", out.getvalue()).rsplit("✓ ingest", 1)[1]
    assert f"… {12 - progress.SHOWN_PER_STAGE} earlier files, 400 rows read" in final
    assert "2026-12.csv" in final and "2026-01.csv" not in final


# ------------------------------------------------------------------ the command


def test_ecm_demo_prints_plain_lines_when_stderr_is_not_a_terminal(tmp_path):
    env = {**os.environ, "PREFECT_HOME": str(tmp_path / "prefect-home")}
    env.pop("PREFECT_API_URL", None)
    demo = ["demo", "--members", "300", "--runs", "1", "--workdir", tmp_path]
    proc = subprocess.run(
        [sys.executable, "-m", "ecm.cli", *demo],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
        env=env,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    lines = [re.sub(r"^\[\d\d:\d\d:\d\d\] ", "", line) for line in proc.stderr.splitlines()]
    assert all(re.match(r"\[\d\d:\d\d:\d\d\] ", line) for line in proc.stderr.splitlines())
    for stage in ("generate", "start_prefect", *FLOW_STAGES):
        assert f"{stage}: started" in lines, stage
        assert any(re.fullmatch(rf"{stage}: done.* {SECONDS}", line) for line in lines), stage
    assert any(re.fullmatch(r"ingest: done — [\d,]+ rows read " + SECONDS, x) for x in lines)
    assert any(re.fullmatch(r"shards: 1 of 1 done — shard 0, [\d,]+ enrolled.*", x) for x in lines)
    assert any(re.fullmatch(r"write: done — [\d,]+ rows written " + SECONDS, x) for x in lines)
    files = _feed_files(tmp_path / "feeds")
    assert len(files) > 20  # medical_claim is a folder of monthly drops
    for name in files:
        assert f"ingest: reading {name}" in lines, name
        done = [x for x in lines if x.startswith(f"ingest: {name} — ")]
        assert len(done) == 1, name
        assert re.fullmatch(
            rf"ingest: {re.escape(name)} — [\d,]+ rows read, [\d,]+ staged, [\d,]+ quarantined "
            + SECONDS,
            done[0],
        )
    # the summary is on stdout, after the progress
    assert "Populations of Focus" in proc.stdout


def _run(feeds: Path, out: Path, *extra: str):
    return CliRunner().invoke(
        main,
        ["run", "--input", str(feeds), "--as-of", AS_OF.isoformat(), "--out", str(out), *extra],
    )


def test_under_json_progress_is_one_object_per_line_without_member_data(
    harness, feeds, secrets, tmp_path
):
    result = _run(feeds, tmp_path / "out" / "2026-10", "--json", "--shards", "2")
    assert result.exit_code == 0, result.output[-2000:]
    records = [json.loads(line) for line in result.stderr.splitlines()]  # every line
    events = [r for r in records if "event" in r]
    stages = {r["stage"]: r for r in events if r["event"] == "stage" and r["status"] == "done"}
    assert set(stages) >= {"start_prefect", *FLOW_STAGES}
    for record in stages.values():
        assert isinstance(record["seconds"], float)
        assert record["level"] == "info" and record["logger"] == "ecm.progress"
    assert stages["ingest"]["rows"] > 10_000 and stages["ingest"]["unit"] == "rows read"
    assert stages["shard_inputs"]["rows"] == 300
    assert stages["write"]["rows"] > 0 and stages["write"]["unit"] == "rows written"
    files = {r["file"]: r for r in events if r["event"] == "file" and r["status"] == "done"}
    assert set(files) == set(_feed_files(feeds))
    for record in files.values():
        assert record["rows"] == record["staged"] + record["quarantined"]
        assert record["stage"] == "ingest" and record["seconds"] >= 0
    shards = [r for r in events if r["event"] == "progress"]
    assert [(r["done"], r["total"]) for r in shards] == [(1, 2), (2, 2)]
    assert sum(r["rows"] for r in shards) == stages["shards"]["rows"]
    summary = json.loads(result.stdout)
    assert sum(f["read"] for f in summary["feeds"].values()) == stages["ingest"]["rows"]
    assert sorted(s for s in secrets if s in result.stderr) == []


def test_quiet_prints_no_progress(harness, feeds, tmp_path):
    result = _run(feeds, tmp_path / "out" / "2026-10", "--quiet")
    assert result.exit_code == 0, result.output[-2000:]
    assert result.stderr == ""


def test_validate_shows_the_rich_display_on_a_terminal(feeds, tmp_path):
    """`ecm validate` with its stderr a pseudo-terminal: the live display (✓ per stage and
    file, rows, seconds), not plain lines."""
    leader, follower = pty.openpty()
    env = {**os.environ, "COLUMNS": "120", "TERM": "xterm"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "ecm.cli", "validate", "--input", str(feeds)],
        stdout=subprocess.DEVNULL,
        stderr=follower,
        stdin=subprocess.DEVNULL,
        env=env,
    )
    os.close(follower)
    chunks = []
    while True:
        ready, _, _ = select.select([leader], [], [], 600)
        if not ready:
            break
        try:
            chunk = os.read(leader, 65536)
        except OSError:  # the child closed the terminal
            break
        if not chunk:
            break
        chunks.append(chunk)
    proc.wait(timeout=600)
    os.close(leader)
    text = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", b"".join(chunks).decode("utf-8", "replace"))
    assert proc.returncode in (0, 1), text[-2000:]
    assert re.search(r"✓ ingest +[\d,]+ rows read +\d+\.\d s", text), text[-3000:]
    assert re.search(r"✓ validate +\d+\.\d s", text), text[-3000:]
    assert re.search(r"✓ +eligibility\.csv +[\d,]+ rows read, [\d,]+ staged", text)
    assert "ingest: started" not in text  # no plain lines on a terminal


@pytest.mark.parametrize("flag", ["--json", "--quiet"])
def test_demo_prints_only_json_under_json_and_nothing_under_quiet(harness, tmp_path, flag):
    """The demo's own lines (generating, wrote) were plain text on stderr whatever the flags;
    two months, so that the providers' answers between them are said too (or not)."""
    args = ["demo", "--members", "300", "--runs", "2", "--workdir", str(tmp_path), flag]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output[-2000:]
    if flag == "--quiet":
        assert result.stderr == ""
        return
    records = [json.loads(line) for line in result.stderr.splitlines()]  # every line
    for stage in ("generate", "providers"):
        done = [r for r in records if r.get("stage") == stage and r.get("status") == "done"]
        assert len(done) == 1 and done[0]["rows"] > 0 and done[0]["unit"] == "rows written"


def test_the_timer_times_stages_and_adds_up_the_shards_own_steps():
    timer = progress.Timer()
    with timer.step("shards") as part:
        part.count(3, "enrolled members")
    timer.add("shards", [{"events": 1.25, "assign": 0.5}, {"events": 0.25, "assign": 0.0004}])
    assert list(timer.seconds) == ["shards", "shards_events", "shards_assign"]
    assert timer.seconds["shards"] >= 0
    assert (timer.seconds["shards_events"], timer.seconds["shards_assign"]) == (1.5, 0.5)
