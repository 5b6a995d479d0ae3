"""The scheduled monthly run (issue #9): the deployment prefect.yaml declares, its as-of
date and month folder, retries on transient I/O only, and one deployed run on a standing
Prefect server this module starts and stops itself."""

from __future__ import annotations

import contextlib
import datetime as dt
import errno
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from ecm.errors import InputError, OutputError, RulesError, SanityGuardError
from tests.conftest import ROOT

LA = ZoneInfo("America/Los_Angeles")
FLOW_DEPLOYMENT = "ecm-scheduled-monthly/ecm-monthly"
PREFECT_SERVER_START = [sys.executable, "-m", "prefect", "--no-prompt", "server", "start"]
PREFECT_SERVER_START += ["--host", "127.0.0.1", "--analytics-off"]


# --- retries: transient I/O errors only ---------------------------------------------


class _Failed:
    """A failed task run's state, as a retry condition sees it."""

    def __init__(self, exc: BaseException) -> None:
        self.exc = exc

    def result(self, raise_on_failure):  # noqa: ARG002 (Prefect's signature)
        return self.exc


@pytest.mark.parametrize(
    ("exc", "retried"),
    [
        (OSError(errno.EIO, "Input/output error"), True),
        (OSError("disk full"), True),
        (TimeoutError("share did not answer"), True),
        (BlockingIOError(errno.EAGAIN, "try again"), True),
        # ecm's own errors: the input, the rules file, a guard, the output folder
        (InputError("bad file"), False),
        (RulesError("bad rules"), False),
        (SanityGuardError("nobody enrolled"), False),
        (OutputError("not ours"), False),
        # a path that is missing, in the way or not allowed: again cannot help
        (FileNotFoundError(errno.ENOENT, "No such file"), False),
        (NotADirectoryError(errno.ENOTDIR, "Not a directory"), False),
        (IsADirectoryError(errno.EISDIR, "Is a directory"), False),
        (FileExistsError(errno.EEXIST, "File exists"), False),
        (PermissionError(errno.EACCES, "Permission denied"), False),
        # a bug
        (ValueError("bug"), False),
    ],
    ids=lambda v: type(v).__name__ if isinstance(v, BaseException) else str(v),
)
def test_the_retry_condition_retries_transient_io_errors_only(exc, retried):
    from flows.retries import retry_on_io_only

    assert retry_on_io_only(None, None, _Failed(exc)) is retried


def test_the_file_tasks_retry_with_growing_delays_and_the_others_do_not():
    from flows import monthly
    from flows.retries import retry_on_io_only

    for io_task in (
        monthly.report_data_quality,
        monthly.run_one_shard,
        monthly.merge_shards,
        monthly.write_outputs,
    ):
        assert io_task.retries >= 2, io_task.name
        assert io_task.retry_condition_fn is retry_on_io_only, io_task.name
        delays = io_task.retry_delay_seconds
        assert isinstance(delays, list) and len(delays) == io_task.retries, io_task.name
        assert delays == sorted(delays) and delays[0] < delays[-1], io_task.name
    # Reading a bad file again cannot help; the contracts' checks compute only; the shard
    # inputs' folder must be new (a second try would find it); the history is DuckDB's.
    for other in (
        monthly.ingest_feeds,
        monthly.validate_contracts,
        monthly.shard_inputs,
        monthly.record_history,
    ):
        assert other.retries == 0, other.name


@pytest.mark.flow
def test_a_transient_os_error_is_retried_and_an_input_error_is_not(harness):
    """A tiny flow with a task retried as the file tasks are (without the delays)."""
    from prefect import flow, task

    from flows.monthly import write_outputs

    calls: list[str] = []

    @task(
        retries=write_outputs.retries,
        retry_delay_seconds=0,
        retry_condition_fn=write_outputs.retry_condition_fn,
    )
    def flaky(first_failure: BaseException) -> str:
        calls.append("try")
        if len(calls) == 1:
            raise first_failure
        return "written"

    @flow(persist_result=False)
    def tiny(first_failure: BaseException) -> str:
        return flaky(first_failure)

    assert tiny(OSError(errno.EIO, "Input/output error")) == "written"
    assert len(calls) == 2
    calls.clear()
    with pytest.raises(InputError):
        tiny(InputError("bad file"))
    assert len(calls) == 1


# --- the deployment, from prefect.yaml ---------------------------------------------


def test_prefect_yaml_declares_the_monthly_deployment():
    import yaml

    from ecm.run.deployment import PREFECT_YAML, load_spec

    assert PREFECT_YAML == ROOT / "prefect.yaml"
    raw = yaml.safe_load(PREFECT_YAML.read_text())
    assert [d["name"] for d in raw["deployments"]] == ["ecm-monthly"]
    spec = load_spec()
    assert spec.entrypoint == "flows/scheduled.py:scheduled_monthly"
    assert (ROOT / "flows" / "scheduled.py").is_file()
    assert spec.schedules == [
        {"cron": "0 6 5 * *", "timezone": "America/Los_Angeles", "active": True}
    ]
    assert spec.parameters == {
        "input_dir": "feeds",
        "out_root": "out",
        "warehouse": None,
        "rules_file": None,
        "shards": None,
        "dask": None,
        "lock_wait_seconds": 3600,
    }


def test_the_served_deployment_is_built_from_prefect_yaml(monkeypatch, tmp_path):
    import inspect

    from prefect.flows import load_flow_from_entrypoint

    from ecm.run.deployment import build_deployment, load_spec, resolved_parameters
    from flows.scheduled import scheduled_monthly

    spec = load_spec()
    monkeypatch.chdir(tmp_path)  # relative paths are the current folder's
    parameters = resolved_parameters(spec, {"shards": 4, "dask": None})
    deployment = build_deployment(spec, parameters)
    assert (deployment.flow_name, deployment.name) == tuple(FLOW_DEPLOYMENT.split("/"))
    # the entry point of prefect.yaml (for `prefect deploy`) and the served one (a module
    # path, so that a run imports it from any folder) name the same flow
    assert deployment.entrypoint == "flows.scheduled.scheduled_monthly"
    from_file = load_flow_from_entrypoint(str(ROOT / spec.entrypoint))
    assert from_file.name == scheduled_monthly.name == deployment.flow_name
    [schedule] = deployment.schedules
    assert schedule.schedule.cron == "0 6 5 * *"
    assert schedule.schedule.timezone == "America/Los_Angeles"
    assert schedule.active is True
    assert deployment.parameters == {
        "input_dir": str(tmp_path / "feeds"),
        "out_root": str(tmp_path / "out"),
        "warehouse": None,
        "rules_file": None,
        "shards": 4,
        "dask": None,
        "lock_wait_seconds": 3600,
    }
    # every parameter of prefect.yaml is one of the flow's, and the flow has no other
    # besides the as-of override
    flow_parameters = set(inspect.signature(scheduled_monthly.fn).parameters)
    assert flow_parameters == {*spec.parameters, "as_of"}


def test_a_run_on_the_5th_of_december_is_as_of_the_30th_of_november(tmp_path):
    from ecm.run.deployment import load_spec, next_runs
    from flows.scheduled import as_of_for_run, month_folder

    spec = load_spec()
    # the schedule fires at 06:00 Los Angeles time on the 5th, as Prefect's server sees it
    fires = next_runs(spec, dt.datetime(2026, 11, 10, tzinfo=dt.UTC), n=3)
    assert [f.astimezone(LA).replace(tzinfo=None) for f in fires] == [
        dt.datetime(2026, 12, 5, 6, 0),
        dt.datetime(2027, 1, 5, 6, 0),
        dt.datetime(2027, 2, 5, 6, 0),
    ]
    assert fires[0].astimezone(dt.UTC) == dt.datetime(2026, 12, 5, 14, 0, tzinfo=dt.UTC)
    december = as_of_for_run(fires[0])
    assert december == dt.date(2026, 11, 30)
    assert month_folder(tmp_path / "out", december) == tmp_path / "out" / "2026-11"
    assert as_of_for_run(fires[1]) == dt.date(2026, 12, 31)
    # Los Angeles time decides: 07:00 UTC on 1 December is still 30 November there
    late = dt.datetime(2026, 12, 1, 7, 0, tzinfo=dt.UTC)
    assert as_of_for_run(late) == dt.date(2026, 10, 31)
    assert as_of_for_run(late + dt.timedelta(hours=1)) == dt.date(2026, 11, 30)


def test_the_scheduled_flow_runs_the_monthly_flow_with_as_of_and_month_folder(
    monkeypatch, tmp_path
):
    """One code path: the scheduled flow hands `ecm run`'s runner the as-of date, the
    month's folder under out_root, and --shards / --dask as given."""
    import flows.launch
    from flows import scheduled

    seen = {}

    def fake_run_flow(input_dir, as_of, out_dir, warehouse, rules_file, **options):
        seen.update(input_dir=input_dir, as_of=as_of, out_dir=out_dir, **options)
        seen.update(warehouse=warehouse, rules_file=rules_file)
        return {"as_of_date": as_of.isoformat()}

    monkeypatch.setattr(flows.launch, "run_monthly", fake_run_flow)
    monkeypatch.setattr(
        scheduled, "_scheduled_start", lambda: dt.datetime(2026, 12, 5, 6, 0, tzinfo=LA)
    )
    result = scheduled.scheduled_monthly.fn(
        input_dir=tmp_path / "feeds", out_root=tmp_path / "out", shards=3, dask="local"
    )
    assert result == {"as_of_date": "2026-11-30"}
    assert seen == {
        "input_dir": tmp_path / "feeds",
        "as_of": dt.date(2026, 11, 30),
        "out_dir": tmp_path / "out" / "2026-11",
        "warehouse": None,
        "rules_file": None,
        "shards": 3,
        "dask": "local",
        "wait": 3600,
    }
    scheduled.scheduled_monthly.fn(
        input_dir=tmp_path / "feeds", out_root=tmp_path / "out", as_of=dt.date(2026, 9, 30)
    )
    assert seen["out_dir"] == tmp_path / "out" / "2026-09"


def test_the_prefect_server_ecm_serve_starts_sends_no_analytics(monkeypatch):
    from ecm.run.deployment import server_environment

    monkeypatch.delenv("DO_NOT_TRACK", raising=False)
    monkeypatch.setenv("PREFECT_SERVER_ANALYTICS_ENABLED", "true")
    monkeypatch.setenv("PREFECT_API_URL", "http://elsewhere:4200/api")
    env = server_environment()
    assert env["DO_NOT_TRACK"] == "1"
    assert env["PREFECT_SERVER_ANALYTICS_ENABLED"] == "false"
    assert "PREFECT_API_URL" not in env


# --- one deployed run on a standing Prefect server ------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _healthy(api_url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{api_url}/health", timeout=2) as response:
            return response.status == 200
    except OSError:
        return False


def _quiet_env(home: Path) -> dict[str, str]:
    env = {
        **os.environ,
        "PREFECT_HOME": str(home),
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "DO_NOT_TRACK": "1",
    }
    env.pop("PREFECT_API_URL", None)
    return env


def _stop_group(process: subprocess.Popen, sig: int = signal.SIGTERM, wait: float = 20) -> None:
    """Signal the process's group (it leads its own session), then kill what is left."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, sig)
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(timeout=wait)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    process.wait(timeout=10)


class _Lines:
    """A subprocess's output lines, read in a thread; wait for one that starts so."""

    def __init__(self, stream) -> None:
        self.lines: list[str] = []
        self._thread = threading.Thread(target=self._read, args=(stream,), daemon=True)
        self._thread.start()

    def _read(self, stream) -> None:
        for line in stream:
            self.lines.append(line)

    def wait_for(self, prefix: str, process: subprocess.Popen, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while not any(line.startswith(prefix) for line in self.lines):
            if process.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"no line {prefix!r} in:\n{self.text}")
            time.sleep(0.2)

    @property
    def text(self) -> str:
        self._thread.join(timeout=0)
        return "".join(self.lines)


@pytest.fixture(scope="module")
def prefect_server(tmp_path_factory):
    """A standing `prefect server start` on a free port with its own PREFECT_HOME; its
    scheduler looks every second. Always stopped after."""
    home = tmp_path_factory.mktemp("prefect-server-home")
    port = _free_port()
    url = f"http://127.0.0.1:{port}/api"
    env = {**_quiet_env(home), "PREFECT_SERVER_SERVICES_SCHEDULER_LOOP_SECONDS": "1"}
    with (home / "server.log").open("wb") as log:
        server = subprocess.Popen(
            [*PREFECT_SERVER_START, "--port", str(port)],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=True,
        )
    try:
        deadline = time.monotonic() + 120
        while not _healthy(url):
            assert server.poll() is None, (home / "server.log").read_text()[-3000:]
            assert time.monotonic() < deadline, "the Prefect server did not start"
            time.sleep(0.5)
        yield {"url": url, "home": home, "env": env}
    finally:
        _stop_group(server)


@pytest.mark.flow
def test_the_deployment_served_from_prefect_yaml_runs_once(prefect_server, tmp_path):
    """`ecm serve` against the standing server (PREFECT_API_URL): it applies the
    deployment of prefect.yaml and serves it; the server schedules the next 5th at 06:00
    Los Angeles time; a run started now writes <out_root>/<YYYY-MM>/ of its as-of month
    with its manifest; Ctrl-C stops serving and pauses the schedule."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import (
        DeploymentFilter,
        DeploymentFilterName,
        FlowRunFilter,
        FlowRunFilterState,
        FlowRunFilterStateType,
    )
    from prefect.client.schemas.objects import StateType
    from prefect.deployments import run_deployment
    from prefect.settings import PREFECT_API_URL, temporary_settings

    from ecm.run.deployment import load_spec, next_runs
    from flows.scheduled import as_of_for_run
    from tests.story import write_story

    url = prefect_server["url"]
    feeds = write_story(tmp_path / "feeds")
    started = time.monotonic()
    serving = subprocess.Popen(
        [sys.executable, "-m", "ecm.cli", "serve", "--input", "feeds", "--out", "out"],
        cwd=tmp_path,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**prefect_server["env"], "PREFECT_API_URL": url},
        start_new_session=True,
    )
    output = _Lines(serving.stdout)
    try:
        output.wait_for("Serving ecm-scheduled-monthly/ecm-monthly", serving, timeout=120)
        with temporary_settings(updates={PREFECT_API_URL: url}):
            run = run_deployment(FLOW_DEPLOYMENT, timeout=300, poll_interval=1)
            assert run.state is not None and run.state.is_completed(), (
                run.state,
                output.text,
            )

            async def scheduled_runs():
                async with get_client() as client:
                    return await client.read_flow_runs(
                        deployment_filter=DeploymentFilter(
                            name=DeploymentFilterName(any_=["ecm-monthly"])
                        ),
                        flow_run_filter=FlowRunFilter(
                            state=FlowRunFilterState(
                                type=FlowRunFilterStateType(any_=[StateType.SCHEDULED])
                            )
                        ),
                    )

            import asyncio

            deadline = time.monotonic() + 30
            while not (upcoming := asyncio.run(scheduled_runs())):
                assert time.monotonic() < deadline, "the server scheduled no run"
                time.sleep(1)
        ran_in = time.monotonic() - started
    finally:
        _stop_group(serving, signal.SIGINT, wait=30)
    assert serving.returncode == 0, output.text
    assert "Stopped." in output.text

    # the schedule fires on the server: its first scheduled run is the next 5th, 06:00 LA
    first = min(r.expected_start_time for r in upcoming)
    assert first == next_runs(load_spec(), dt.datetime.now(dt.UTC))[0]
    assert first.astimezone(LA).day == 5 and first.astimezone(LA).hour == 6

    as_of = as_of_for_run(run.expected_start_time)
    folder = tmp_path / "out" / as_of.strftime("%Y-%m")
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["as_of_date"] == as_of.isoformat()
    assert (tmp_path / "out" / "warehouse.duckdb").is_file()
    summary = json.loads((folder / "summary.json").read_text())
    assert summary["input"]["folder"] == str(feeds.resolve())
    # the run's log, streamed by ecm serve, names the warehouse by its full path
    assert f"warehouse {(tmp_path / 'out' / 'warehouse.duckdb').resolve()}" in output.text
    print(f"served, ran once and stopped in {ran_in:.1f} s")
