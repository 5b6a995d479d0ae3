"""The scheduled monthly run: its deployment, read from prefect.yaml, and `ecm serve`.

prefect.yaml (the checkout's root; packaged as a resource) is the one source of truth of
the deployment's name, entry point, schedule and parameters: `prefect deploy` reads it for
a work pool, and `ecm serve` builds the same deployment from it and serves it. `ecm serve`
starts a standing Prefect server for that (`prefect server start` on 127.0.0.1, a child
process) unless PREFECT_API_URL names one already, and stops it again on Ctrl-C.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import importlib
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ecm.config.paths import RESOURCE_ROOT
from ecm.errors import InputError

PREFECT_YAML = RESOURCE_ROOT / "prefect.yaml"
DEPLOYMENT = "ecm-monthly"
# The scheduled flow's parameters that name a file or folder: made absolute when served,
# so that the run's process reads the same paths whatever folder it starts in.
PATH_PARAMETERS = ("input_dir", "out_root", "warehouse", "rules_file")
SERVER_LOG = "server.log"
DEFAULT_PORT = 4200


@dataclass(frozen=True)
class DeploymentSpec:
    """One deployment of prefect.yaml, as written there."""

    name: str
    entrypoint: str
    description: str
    tags: list[str]
    schedules: list[dict[str, Any]]
    parameters: dict[str, Any]


def load_spec(path: Path = PREFECT_YAML, name: str = DEPLOYMENT) -> DeploymentSpec:
    """The deployment `name` of the prefect.yaml at `path`."""
    import yaml

    try:
        config = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise InputError(f"Cannot read the deployment file {path}: {exc}") from None
    for entry in config.get("deployments") or []:
        if entry.get("name") == name:
            return DeploymentSpec(
                name=name,
                entrypoint=entry["entrypoint"],
                description=" ".join(str(entry.get("description", "")).split()),
                tags=list(entry.get("tags") or []),
                schedules=[dict(s) for s in entry.get("schedules") or []],
                parameters=dict(entry.get("parameters") or {}),
            )
    raise InputError(f"The deployment file {path} declares no deployment named {name!r}.")


def module_entrypoint(entrypoint: str) -> str:
    """prefect.yaml's `path/to/file.py:function` as the module path `path.to.file.function`
    (the flows are an installed package: a run imports them from any folder)."""
    file, function = entrypoint.rsplit(":", 1)
    return ".".join((*Path(file).with_suffix("").parts, function))


def load_flow(spec: DeploymentSpec):
    """The flow object the deployment's entry point names."""
    module, function = module_entrypoint(spec.entrypoint).rsplit(".", 1)
    return getattr(importlib.import_module(module), function)


def schedules(spec: DeploymentSpec) -> list:
    """prefect.yaml's schedules as Prefect schedule objects (cron, timezone, active …)."""
    from prefect.schedules import Schedule

    return [Schedule(**entry) for entry in spec.schedules]


def next_runs(spec: DeploymentSpec, after: dt.datetime, n: int = 1) -> list[dt.datetime]:
    """The next `n` times the deployment's first cron schedule fires after `after`, as
    Prefect's server computes them."""
    import asyncio

    from prefect.server.schemas.schedules import CronSchedule

    entry = spec.schedules[0]
    schedule = CronSchedule(cron=entry["cron"], timezone=entry.get("timezone"))
    return asyncio.run(schedule.get_dates(n=n, start=after))


def resolved_parameters(
    spec: DeploymentSpec, overrides: dict[str, Any] | None = None, base: Path | None = None
) -> dict[str, Any]:
    """prefect.yaml's parameters with `overrides` (those not None) applied, the paths made
    absolute against `base` (default: the current folder)."""
    parameters = {**spec.parameters}
    parameters.update({k: v for k, v in (overrides or {}).items() if v is not None})
    base = Path(base) if base else Path.cwd()
    for key in PATH_PARAMETERS:
        if parameters.get(key) is not None:
            parameters[key] = str((base / Path(parameters[key]).expanduser()).resolve())
    return parameters


def build_deployment(spec: DeploymentSpec, parameters: dict[str, Any] | None = None):
    """The deployment `ecm serve` serves: prefect.yaml's name, schedules, description and
    tags, its flow by module path, and `parameters` (default: prefect.yaml's)."""
    from prefect.deployments.runner import EntrypointType, RunnerDeployment

    return RunnerDeployment.from_flow(
        load_flow(spec),
        name=spec.name,
        schedules=schedules(spec),
        parameters=spec.parameters if parameters is None else parameters,
        description=spec.description or None,
        tags=spec.tags,
        entrypoint_type=EntrypointType.MODULE_PATH,
    )


def server_environment() -> dict[str, str]:
    """The environment of the Prefect server `ecm serve` starts: this process's, with
    analytics off and Prefect's usage-data notice and calls off, whatever it said."""
    from ecm.run.prefect_env import NO_ANALYTICS

    env = {**os.environ, **NO_ANALYTICS}
    env.pop("PREFECT_API_URL", None)
    return env


def _port_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the server binds
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _healthy(api_url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{api_url}/health", timeout=2) as response:
            return response.status == 200
    except (OSError, urllib.error.URLError):
        return False


def _die_with_parent() -> None:  # pragma: no cover (runs in the child, before exec)
    """The server gets SIGTERM when `ecm serve` dies, however it dies (Linux)."""
    if sys.platform.startswith("linux"):
        import ctypes

        with contextlib.suppress(OSError, AttributeError):
            ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PDEATHSIG


@contextlib.contextmanager
def standing_server(port: int, home: Path, timeout: float = 90.0) -> Iterator[str]:
    """Start `prefect server start --host 127.0.0.1 --port PORT` as a child process (its
    output to HOME/server.log), wait until its API answers, yield the API URL; stop the
    server after (SIGTERM, then SIGKILL after 15 s). The child runs in its own session,
    so that a Ctrl-C in the terminal reaches `ecm serve` only, which stops the server
    once it has stopped serving."""
    if not _port_free(port):
        raise InputError(
            f"Port {port} on 127.0.0.1 is in use. Pass another port (ecm serve --port N), "
            f"or, if a Prefect server listens there, point ecm at it with "
            f"PREFECT_API_URL=http://127.0.0.1:{port}/api."
        )
    home.mkdir(parents=True, exist_ok=True)
    log_path = home / SERVER_LOG
    api_url = f"http://127.0.0.1:{port}/api"
    command = [sys.executable, "-m", "prefect", "--no-prompt", "server", "start"]
    command += ["--host", "127.0.0.1", "--port", str(port), "--analytics-off"]
    with log_path.open("ab") as log_file:
        server = subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=log_file,
            stderr=subprocess.STDOUT,
            env=server_environment(),
            start_new_session=True,
            preexec_fn=_die_with_parent,  # noqa: PLW1509 (only prctl, before exec)
        )
    try:
        deadline = time.monotonic() + timeout
        while not _healthy(api_url):
            if server.poll() is not None:
                raise InputError(
                    f"The Prefect server stopped at start (exit {server.returncode}); its "
                    f"log: {log_path}.\n{_tail(log_path)}"
                )
            if time.monotonic() > deadline:
                raise InputError(
                    f"The Prefect server did not answer within {timeout:.0f} s; its log: "
                    f"{log_path}."
                )
            time.sleep(0.5)
        yield api_url
    finally:
        _stop(server)


def _stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _tail(path: Path, lines: int = 15) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


@contextlib.contextmanager
def _api(url: str) -> Iterator[None]:
    """Point this process, and the processes it starts, at the Prefect API `url`."""
    from prefect.settings import PREFECT_API_URL, temporary_settings

    previous = os.environ.get("PREFECT_API_URL")
    os.environ["PREFECT_API_URL"] = url
    try:
        with temporary_settings(updates={PREFECT_API_URL: url}):
            yield
    finally:
        if previous is None:
            os.environ.pop("PREFECT_API_URL", None)
        else:
            os.environ["PREFECT_API_URL"] = previous


def serve(
    overrides: dict[str, Any] | None = None,
    *,
    port: int = DEFAULT_PORT,
    spec_file: Path = PREFECT_YAML,
    echo=print,
) -> None:
    """Serve the monthly deployment of `spec_file` until interrupted (Ctrl-C, SIGTERM):
    on the Prefect server PREFECT_API_URL names, else on one started here on `port`."""
    from ecm.run.prefect_env import apply_prefect_defaults, configured_api_url

    spec = load_spec(spec_file)
    parameters = resolved_parameters(spec, overrides)
    apply_prefect_defaults()  # before Prefect is imported: no notice, no analytics
    url = configured_api_url()
    with contextlib.ExitStack() as stack:
        if url:
            if not _healthy(url):
                raise InputError(
                    f"PREFECT_API_URL is {url}, and no Prefect server answers there. Start "
                    f"it (prefect server start), or unset PREFECT_API_URL to let ecm serve "
                    f"start one."
                )
            echo(f"Prefect server: {url} (PREFECT_API_URL)")
        else:
            home = Path(os.environ["PREFECT_HOME"])
            echo(f"Starting a Prefect server on 127.0.0.1:{port} (log: {home / SERVER_LOG}) …")
            url = stack.enter_context(standing_server(port, home))
            echo(f"Prefect server: {url}")
        stack.enter_context(_api(url))
        _serve(spec, parameters, url, echo)
    echo("Stopped.")


def _serve(spec: DeploymentSpec, parameters: dict[str, Any], url: str, echo) -> None:
    from ecm.run.prefect_env import quiet_prefect_failure_logs

    quiet_prefect_failure_logs()
    deployment = build_deployment(spec, parameters)
    name = f"{deployment.flow_name}/{deployment.name}"
    for entry in spec.schedules:
        echo(f"Schedule: {entry['cron']} ({entry.get('timezone') or 'UTC'})")
    upcoming = next_runs(spec, dt.datetime.now(dt.UTC))[0]
    echo(f"Next run: {upcoming.isoformat()}")
    for key, value in parameters.items():
        echo(f"  {key} = {value}")
    if not Path(parameters["input_dir"]).is_dir():
        echo(
            f"warning: the input folder {parameters['input_dir']} does not exist (yet); a run "
            f"fails unless it holds the feeds by then."
        )
    _run_until_stopped(
        deployment,
        lambda: echo(
            f"Serving {name}. Start a run now with: DO_NOT_TRACK=1 PREFECT_API_URL={url} "
            f"prefect deployment run '{name}'. Ctrl-C stops."
        ),
    )


def _run_until_stopped(deployment, applied) -> None:
    """Serve `deployment` (what `prefect.serve` does) until Ctrl-C or SIGTERM, calling
    `applied()` once the server has it. Stopping pauses its schedule on the server (no
    runs pile up while nothing serves them); serving again resumes it."""
    import asyncio

    from prefect.runner import Runner

    class _Runner(Runner):
        def handle_sigterm(self, *_args: Any, **_kwargs: Any) -> None:
            raise KeyboardInterrupt  # stop as on Ctrl-C (Prefect's own exits the process)

    runner = _Runner(pause_on_shutdown=True)
    runner.add_deployment(deployment)  # applies it on the server
    applied()
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(runner.start())
