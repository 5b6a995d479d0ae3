"""Logging for the command line and the flow: progress lines, `--quiet`, `--json`.

Everything logs through the `ecm` logger. Messages carry counts, file names and timings,
never member data.
"""

from __future__ import annotations

import json
import logging
import sys
import time

LOGGER_NAME = "ecm"


class _JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        return json.dumps(
            {
                "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)),
                "level": record.levelname.lower(),
                "logger": record.name,
                "message": record.getMessage(),
            }
        )


class _PlainFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        stamp = time.strftime("%H:%M:%S", time.localtime(record.created))
        prefix = "" if record.levelno <= logging.INFO else f"{record.levelname.lower()}: "
        return f"[{stamp}] {prefix}{record.getMessage()}"


def configure_logging(*, quiet: bool = False, as_json: bool = False) -> None:
    """Send the `ecm` logger to stderr: progress at INFO, or warnings only when quiet."""
    logger = logging.getLogger(LOGGER_NAME)
    logger.handlers.clear()
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_JsonFormatter() if as_json else _PlainFormatter())
    logger.addHandler(handler)
    logger.setLevel(logging.WARNING if quiet else logging.INFO)
    logger.propagate = False


def get_logger(name: str) -> logging.Logger:
    return logging.getLogger(f"{LOGGER_NAME}.{name}")
