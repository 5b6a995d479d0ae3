"""Which failures of a task Prefect tries again: transient I/O errors only, on the tasks
that read and write files (IO_RETRIES), never the ingest."""

from __future__ import annotations

from typing import Any

from ecm.errors import EcmError
from ecm.run.machine import machine_error

# OSErrors that say a path is missing, in the way or not allowed: trying again cannot help.
_PATH_ERRORS = (
    FileNotFoundError,
    FileExistsError,
    IsADirectoryError,
    NotADirectoryError,
    PermissionError,
)


def retry_on_io_only(_task, _task_run, state) -> bool:
    """Retry a task only when it failed on a transient I/O error (an OSError such as EIO,
    a timeout or a busy share), never on ecm's own errors (bad input, a bad rules file, a
    sanity guard, an output folder it must not replace), a path error or a bug."""
    exc = state.result(raise_on_failure=False)
    return (
        isinstance(exc, OSError)
        and not isinstance(exc, (EcmError, *_PATH_ERRORS))
        and machine_error(exc) is None  # a full or read-only disk stays so for a while
    )


# The tasks that read and write files retry transient I/O errors, after 2, 10 and 30 s.
IO_RETRIES: dict[str, Any] = {
    "retries": 3,
    "retry_delay_seconds": [2, 10, 30],
    "retry_condition_fn": retry_on_io_only,
}
