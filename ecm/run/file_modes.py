"""The modes of what ecm writes (outputs.md, "Safety of what is already on disk").

Everything a run writes is health information: files 0600 and folders 0700, or 0640 and
0750 with the rules file's `[output] group_readable = true`; never readable by others,
whatever the umask. Two layers make it so:

- `narrow_umask` / `set_umask`: the process umask for the run (0o077, or 0o027), set as
  soon as the rules are read and given back when the run ends, so that every writer
  creates its files narrow: Python, DuckDB (the warehouse copy, its `.wal`, its spill
  folder), Polars, pyarrow, and the processes the run starts (a local Dask cluster's
  workers inherit it);
- `restrict`: the exact modes, set on what a run publishes (the output folder, the
  warehouse) before it is moved into place, whatever made them (a copied file keeps its
  source's mode, a library may chmod, a file written over keeps its old mode).

Lock files (ecm.run.locks) hold no member data and are always 0600.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ecm.config.rules import Rules


@dataclass(frozen=True)
class FileModes:
    """The mode of every file and folder ecm writes."""

    file: int
    folder: int

    @property
    def umask(self) -> int:
        """The umask that creates files and folders with these modes (or narrower)."""
        return 0o777 & ~self.folder


OWNER_ONLY = FileModes(file=0o600, folder=0o700)
GROUP_READABLE = FileModes(file=0o640, folder=0o750)


def modes_of(rules: Rules) -> FileModes:
    """The modes the rules file asks for: `[output] group_readable`."""
    return GROUP_READABLE if rules.setting("output.group_readable") else OWNER_ONLY


def set_umask(modes: FileModes) -> int:
    """Set the process umask for `modes`; returns the umask it replaced, for the caller
    to give back (`os.umask(previous)`) when its run ends. Prefer `narrow_umask`."""
    return os.umask(modes.umask)


@contextmanager
def narrow_umask(modes: FileModes) -> Iterator[None]:
    """The process umask for `modes` inside the block, the caller's again after it."""
    previous = set_umask(modes)
    try:
        yield
    finally:
        os.umask(previous)


def restrict(path: Path, modes: FileModes) -> None:
    """Give `path` (and, for a folder, everything under it) exactly `modes`. Symbolic
    links are neither followed nor changed (ecm writes none)."""
    path = Path(path)
    if path.is_symlink():
        return
    if not path.is_dir():
        path.chmod(modes.file)
        return
    for folder, folders, files in os.walk(path):
        Path(folder).chmod(modes.folder)
        for name in files:
            file = Path(folder, name)
            if not file.is_symlink():
                file.chmod(modes.file)
        # os.walk lists a link to a folder among the folders but does not enter it
        folders[:] = [name for name in folders if not Path(folder, name).is_symlink()]
