"""The `ecm` command: help for every command, errors as sentences with exit code 2."""

import datetime as dt
import json
import subprocess
import sys

import pytest
from click.testing import CliRunner

from ecm.cli import main
from ecm.config.dates import previous_month_end

COMMANDS = ["run", "demo", "generate", "validate", "explain", "serve"]


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_has_complete_help(command):
    result = CliRunner().invoke(main, [command, "--help"])
    assert result.exit_code == 0
    assert "Usage:" in result.output
    assert len(result.output.splitlines()) > 4


def test_top_level_help_lists_every_command():
    result = CliRunner().invoke(main, ["--help"])
    for command in COMMANDS:
        assert command in result.output


def test_previous_month_end():
    assert previous_month_end(dt.date(2026, 11, 24)) == dt.date(2026, 10, 31)
    assert previous_month_end(dt.date(2026, 3, 1)) == dt.date(2026, 2, 28)
    assert previous_month_end(dt.date(2026, 1, 15)) == dt.date(2025, 12, 31)


def test_run_on_a_missing_folder_fails_with_a_sentence(tmp_path):
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "ecm.cli",
            "run",
            "--input",
            str(tmp_path / "nope"),
            "--as-of",
            "2026-10-31",
            "--out",
            str(tmp_path / "out"),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert proc.returncode == 2
    assert "does not exist" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert not (tmp_path / "out").exists()


def test_validate_reports_quarantine(tmp_path):
    from tests.feeds import line, member, write_feed

    write_feed(tmp_path, "eligibility", [member("A")])
    write_feed(
        tmp_path,
        "medical_claim",
        [line("c1", "A", "2026-01-05"), line("c2", "nobody", "2026-01-05")],
    )
    result = CliRunner().invoke(main, ["validate", "--input", str(tmp_path)])
    assert result.exit_code == 1
    assert "unknown_member" in result.output


def _ecm(*args, env=None):
    import os

    return subprocess.run(
        [sys.executable, "-m", "ecm.cli", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
        env={**os.environ, **(env or {})},
    )


def test_an_out_folder_holding_other_files_is_refused_with_exit_2(tmp_path):
    from tests.feeds import line, member, write_feed

    feeds = tmp_path / "feeds"
    write_feed(feeds, "eligibility", [member("A")])
    write_feed(feeds, "medical_claim", [line("c1", "A", "2026-01-05")])
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("keep me")
    proc = _ecm("run", "--input", feeds, "--as-of", "2026-10-31", "--out", mine)
    assert proc.returncode == 2
    assert "not an earlier ecm output" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert (mine / "notes.txt").read_text() == "keep me"
    same = _ecm("run", "--input", feeds, "--as-of", "2026-10-31", "--out", feeds, "--json")
    assert same.returncode == 2
    error = json.loads(same.stderr.strip().splitlines()[-1])
    assert error["error"] == "input" and error["exit_code"] == 2
    assert "is the input folder" in error["message"]
    assert sorted(p.name for p in feeds.iterdir()) == ["eligibility.csv", "medical_claim.csv"]


def test_a_refused_run_exits_3_and_prints_its_summary(tmp_path):
    from tests.feeds import line, member, write_feed

    feeds = tmp_path / "feeds"
    write_feed(feeds, "eligibility", [member("A", enrollment_end_date="2021-01-01")])
    write_feed(feeds, "medical_claim", [line("c1", "A", "2026-01-05")])
    out = tmp_path / "out" / "2026-10"
    proc = _ecm("run", "--input", feeds, "--as-of", "2026-10-31", "--out", out)
    assert proc.returncode == 3, proc.stderr
    assert "refused by its sanity guards" in proc.stderr
    assert "0 members are enrolled" in proc.stderr
    assert "Feeds" in proc.stderr and "No files written" in proc.stderr  # the summary
    assert "Traceback" not in proc.stderr
    assert not out.exists()
    assert not (tmp_path / "out" / "warehouse.duckdb").exists()


def test_an_internal_failure_exits_1_without_a_traceback(tmp_path, monkeypatch):
    import ecm.cli

    def broken(*_args, **_kwargs):
        raise ZeroDivisionError("member M123 divided")

    monkeypatch.setattr(ecm.cli, "_run_flow", broken)
    result = CliRunner().invoke(
        main, ["run", "--input", str(tmp_path), "--out", str(tmp_path / "o"), "--json"]
    )
    assert result.exit_code == 1
    error = json.loads(result.output.strip().splitlines()[-1])
    assert error["error"] == "internal"
    assert "ZeroDivisionError" in error["message"]
    assert "M123" not in result.output and "Traceback" not in result.output


def test_no_member_data_in_errors_or_in_what_prefect_keeps(tmp_path):
    """A headerless eligibility file starts with a member's row: the error says the first
    line looks like data without echoing it, and nothing Prefect stores for the failed
    run (its database, result storage, logs) holds the member's id or birth date."""
    from tests.feeds import line, write_feed

    feeds = tmp_path / "feeds"
    feeds.mkdir()
    (feeds / "eligibility.csv").write_text(
        "QX7781234,1961-07-04,2020-01-01,,black or african american\n"
        "QX7781235,1962-08-05,2020-01-01,,white\n"
    )
    write_feed(feeds, "medical_claim", [line("c1", "QX7781234", "2026-01-05")])
    home = tmp_path / "prefect-home"
    for extra in ([], ["--json"]):
        proc = _ecm(
            "run",
            "--input",
            feeds,
            "--as-of",
            "2026-10-31",
            "--out",
            tmp_path / "o",
            *extra,
            env={"PREFECT_HOME": str(home), "PREFECT_LOGGING_LEVEL": "DEBUG"},
        )
        assert proc.returncode == 2, proc.stderr
        assert "looks like a data row" in proc.stderr
        # no traceback, and no leak notices of open connections at exit (with Prefect's
        # own logging turned up to DEBUG, to see everything it would say)
        assert "Traceback" not in proc.stderr and "nanobind" not in proc.stderr
        for secret in ("QX7781234", "1961-07-04", "black"):
            assert secret not in proc.stderr + proc.stdout
    stored = b"".join(p.read_bytes() for p in home.rglob("*") if p.is_file())
    for secret in (b"QX7781234", b"1961-07-04"):
        assert secret not in stored


def test_the_summary_notes_what_the_feeds_held_beyond_the_contract():
    from ecm.deliver.console import input_notes

    notes = input_notes(
        {
            "header_only_feeds": ["homelessness"],
            "unknown_columns": {"medical_claim": ["plan_extra_1", "plan_extra_2"]},
            "column_differences": {"medical_claim": [{"file": "medical_claim/2026-01.csv"}]},
            "ignored_files": ["README.txt"],
        }
    )
    assert notes[0].startswith("the homelessness feed has a header but no rows")
    assert "2 column(s) no contract names (plan_extra_1, plan_extra_2)" in notes[1]
    assert notes[2].startswith("1 file(s) of the medical_claim feed differ")
    assert notes[3] == "1 file(s) matched no feed and were not read: README.txt"


def test_an_input_error_is_one_paragraph_and_nothing_else(tmp_path):
    feeds = tmp_path / "feeds"
    feeds.mkdir()
    (feeds / "eligibility.csv").write_text("member_id,birth_date\n")
    (feeds / "medical_claim.csv").write_text("")
    proc = _ecm(
        "run", "--input", feeds, "--as-of", "2026-10-31", "--out", tmp_path / "o", "--quiet"
    )
    assert proc.returncode == 2
    assert len(proc.stderr.strip().splitlines()) == 1, proc.stderr
    assert proc.stderr.startswith("ecm: ")


def test_under_json_every_line_is_json_and_a_refusal_carries_its_summary(tmp_path):
    from tests.feeds import line, member, write_feed

    feeds = tmp_path / "feeds"
    write_feed(feeds, "eligibility", [member("A", enrollment_end_date="2021-01-01")])
    write_feed(feeds, "medical_claim", [line("c1", "A", "2026-01-05")])
    proc = _ecm("run", "--input", feeds, "--as-of", "2026-10-31", "--out", tmp_path / "o", "--json")
    assert proc.returncode == 3
    records = [json.loads(text) for text in proc.stderr.strip().splitlines()]  # all JSON
    assert proc.stdout == ""
    assert records[-1]["error"] == "sanity_guard" and records[-1]["exit_code"] == 3
    assert records[-1]["summary"]["members"]["enrolled"] == 0


def test_validate_never_changes_an_existing_warehouse(tmp_path):
    house = tmp_path / "warehouse.duckdb"
    house.write_bytes(b"not touched")
    result = CliRunner().invoke(
        main, ["validate", "--input", str(tmp_path), "--warehouse", str(house)]
    )
    assert result.exit_code == 2
    assert "stages only into a new file" in result.output
    assert house.read_bytes() == b"not touched"
