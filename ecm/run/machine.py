"""The machine's faults (outputs.md, Exit codes: 4): a full disk, a folder that cannot be
written, memory run out. They are not bugs in ecm, nor in the input: `machine_error`
recognises them among what a run's libraries raise and tells them as a `MachineError`,
a sentence naming the path or the resource and what to do.

How each library says it (measured):
- Python: OSError with errno ENOSPC / EDQUOT (full), EACCES / EPERM / EROFS (not
  writable), often with the file's name; MemoryError.
- DuckDB: `IOException('IO Error: Could not write file "PATH": No space left on device')`,
  `OutOfMemoryException`; a query after a failed write says only that the transaction
  was aborted, so the chain of exceptions (`__cause__`, `__context__`) is searched too.
- Polars: `ComputeError('... underlying IO error: No space left on device (os error
  28)')` or an OSError without errno (`... (os error 28)`), naming no file; "memory
  allocation of N bytes failed".

The path named is the file's when the error names one: the sentence names the output
folder or the warehouse whose folder holds it (`written`: what the run writes, by what
the user calls it). When no file is named, the disks of what the run writes are named,
the fullest first.
"""

from __future__ import annotations

import errno
import os
import re
import shutil
import tempfile
from collections.abc import Iterator, Mapping
from pathlib import Path

from ecm.errors import EcmError, MachineError

DISK_FULL = frozenset({errno.ENOSPC, errno.EDQUOT})
NOT_WRITABLE = frozenset({errno.EACCES, errno.EPERM, errno.EROFS})
# The libraries' words, for errors that carry no errno (lower case).
_TEXT = {
    "disk_full": ("no space left on device", "disk quota exceeded", "database or disk is full"),
    "not_writable": ("permission denied", "read-only file system", "operation not permitted"),
    "memory": ("out of memory", "memory allocation of", "cannot allocate memory"),
}
_OS_ERROR = re.compile(r"os error (\d+)|\[errno (\d+)\]")
_QUOTED_PATH = re.compile(r'"(/[^"]+)"')

# The option that chooses each thing a run writes, for what to do about its disk.
_OPTION = {"output folder": "--out", "warehouse": "--warehouse"}


def machine_error(
    exc: BaseException, written: Mapping[str, Path] | None = None
) -> MachineError | None:
    """The MachineError telling `exc` (or an exception in its chain) when it is the
    machine's fault, else None (also for an EcmError: already told). `written`: what the
    run writes, by name ("output folder", "warehouse") to its path, to name the one the
    fault concerns."""
    if isinstance(exc, EcmError):
        return None
    for error in _chain(exc):
        kind, code = _kind(error)
        if kind == "memory":
            return MachineError(_memory_sentence(error))
        if kind is not None:
            return MachineError(_disk_sentence(kind, code, _named_path(error), written or {}))
    return None


def _chain(exc: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    stack = [exc]
    while stack:
        error = stack.pop()
        if error is None or id(error) in seen or isinstance(error, EcmError):
            continue
        seen.add(id(error))
        yield error
        stack += [error.__context__, error.__cause__]


def _io_library_error(error: BaseException) -> bool:
    """Whether `error` comes from I/O or a data library, whose text may be trusted to say
    what failed (a ValueError saying "no space left" is not a disk)."""
    import duckdb
    import polars as pl

    return isinstance(error, (OSError, duckdb.Error, pl.exceptions.PolarsError))


def _kind(error: BaseException) -> tuple[str | None, int | None]:
    """("disk_full" | "not_writable" | "memory" | None, the errno when known)."""
    import duckdb

    if isinstance(error, (MemoryError, duckdb.OutOfMemoryException)):
        return "memory", None
    if not _io_library_error(error):
        return None, None
    text = str(error).lower()
    code = error.errno if isinstance(error, OSError) else None
    if code is None and (found := _OS_ERROR.search(text)):
        code = int(found.group(1) or found.group(2))
    kind = None
    if code in DISK_FULL or any(words in text for words in _TEXT["disk_full"]):
        kind, code = "disk_full", code if code in DISK_FULL else errno.ENOSPC
    elif code in NOT_WRITABLE or any(words in text for words in _TEXT["not_writable"]):
        kind = "not_writable"
    elif any(words in text for words in _TEXT["memory"]):
        kind = "memory"
    return kind, code


def _named_path(error: BaseException) -> Path | None:
    """The file the error names: OSError's filename, or a path DuckDB quotes. A copy or a
    move names two (filename, filename2): the second is where it was writing, the file a
    full disk did not take and a folder that cannot be written refused."""
    name = getattr(error, "filename2", None) or getattr(error, "filename", None)
    if isinstance(name, (str, os.PathLike)):
        return Path(name)
    found = _QUOTED_PATH.search(str(error))
    return Path(found.group(1)) if found else None


def _existing(path: Path) -> Path:
    """`path` or its nearest folder that exists."""
    path = Path(os.path.abspath(path))  # noqa: PTH100
    while not path.exists() and path != path.parent:
        path = path.parent
    return path


def _free(path: Path) -> int:
    try:
        return shutil.disk_usage(_existing(path)).free
    except OSError:
        return 0


def _device(path: Path) -> int | None:
    try:
        return _existing(path).stat().st_dev
    except OSError:
        return None


def human_size(n: int) -> str:
    """A number of bytes as a person reads it (`3.6 MiB`), as every machine fault says it."""
    for unit, size in (("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if n >= size:
            return f"{n / size:.1f} {unit}"
    return f"{n} bytes"


def _concerned(path: Path | None, written: Mapping[str, Path]) -> list[tuple[str, Path]]:
    """Which of `written` the fault concerns: those whose folder holds `path`; without a
    path (or outside them all), those on the disk with the least room, one disk only."""
    folders = {name: Path(os.path.abspath(p)).parent for name, p in written.items()}  # noqa: PTH100
    if path is not None:
        path = Path(os.path.abspath(path))  # noqa: PTH100
        holding = [n for n, folder in folders.items() if path.is_relative_to(folder)]
        if holding:
            deepest = max(len(folders[n].parts) for n in holding)
            return [(n, written[n]) for n in holding if len(folders[n].parts) == deepest]
        return []
    if not written:
        return []
    fullest = min(written, key=lambda n: _free(folders[n]))
    device = _device(folders[fullest])
    return [(n, p) for n, p in written.items() if _device(folders[n]) == device]


def _disk_sentence(
    kind: str, code: int | None, path: Path | None, written: Mapping[str, Path]
) -> str:
    concerned = _concerned(path, written)
    reason = os.strerror(code) if code else "not allowed"
    if not concerned:
        return _unplaced_sentence(kind, reason, path)
    names = " and the ".join(f"{name} {p}" for name, p in concerned)
    folder = Path(os.path.abspath(concerned[0][1])).parent  # noqa: PTH100
    options = [_OPTION[name] for name, _p in concerned if name in _OPTION]
    if kind == "disk_full":
        chosen = " and ".join(("an " if o == "--out" else "a ") + o for o in options)
        instead = f", or choose {chosen} on a disk with room" if options else ""
        return (
            f"The disk holding the {names} is full ({human_size(_free(folder))} free; {reason}): "
            f"free space on that disk{instead}, then run again."
        )
    instead = f", or choose another {' and '.join(options)}" if options else ""
    return (
        f"The folder {folder} (of the {names}) cannot be written ({reason}): make it "
        f"writable for this user{instead}, then run again."
    )


def _unplaced_sentence(kind: str, reason: str, path: Path | None) -> str:
    """The sentence for a fault outside what the run was told it writes (a temporary
    folder, an input file), or with no path at all."""
    if kind == "disk_full":
        where = path.parent if path else None
        if where is not None:
            return (
                f"The disk holding {where} is full ({human_size(_free(where))} free; {reason}): "
                f"free space on that disk, then run again."
            )
        return (
            f"A disk the run writes to is full ({reason}): free space on the disks of the "
            f"output folder, the warehouse and the temporary folder "
            f"{tempfile.gettempdir()}, then run again."
        )
    if path is not None:
        return (
            f"{path} cannot be used ({reason}): give this user access to it (read access "
            f"to an input file, write access to a folder ecm writes into), then run again."
        )
    return (
        f"A file or folder the run uses cannot be used ({reason}): check that this user "
        f"can read the input and write the output folder's and the warehouse's folders "
        f"and the temporary folder {tempfile.gettempdir()}, then run again."
    )


def _memory_sentence(error: BaseException) -> str:
    import duckdb

    what = "DuckDB" if isinstance(error, duckdb.Error) else "Python or Polars"
    return (
        f"The run ran out of memory ({what} could not allocate what it needed): lower "
        f"[run] memory_budget_gib in the rules file, so that the members run in more, "
        f"smaller shards, or pass --shards N with a larger N; or free memory on this "
        f"machine; then run again."
    )
