"""Run locks: one `ecm` run at a time per warehouse and per output folder.

A run holds an exclusive lock on a file beside the warehouse (`.NAME.lock` for the
warehouse `NAME`) and one beside its output folder (`.NAME.lock` for `--out NAME`) from
before it writes or copies anything until it ends, on every path. The lock is the
operating system's (`fcntl.flock`): it dies with the process, so a run that was killed
never blocks the next one; its lock file is reused. A run that finds a lock held waits
up to `wait_seconds`, then stops with `RunLockedError` (exit 2), naming the warehouse or
folder and the holder (pid, host, start time: the only things the file records).

The lock file is owner-only (0600, whatever the umask; ecm.run.file_modes) and removed when
the run ends. Removing a lock file is safe only because
every taker checks, once it holds the lock, that the file it locked is still the one at
the path (else it tries again on the new file), and the holder removes it *before* it
unlocks.

Locks are taken in one order (the warehouse, then the output folder), so two runs never
wait for each other.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import errno
import fcntl
import json
import os
import socket
import time
from pathlib import Path

from ecm.errors import OutputError, RunLockedError
from ecm.run.logs import get_logger
from ecm.run.machine import machine_error
from ecm.run.safety import WRITTEN_BY

log = get_logger("locks")

_POLL_SECONDS = 0.25
LOCK_FILE_MODE = 0o600  # owner-only, whatever the umask and [output] group_readable
_MAX_RECORD_BYTES = 4096


def lock_path(target: Path) -> Path:
    """The lock file of a warehouse or output folder: `.NAME.lock` beside it (its folder
    resolved, so two spellings of one path share one lock)."""
    target = _named(target)
    return target.parent / f".{target.name}.lock"


def _named(target: Path) -> Path:
    """`target` absolute, `.` and `..` taken out (`--out .` is the current folder, whose
    lock lies beside it), its folder resolved; its own name kept as given, unless it is a
    symbolic link: a run follows a linked --out or warehouse to its target
    (ecm.run.safety.followed), so the target's lock is the one to take."""
    target = Path(os.path.abspath(target))  # noqa: PTH100
    if target.is_symlink():
        with contextlib.suppress(OSError, RuntimeError):  # a loop: the run refuses it
            target = target.resolve()
    return target.parent.resolve() / target.name


class RunLock:
    """The lock of one warehouse or output folder (`what` names it in messages)."""

    def __init__(self, target: Path, what: str) -> None:
        self.target = _named(target)
        self.what = what
        self.path = lock_path(target)
        self._fd: int | None = None

    @property
    def held(self) -> bool:
        return self._fd is not None

    def acquire(self, wait_seconds: float = 0, deadline: float | None = None) -> None:
        """Take the lock, waiting until `deadline` (time.monotonic(); default now +
        `wait_seconds`) while another run holds it; then RunLockedError."""
        if deadline is None:
            deadline = time.monotonic() + wait_seconds
        said_waiting = False
        while True:
            fd = self._open()
            try:
                while not _try_lock(fd):
                    if time.monotonic() >= deadline:
                        raise RunLockedError(self._refusal(wait_seconds))
                    if not said_waiting:
                        log.info(
                            "another ecm run%s is using the %s %s; waiting up to %g seconds",
                            _holder(self.path),
                            self.what,
                            self.target,
                            wait_seconds,
                        )
                        said_waiting = True
                    time.sleep(max(0.0, min(_POLL_SECONDS, deadline - time.monotonic())))
                if not _same_file(fd, self.path):
                    os.close(fd)  # the holder removed it as we waited: lock the new one
                    continue
                self._check_ours(fd)
                _write_record(fd)
            except BaseException as exc:
                os.close(fd)
                if isinstance(exc, OSError) and (
                    full := machine_error(exc, {self.what: self.target})
                ):
                    raise full from None  # no room for the lock's record: exit 4
                raise
            self._fd = fd
            return

    def release(self) -> None:
        """Remove the lock file, then unlock (in that order: see the module's doc).
        Safe to call twice."""
        fd, self._fd = self._fd, None
        if fd is None:
            return
        try:
            if _same_file(fd, self.path):
                self.path.unlink()
        except OSError:
            pass  # the lock still dies with the descriptor; a left file blocks nobody
        finally:
            os.close(fd)

    def __enter__(self) -> RunLock:
        if not self.held:
            self.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()

    def _open(self) -> int:
        flags = os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.path, flags, LOCK_FILE_MODE)
        except OSError as exc:
            machine = machine_error(exc, {self.what: self.target})
            if machine is not None:  # a read-only or full disk: exit 4, not the lock's fault
                raise machine from None
            if exc.errno == errno.ELOOP:
                reason = "is a symbolic link"
            elif exc.errno == errno.EISDIR:
                reason = "is a folder"
            else:
                reason = f"cannot be opened ({exc.strerror})"
            raise OutputError(
                f"The lock file {self.path} of the {self.what} {self.target} {reason}; ecm "
                f"keeps its run lock there. Move it away, or choose another {self.what}."
            ) from None
        _narrow(fd)
        return fd

    def _check_ours(self, fd: int) -> None:
        """A lock file is empty or a record written by ecm; anything else is someone
        else's file with our name, and is left alone."""
        text = os.pread(fd, _MAX_RECORD_BYTES + 1, 0)
        if text and _record(text) is None:
            raise OutputError(
                f"The file {self.path} was not written by ecm, but ecm keeps the run lock of "
                f"the {self.what} {self.target} under that name; a run will not overwrite "
                f"it. Move it away, or choose another {self.what}."
            )

    def _refusal(self, wait_seconds: float) -> str:
        holder = _holder(self.path)
        if wait_seconds > 0:
            return (
                f"Another ecm run{holder} is still using the {self.what} {self.target} after "
                f"{wait_seconds:g} seconds of waiting, so this run did not start and changed "
                f"nothing; run it again when that run has finished, or pass a longer --wait."
            )
        return (
            f"Another ecm run{holder} is using the {self.what} {self.target}, so this run "
            f"did not start and changed nothing; run it again when that run has finished, "
            f"or pass --wait SECONDS to wait for it."
        )


class RunLocks:
    """The locks of one run: its warehouse's, then its output folder's, both taken
    within one wait (`acquire`) or neither; `release` frees both."""

    def __init__(self, warehouse: Path, out_dir: Path) -> None:
        self.locks = [RunLock(warehouse, "warehouse"), RunLock(out_dir, "output folder")]

    def acquire(self, wait_seconds: float = 0) -> RunLocks:
        deadline = time.monotonic() + wait_seconds
        try:
            for lock in self.locks:
                lock.acquire(wait_seconds, deadline)
        except BaseException:
            self.release()
            raise
        return self

    def release(self) -> None:
        for lock in reversed(self.locks):
            lock.release()

    def __enter__(self) -> RunLocks:
        if not all(lock.held for lock in self.locks):
            self.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


def hold_run_locks(warehouse: Path, out_dir: Path, wait_seconds: float = 0) -> RunLocks:
    """Take a run's locks (waiting up to `wait_seconds` in all) and return them held."""
    return RunLocks(warehouse, out_dir).acquire(wait_seconds)


def check_not_locked(warehouse: Path, out_dir: Path) -> None:
    """Refuse at once (RunLockedError) when another run holds either lock; takes and
    frees them, so a run started meanwhile may find them held for a moment. A lock whose
    folder does not exist yet is held by nobody (and the folder is not made here)."""
    locks = RunLocks(warehouse, out_dir)
    locks.locks = [lock for lock in locks.locks if lock.path.parent.is_dir()]
    locks.acquire(0).release()


def _narrow(fd: int) -> None:
    """A lock file left by an earlier ecm (created 0644) is made 0600 as it is reused."""
    if os.fstat(fd).st_mode & 0o077:
        # another user's file is not ours to change; it records no member data
        with contextlib.suppress(OSError):
            os.fchmod(fd, LOCK_FILE_MODE)


def _try_lock(fd: int) -> bool:
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True


def _same_file(fd: int, path: Path) -> bool:
    try:
        on_disk = path.lstat()
    except FileNotFoundError:
        return False
    held = os.fstat(fd)
    return (held.st_dev, held.st_ino) == (on_disk.st_dev, on_disk.st_ino)


def _write_record(fd: int) -> None:
    record = {
        "written_by": WRITTEN_BY,
        "pid": os.getpid(),
        "host": socket.gethostname(),
        "started": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC"),
    }
    os.ftruncate(fd, 0)
    os.pwrite(fd, json.dumps(record).encode() + b"\n", 0)


def _record(text: bytes) -> dict | None:
    if len(text) > _MAX_RECORD_BYTES:
        return None
    try:
        record = json.loads(text)
    except ValueError:
        return None
    return record if isinstance(record, dict) and record.get("written_by") == WRITTEN_BY else None


def _holder(path: Path) -> str:
    """` (pid P on HOST, started T)` from the lock file, or "" when it says nothing
    (just created, or being written)."""
    try:
        with path.open("rb") as handle:
            record = _record(handle.read(_MAX_RECORD_BYTES + 1))
    except OSError:
        return ""
    if not record:
        return ""
    return f" (pid {record.get('pid')} on {record.get('host')}, started {record.get('started')})"
