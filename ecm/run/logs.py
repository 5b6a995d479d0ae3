"""Logging for the command line and the flow: progress lines, `--quiet`, `--json`.

Everything logs through the `ecm` logger. Messages carry counts, file names and timings,
never member data.
"""

from __future__ import annotations

import json
import logging
import sys
import time

from rich.console import Console
from rich.text import Text

LOGGER_NAME = "ecm"


class _JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        return json.dumps(
            {
                "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)),
                "level": record.levelname.lower(),
                "logger": record.name,
                "message": record.getMessage(),
                # a progress event's fields (ecm.run.progress): stage, rows, seconds, ...
                **getattr(record, "progress", {}),
            }
        )


class _PlainFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        stamp = time.strftime("%H:%M:%S", time.localtime(record.created))
        prefix = "" if record.levelno <= logging.INFO else f"{record.levelname.lower()}: "
        return f"[{stamp}] {prefix}{record.getMessage()}"


class _ConsoleHandler(logging.Handler):
    """Lines printed through a rich console, above its live progress display."""

    def __init__(self, console: Console) -> None:
        super().__init__()
        self.console = console

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self.console.print(Text(self.format(record)), soft_wrap=True)
        except Exception:  # a log line must never fail the run
            self.handleError(record)


def configure_logging(
    *, quiet: bool = False, as_json: bool = False, console: Console | None = None
) -> None:
    """Send the `ecm` logger to stderr: progress at INFO, or warnings only when quiet;
    through `console` (rich) when a live progress display runs there."""
    logger = logging.getLogger(LOGGER_NAME)
    logger.handlers.clear()
    handler = _ConsoleHandler(console) if console else logging.StreamHandler(sys.stderr)
    handler.setFormatter(_JsonFormatter() if as_json else _PlainFormatter())
    logger.addHandler(handler)
    logger.setLevel(logging.WARNING if quiet else logging.INFO)
    logger.propagate = False


def get_logger(name: str) -> logging.Logger:
    return logging.getLogger(f"{LOGGER_NAME}.{name}")
