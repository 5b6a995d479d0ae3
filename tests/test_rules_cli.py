"""The rules file at the command line: a bad one stops `ecm run` with exit 2 and a sentence
naming the key, before Prefect starts; the default as-of date is the last day of the
previous month in the rules file's time zone (`ecm run`, `ecm demo`, the scheduled run)."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys

import pytest
from click.testing import CliRunner

import ecm.cli
from ecm.errors import EcmError
from tests.feeds import line, member, write_feed
from tests.rules_file import rules_file_with

# At 05:00 UTC on 1 December 2026 it is still 30 November in Los Angeles (the previous
# month ended 31 October) and already 1 December at UTC+14 (it ended 30 November).
STARTED = dt.datetime(2026, 12, 1, 5, 0, tzinfo=dt.UTC)
EAST = "Pacific/Kiritimati"


@pytest.fixture
def zones_asked(monkeypatch):
    """The time zones `ecm.cli.default_as_of` is asked for (it answers as at STARTED)."""
    asked: list[str] = []
    real = ecm.cli.default_as_of

    def default_as_of(timezone: str = "America/Los_Angeles", now=None):
        asked.append(timezone)
        return real(timezone, now=now or STARTED)

    monkeypatch.setattr(ecm.cli, "default_as_of", default_as_of)
    return asked


def test_run_without_as_of_takes_the_rules_files_time_zone(tmp_path, monkeypatch, zones_asked):
    ran: dict = {}

    def run_flow(input_dir, as_of, *_args, **_kwargs):
        ran["as_of"] = as_of
        raise EcmError("stopped by the test")

    monkeypatch.setattr(ecm.cli, "_run_flow", run_flow)
    rules = rules_file_with(tmp_path, "time.timezone", EAST)
    args = ["run", "--input", tmp_path, "--out", tmp_path / "out", "--rules", rules, "--quiet"]
    result = CliRunner().invoke(ecm.cli.main, [str(a) for a in args])
    assert result.exit_code == 2, result.output
    assert zones_asked == [EAST]
    assert ran["as_of"] == dt.date(2026, 11, 30)


def test_run_with_a_bad_time_zone_and_no_as_of_is_refused(tmp_path, monkeypatch):
    monkeypatch.setattr(ecm.cli, "_run_flow", lambda *_a, **_k: pytest.fail("ran"))
    rules = rules_file_with(tmp_path, "time.timezone", "Mars/Olympus")
    args = ["run", "--input", tmp_path, "--out", tmp_path / "out", "--rules", rules, "--quiet"]
    result = CliRunner().invoke(ecm.cli.main, [str(a) for a in args])
    assert result.exit_code == 2
    assert 'time.timezone = "Mars/Olympus": expected a time zone' in result.output


def test_demo_takes_the_packaged_rules_files_time_zone(tmp_path, monkeypatch, zones_asked):
    import ecm.config.rules
    import ecm.generate

    monkeypatch.setattr(
        ecm.config.rules, "DEFAULT_RULES_FILE", rules_file_with(tmp_path, "time.timezone", EAST)
    )
    ends = []

    def generate_feeds(_folder, *, end, **_kwargs):
        ends.append(end)
        raise EcmError("stopped by the test")

    monkeypatch.setattr(ecm.generate, "generate_feeds", generate_feeds)
    result = CliRunner().invoke(ecm.cli.main, ["demo", "--workdir", str(tmp_path), "--quiet"])
    assert result.exit_code == 2, result.output
    assert zones_asked == [EAST]
    assert ends == [dt.date(2026, 11, 30)]


def test_the_scheduled_run_takes_the_rules_files_time_zone(tmp_path):
    from flows.scheduled import as_of_for_run

    assert as_of_for_run(STARTED) == dt.date(2026, 10, 31)  # the packaged America/Los_Angeles
    east = rules_file_with(tmp_path, "time.timezone", EAST)
    assert as_of_for_run(STARTED, east) == dt.date(2026, 11, 30)


def _ecm_run(tmp_path, rules):
    feeds = tmp_path / "feeds"
    write_feed(feeds, "eligibility", [member("A")])
    write_feed(feeds, "medical_claim", [line("c1", "A", "2026-01-05")])
    return subprocess.run(
        [
            *(sys.executable, "-m", "ecm.cli", "run", "--input", feeds, "--out", tmp_path / "out"),
            *("--as-of", "2026-10-31", "--rules", rules),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        env={**os.environ},
    )


@pytest.mark.parametrize(
    ("dotted", "value", "said"),
    [
        (
            "time.lookback_months",
            0,
            "time.lookback_months = 0: expected a whole number of months from 1 to 60",
        ),
        (
            "criteria.mh_sud",
            "../mh_sud.csv",
            'criteria.mh_sud = "../mh_sud.csv": expected the name',
        ),
    ],
)
def test_ecm_run_refuses_a_bad_rules_file_with_exit_2_and_a_sentence(tmp_path, dotted, value, said):
    rules = rules_file_with(tmp_path / "plan", dotted, value)
    proc = _ecm_run(tmp_path, rules)
    assert proc.returncode == 2, proc.stderr
    assert said in proc.stderr
    assert str(rules) in proc.stderr
    assert "Traceback" not in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1  # one paragraph
    assert not (tmp_path / "out").exists()
