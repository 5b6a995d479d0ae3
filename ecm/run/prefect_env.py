"""Prefect settings for a command-line run, applied before Prefect is imported.

Prefect keeps its state inside the project (`.prefect/` in the checkout, or
`~/.ecm/prefect` when installed elsewhere), sends no analytics, logs quietly, and gives
its temporary local server time to start on slow machines. Any value already set in the
environment wins.

`ecm run` starts the run's temporary Prefect server itself: `prefect_server_for_run`
starts one (Prefect's own `SubprocessASGIServer`, the one a flow run starts by itself
when no server is configured), points this process and every worker process spawned
after it at that server through PREFECT_API_URL, and stops it when the run ends, on
every path (an interrupted run too: ecm.run.interrupts). A run on Dask so pays Prefect's
start-up once (each Dask worker would otherwise start a temporary server of its own),
and no run leaves its server behind.
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Iterator
from pathlib import Path

from ecm.config.paths import RESOURCE_ROOT


def _default_home() -> Path:
    checkout = RESOURCE_ROOT / ".prefect"
    if os.access(RESOURCE_ROOT, os.W_OK) and (RESOURCE_ROOT / "pyproject.toml").exists():
        return checkout
    return Path.home() / ".ecm" / "prefect"


# No analytics, from the server (PREFECT_SERVER_ANALYTICS_ENABLED) nor the client
# (DO_NOT_TRACK): without DO_NOT_TRACK, the first `import prefect` in a terminal (a fresh
# PREFECT_HOME) prints Prefect's usage-data notice, whatever the server setting says.
NO_ANALYTICS = {
    "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
    "DO_NOT_TRACK": "1",
}


def apply_prefect_defaults() -> None:
    defaults = {
        "PREFECT_HOME": str(_default_home()),
        **NO_ANALYTICS,
        "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "90",
        # The command reports a failed run itself, as one paragraph; Prefect's own
        # failure tracebacks would bury it.
        "PREFECT_LOGGING_LEVEL": "CRITICAL",
        "PREFECT_UI_ENABLED": "false",
    }
    for key, value in defaults.items():
        os.environ.setdefault(key, value)


class _NoFailureTracebacks(logging.Filter):
    """Drop Prefect's own report of a failed flow or task run: `ecm` reports every failure
    itself, as one paragraph, and a library's message in a traceback may quote data."""

    def filter(self, record: logging.LogRecord) -> bool:
        return record.exc_info is None and record.levelno < logging.ERROR


def quiet_prefect_failure_logs() -> None:
    """Install the filter on the loggers Prefect reports run failures on (console and the
    API's stored logs alike), whatever PREFECT_LOGGING_LEVEL says."""
    for name in ("prefect.flow_runs", "prefect.task_runs", "prefect.engine"):
        logger = logging.getLogger(name)
        if not any(isinstance(f, _NoFailureTracebacks) for f in logger.filters):
            logger.addFilter(_NoFailureTracebacks())


# What a Dask worker's environment must say, whatever the client's says: no analytics,
# and Prefect's failure reports (which may quote data) off.
WORKER_ENVIRONMENT = {
    **NO_ANALYTICS,
    "PREFECT_LOGGING_LEVEL": "CRITICAL",
    "PREFECT_UI_ENABLED": "false",
}


def configured_api_url() -> str | None:
    """The Prefect API this process would talk to (PREFECT_API_URL in the environment or
    in Prefect's active settings, e.g. inside `prefect_test_harness`), or None."""
    from prefect.settings import get_current_settings

    url = get_current_settings().api.url
    return str(url) if url else None


@contextlib.contextmanager
def prefect_server_for_run() -> Iterator[str]:
    """Yield the Prefect API URL the run's processes share: the configured one when
    PREFECT_API_URL is set; else one temporary local server, started here for the run,
    stopped after it. PREFECT_API_URL is set for this process (Prefect's settings and the
    environment, so that processes spawned inside the block inherit it) and restored
    after."""
    url = configured_api_url()
    if url:
        yield url
        return
    from prefect.server.api.server import SubprocessASGIServer
    from prefect.settings import PREFECT_API_URL, temporary_settings

    server = SubprocessASGIServer()  # the instance Prefect's own engine would use
    started_here = not server.running
    server.start()
    previous = os.environ.get("PREFECT_API_URL")
    os.environ["PREFECT_API_URL"] = server.api_url
    try:
        with temporary_settings(updates={PREFECT_API_URL: server.api_url}):
            yield server.api_url
    finally:
        if previous is None:
            os.environ.pop("PREFECT_API_URL", None)
        else:
            os.environ["PREFECT_API_URL"] = previous
        if started_here:
            server.stop()
