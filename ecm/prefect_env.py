"""Prefect settings for a command-line run, applied before Prefect is imported.

Prefect keeps its state inside the project (`.prefect/` in the checkout, or
`~/.ecm/prefect` when installed elsewhere), sends no analytics, logs quietly, and gives
its temporary local server time to start on slow machines. Any value already set in the
environment wins.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

from ecm.paths import RESOURCE_ROOT


def _default_home() -> Path:
    checkout = RESOURCE_ROOT / ".prefect"
    if os.access(RESOURCE_ROOT, os.W_OK) and (RESOURCE_ROOT / "pyproject.toml").exists():
        return checkout
    return Path.home() / ".ecm" / "prefect"


def apply_prefect_defaults() -> None:
    defaults = {
        "PREFECT_HOME": str(_default_home()),
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
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
