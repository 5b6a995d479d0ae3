"""Errors a user can act on: each reads as a sentence naming what was wrong and where."""

from __future__ import annotations


class EcmError(Exception):
    """An error the command line reports as one paragraph, without a traceback."""


class InputError(EcmError):
    """An input file cannot be used: names the file, the column or line, and what was expected."""


class RulesError(EcmError):
    """The rules file is missing a setting or holds a value no method knows."""


class OutputError(EcmError):
    """An output folder (or warehouse) a run must not replace: says why and what to do."""


class SanityGuardError(EcmError):
    """A sanity guard of the rules file stopped the run; carries the refused run's summary."""

    def __init__(self, message: str, summary: dict | None = None) -> None:
        super().__init__(message)
        self.summary = summary or {}


class MachineError(EcmError):
    """The machine stopped the run (exit 4): the disk is full, a folder cannot be written,
    memory ran out. Names the path or the resource and what to do."""


class Interrupted(BaseException):
    """The run was interrupted by a signal (SIGINT: exit 130, SIGTERM: exit 143). A
    BaseException, like KeyboardInterrupt, so that no `except Exception` swallows it."""

    def __init__(self, signal_number: int) -> None:
        super().__init__(f"interrupted by signal {signal_number}")
        self.signal_number = signal_number

    @property
    def exit_code(self) -> int:
        return 128 + self.signal_number


class RunLockedError(OutputError):
    """Another `ecm` run holds the warehouse or the output folder a run needs (exit 2)."""
