"""Signals end a run (outputs.md, Exit codes): SIGINT (Ctrl-C) exits 130, SIGTERM 143,
within seconds, saying "interrupted; nothing was replaced", and every process the run
started (its temporary Prefect server, Dask's nannies and workers) ends with it.

Python runs a signal handler only in the main thread, between bytecodes: a main thread
inside a long call into DuckDB or Polars sees a signal only when the call returns
(minutes, for a large plan). So `watching()`, around a command's whole run:

- installs a handler for both signals that raises `Interrupted` in the main thread, once
  (the clean-up it sets off is not cut short by a second signal);
- points the interpreter's wakeup fd (`signal.set_wakeup_fd`) at a pipe a watcher thread
  reads: the interpreter's C-level handler writes the signal's number there at once,
  whatever the main thread is doing and whichever Python handler is installed (Prefect
  installs its own SIGTERM handler while a flow runs);
- the watcher interrupts every open DuckDB connection (those of `connect`), and again
  every 0.1 s, so that a long query ends and the main thread unwinds: the flow removes
  its copies and releases its locks, the Prefect server and the Dask cluster stop, and
  the command says the sentence, ends what is left of the run's processes
  (`end_run_processes`) and exits 128 + signal;
- if the process has not ended GRACE_SECONDS after the signal (a Polars call nothing can
  interrupt, a clean-up waiting on a server that is gone), the watcher ends the run's
  processes itself, says the sentence and exits 128 + signal. What the run then leaves
  (its copies, lock files) the next run removes (ecm.run.safety.recover_leftovers).

`replacing()` marks the swap of the warehouse and the output folder (renames,
milliseconds): a signal then is honoured right after it, so the two are never left half
swapped, and the sentence says the run's files are in place.
"""

from __future__ import annotations

import contextlib
import os
import select
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from ecm.errors import Interrupted

if TYPE_CHECKING:
    import duckdb

SIGNALS = (signal.SIGINT, signal.SIGTERM)
# The main thread's time to unwind (the flow's clean-up, Prefect reporting the crashed
# run, its server stopping) before the watcher ends the process; then the run's other
# processes get CHILDREN_GRACE_SECONDS to stop before they are killed. Together well
# under outputs.md's "within seconds" (the tests allow 10).
GRACE_SECONDS = 5.0
CHILDREN_GRACE_SECONDS = 2.0
# The longest a swap in progress (`replacing`) holds off the watcher's own exit.
SWAP_GRACE_SECONDS = 30.0
_POLL_SECONDS = 0.1


class _Watch:
    """One command's watch: the signal received, what the run had done by then."""

    def __init__(self, say: Callable[[Interrupted], None], kept: str | None) -> None:
        self.say, self.kept = say, kept
        self.signal_number: int | None = None
        self.raised = False
        self.deferring = 0
        self.pending: int | None = None
        self.replaced = False
        self._reported = False
        self._lock = threading.Lock()

    def note(self, signal_number: int) -> None:
        with self._lock:
            if self.signal_number is None:
                self.signal_number = signal_number

    def claim_report(self) -> bool:
        """True once: whoever says the sentence first (the command or the watcher)."""
        with self._lock:
            first, self._reported = not self._reported, True
            return first


class _Active:
    """The watch of the command running in this process (None: no signal is watched)."""

    watch: _Watch | None = None


_connections: set[duckdb.DuckDBPyConnection] = set()
_connections_lock = threading.Lock()


def _say_plainly(interrupted: Interrupted) -> None:
    sys.stderr.write(f"ecm: {sentence(interrupted)}\n")


@contextlib.contextmanager
def watching(
    say: Callable[[Interrupted], None] = _say_plainly, kept: str | None = None
) -> Iterator[None]:
    """Watch for SIGINT and SIGTERM for the block (a command's run; main thread only).
    `say` reports the interruption (the command's format: a line, or a JSON object) when
    the watcher has to end the process itself; `kept` names what the sentence says is as
    it was ("--out and the warehouse"). After a block that no signal reached, everything
    is as before."""
    if threading.current_thread() is not threading.main_thread() or _Active.watch is not None:
        yield  # signals are the main thread's; a nested block is the outer one's
        return
    watch = _Watch(say, kept)
    read_fd, write_fd = os.pipe()
    os.set_blocking(write_fd, False)  # set_wakeup_fd's requirement
    previous = {number: signal.signal(number, _handler) for number in SIGNALS}
    previous_fd = signal.set_wakeup_fd(write_fd, warn_on_full_buffer=False)
    _Active.watch = watch
    threading.Thread(
        target=_watcher, args=(watch, read_fd), name="ecm-interrupts", daemon=True
    ).start()
    try:
        yield
    finally:
        if watch.signal_number is None:
            signal.set_wakeup_fd(previous_fd)
            for number, handler in previous.items():
                signal.signal(number, handler)
            _Active.watch = None
            os.close(write_fd)  # the watcher reads the end of the pipe and stops
        # else the process is ending: the watcher stays, to end it if nothing else does


def _handler(signal_number: int, _frame: object) -> None:
    watch = _Active.watch
    if watch is None:
        return
    watch.note(signal_number)
    if watch.deferring:
        watch.pending = signal_number  # honoured when the step is done
        return
    if not watch.raised:
        watch.raised = True
        raise Interrupted(signal_number)


def _watcher(watch: _Watch, read_fd: int) -> None:
    """Wait for a signal's byte; then interrupt the queries until the grace is over, and
    end the process if it is still there."""
    try:
        while watch.signal_number is None:
            data = os.read(read_fd, 64)
            if not data:  # the block ended with no signal
                os.close(read_fd)
                return
            numbers = [n for n in data if n in SIGNALS]
            if numbers:
                watch.note(numbers[0])
    except OSError:
        return  # no signal came, and none can be watched for now
    try:
        deadline = time.monotonic() + GRACE_SECONDS
        while time.monotonic() < deadline or (
            watch.deferring and time.monotonic() < deadline + SWAP_GRACE_SECONDS
        ):
            interrupt_queries()
            if select.select([read_fd], [], [], _POLL_SECONDS)[0]:
                os.read(read_fd, 64)  # later signals: the first one decides
    except Exception:  # the watcher must still end the process
        pass
    _end_now(watch)


def _end_now(watch: _Watch) -> None:
    interrupted = Interrupted(watch.signal_number or signal.SIGTERM)
    if watch.claim_report():
        with contextlib.suppress(Exception):
            watch.say(interrupted)
    end_run_processes()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()
    os._exit(interrupted.exit_code)


def received() -> int | None:
    """The signal that reached the current watch, or None."""
    watch = _Active.watch
    return watch.signal_number if watch else None


def interruption(exc: BaseException | None = None) -> Interrupted | None:
    """The interruption a run ended with: the watch's signal, whatever exception the run
    then raised (DuckDB says "Query interrupted", Prefect raises its TerminationSignal or,
    its server gone after a Ctrl-C, an httpx ConnectError); else `exc` itself, or an
    exception in its chain, when it is one (KeyboardInterrupt: SIGINT)."""
    number = received()
    if number is not None:
        interrupted = Interrupted(number)
        interrupted.__context__ = exc  # what the run raised, for its frames to be freed
        return interrupted
    seen: set[int] = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        if isinstance(exc, Interrupted):
            return exc
        if isinstance(exc, KeyboardInterrupt):
            return Interrupted(signal.SIGINT)
        if type(exc).__name__ == "TerminationSignal":  # Prefect's, for SIGTERM
            return Interrupted(getattr(exc, "signal", signal.SIGTERM))
        exc = exc.__cause__ or exc.__context__
    return None


def claim_report() -> bool:
    """Whether the caller is the first to say the interruption (then it must)."""
    watch = _Active.watch
    return watch.claim_report() if watch else True


def sentence(interrupted: Interrupted) -> str:
    """What the command says: outputs.md's sentence, or, when the run had already put
    its files in place (the signal came during or after the swap), that; a command that
    watches no run (`ecm generate`, `ecm serve`) just says it was interrupted."""
    name = signal.Signals(interrupted.signal_number).name
    watch = _Active.watch
    if watch is None:
        return f"interrupted ({name})."
    if watch.replaced:
        return (
            f"interrupted after the run had replaced its files ({name}): --out and the "
            f"warehouse hold the new run, complete."
        )
    kept = f": {watch.kept} are as they were" if watch.kept else ""
    return f"interrupted; nothing was replaced ({name}){kept}."


@contextlib.contextmanager
def replacing() -> Iterator[None]:
    """The swap of the run's files into place: not cut by a signal, which is honoured
    right after it (the files are then in place, and the sentence says so)."""
    with _deferring(replaces=True):
        yield


@contextlib.contextmanager
def _deferring(*, replaces: bool = False) -> Iterator[None]:
    watch = _Active.watch
    if watch is None:
        yield
        return
    watch.deferring += 1
    try:
        yield
    finally:
        watch.deferring -= 1
    watch.replaced = watch.replaced or replaces
    if watch.pending is not None and not watch.deferring and not watch.raised:
        watch.raised = True
        raise Interrupted(watch.pending)


@contextlib.contextmanager
def connect(database: str | Path = ":memory:", **options) -> Iterator[duckdb.DuckDBPyConnection]:
    """A DuckDB connection, closed after the block, whose query a signal interrupts."""
    import duckdb

    with duckdb.connect(str(database), **options) as con:
        with _connections_lock:
            _connections.add(con)
        try:
            yield con
        finally:
            with _connections_lock:
                _connections.discard(con)


def interrupt_queries() -> None:
    """Interrupt the query each open connection of `connect` runs (none: no effect)."""
    with _connections_lock:
        open_now = list(_connections)
    for con in open_now:
        with contextlib.suppress(Exception):
            con.interrupt()


def end_run_processes(grace_seconds: float = CHILDREN_GRACE_SECONDS) -> None:
    """End every process below this one (the run's: Prefect's temporary server, Dask's
    nannies and their workers): all asked at once to stop (SIGTERM), the ones still there
    after `grace_seconds` killed. The tree is read first, so that a worker whose nanny
    stops first is not lost."""
    import psutil

    try:
        tree = psutil.Process().children(recursive=True)
    except psutil.Error:
        return
    for process in tree:
        with contextlib.suppress(psutil.Error):
            process.terminate()
    _gone, alive = psutil.wait_procs(tree, timeout=grace_seconds)
    for process in alive:
        with contextlib.suppress(psutil.Error):
            process.kill()
    psutil.wait_procs(alive, timeout=1)
