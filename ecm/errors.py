"""Errors a user can act on: each reads as a sentence naming what was wrong and where."""

from __future__ import annotations


class EcmError(Exception):
    """An error the command line reports as one paragraph, without a traceback."""


class InputError(EcmError):
    """An input file cannot be used: names the file, the column or line, and what was expected."""


class RulesError(EcmError):
    """The rules file is missing a setting or holds a value no method knows."""
