"""The `ecm` command: help for every command, errors as sentences with exit code 2."""

import datetime as dt
import subprocess
import sys

import pytest
from click.testing import CliRunner

from ecm.cli import main, previous_month_end

COMMANDS = ["run", "demo", "generate", "validate", "explain"]


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
