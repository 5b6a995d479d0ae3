"""No member data in logs: every log line of a run (the console plain and `--json`, and
Prefect's own records of the flow run, read back from its API) and the run's Prefect
artifacts hold no member id, name or birth date of the input.

The feeds are generated (300 members), their names made distinctive so that a name in a
log line cannot be a word the log uses anyway. Prefect logs at DEBUG throughout, to see
everything it would say."""

import datetime as dt
import logging
import os
import subprocess
import sys

import polars as pl
import pytest

from tests.feeds import generated_with_distinctive_names

AS_OF = dt.date(2026, 10, 31)


@pytest.fixture(scope="module")
def feeds(tmp_path_factory):
    folder = tmp_path_factory.mktemp("logs") / "feeds"
    return generated_with_distinctive_names(folder, end=AS_OF, seed=7)


@pytest.fixture(scope="module")
def secrets(feeds):
    """Every member id, first and last name and birth date of the eligibility feed (and
    its addresses and phone numbers); birth
    dates that are also the run's own dates (the as-of date, the lookback's ends) are
    left out: a log line may name those."""
    eligibility = pl.read_csv(feeds / "eligibility.csv", infer_schema=False)
    run_dates = {AS_OF.isoformat(), "2025-11-01", "2026-10-31"}
    values = set()
    for column in ("member_id", "first_name", "last_name", "birth_date", "address", "phone"):
        values |= {v for v in eligibility[column].drop_nulls().unique() if v}
    values -= run_dates
    assert len(values) > 900  # ids, names and dates of 300 members
    assert "Qzfirst0000" in values and "M00000001" in values
    return values


def _leaks(text: str, secrets: set[str]) -> list[str]:
    return sorted(s for s in secrets if s in text)


def _ecm(*args, home):
    env = {
        **os.environ,
        "PREFECT_HOME": str(home),
        "PREFECT_LOGGING_LEVEL": "DEBUG",
    }
    env.pop("PREFECT_API_URL", None)
    return subprocess.run(
        [sys.executable, "-m", "ecm.cli", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
        env=env,
    )


@pytest.mark.parametrize("extra", [[], ["--json"]], ids=["plain", "json"])
def test_the_console_carries_no_member_data(feeds, secrets, tmp_path, extra):
    proc = _ecm(
        "run",
        "--input",
        feeds,
        "--as-of",
        AS_OF.isoformat(),
        "--out",
        tmp_path / "out" / "2026-10",
        *extra,
        home=tmp_path / "prefect-home",
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "assigned" in proc.stderr  # the run's progress lines were captured
    assert _leaks(proc.stderr, secrets) == []
    assert _leaks(proc.stdout, secrets) == []


def test_prefects_records_of_the_run_carry_no_member_data(harness, feeds, secrets, tmp_path):
    """The flow run's logs as Prefect's API stored them (its flow and task run loggers at
    DEBUG), and its artifacts."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import (
        ArtifactFilter,
        ArtifactFilterFlowRunId,
        LogFilter,
        LogFilterFlowRunId,
    )

    from flows.monthly import monthly

    loggers = [logging.getLogger(n) for n in ("prefect.flow_runs", "prefect.task_runs")]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.DEBUG)
    try:
        state = monthly(
            input_dir=feeds, as_of=AS_OF, out_dir=tmp_path / "out" / "2026-10", return_state=True
        )
    finally:
        for logger, level in zip(loggers, levels, strict=True):
            logger.setLevel(level)
    assert state.is_completed()
    flow_run_id = state.state_details.flow_run_id
    with get_client(sync_client=True) as client:
        logs = client.read_logs(
            log_filter=LogFilter(flow_run_id=LogFilterFlowRunId(any_=[flow_run_id]))
        )
        artifacts = client.read_artifacts(
            artifact_filter=ArtifactFilter(flow_run_id=ArtifactFilterFlowRunId(any_=[flow_run_id]))
        )
        flow_run = client.read_flow_run(flow_run_id)
    assert logs, "Prefect stored no log line of the run: the check would prove nothing"
    text = "\n".join(f"{log.name} {log.message}" for log in logs)
    assert _leaks(text, secrets) == []
    assert len(artifacts) == 2
    stored = "\n".join(f"{a.description}\n{a.data}" for a in artifacts)
    assert _leaks(stored, secrets) == []
    assert _leaks(f"{flow_run.name} {flow_run.parameters}", secrets) == []
