"""Seeded synthetic feeds in the input contract (``ecm generate``).

Placeholder: the real generator lands with issue #2.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path


@dataclass(frozen=True)
class GenerationStats:
    """What a generation wrote: rows per feed and the files."""

    rows: dict[str, int] = field(default_factory=dict)
    files: list[Path] = field(default_factory=list)


def generate_feeds(
    out_dir: Path,
    *,
    members: int,
    months: int,
    end: dt.date,
    seed: int = 42,
    fmt: str = "csv",
) -> GenerationStats:
    raise NotImplementedError
