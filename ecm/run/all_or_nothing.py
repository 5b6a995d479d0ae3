"""A run, all or nothing (outputs.md, "Safety of what is already on disk"): the hold a run
keeps on the disk from its start to its end, and the swap that ends it.

`all_or_nothing(...)` sets the run's umask (ecm.run.file_modes), takes its locks
(ecm.run.locks), clears what a run that died left behind, and yields the run's `RunSpace`:
a copy of the warehouse, a work folder and, once writing starts, a temporary output folder
(ecm.run.safety). `RunSpace.swap_in()` checks `--out` once more (a file may have landed
in it while the run worked), then commits the warehouse copy and moves the output into
place. Whatever ends the block otherwise (an error, a refused guard, a signal) removes
the copies and leaves the warehouse and `--out` exactly as they were; a full disk or a
folder that cannot be written is said of the `--out` or warehouse it concerns (exit 4).
The locks are freed and the caller's umask given back on every path.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from ecm.run import interrupts
from ecm.run.file_modes import FileModes, set_umask
from ecm.run.locks import hold_run_locks
from ecm.run.logs import get_logger
from ecm.run.machine import machine_error
from ecm.run.safety import (
    OutputFolder,
    WorkWarehouse,
    check_output_folder,
    recover_leftovers,
    work_folder,
)

log = get_logger("flow")


@dataclass
class RunSpace:
    """Where a run works: the warehouse copy (`warehouse_copy`), the work folder
    (`work_dir`) and the new output folder (`new_output()`), all beside the originals."""

    input_dir: Path
    out_dir: Path
    warehouse: Path
    modes: FileModes
    work_house: WorkWarehouse
    work_dir: Path
    output: OutputFolder | None = field(default=None)

    @property
    def warehouse_copy(self) -> Path:
        return self.work_house.path

    def new_output(self) -> Path:
        """The temporary folder beside `--out` the run writes its files into."""
        self.output = OutputFolder(self.out_dir, self.modes)
        return self.output.path

    def swap_in(self, before_commit: Callable[[], None] | None = None) -> None:
        """A file may have landed in --out while the run worked: check it again, then
        commit the warehouse copy and swap the outputs in. The swap (renames) is never
        cut in the middle by a signal, which is honoured right after it
        (ecm.run.interrupts.replacing); the copy's checkpoint before it (seconds, for a
        large warehouse) may be interrupted, as may `before_commit` (what the run keeps
        beside the warehouse, moved there: nothing the warehouse names until the commit)."""
        if self.output is None:
            raise RuntimeError("swap_in before new_output: the run wrote nothing.")
        self.work_house.checkpoint()
        if before_commit is not None:
            before_commit()
        with interrupts.replacing():
            check_output_folder(self.out_dir, self.input_dir, self.warehouse)
            self.work_house.commit()
            self.output.publish()

    def discard(self) -> None:
        """The run's copies removed: the warehouse and --out stay as they were."""
        self.work_house.discard()
        if self.output is not None:
            self.output.discard()


@contextlib.contextmanager
def all_or_nothing(
    input_dir: Path, out_dir: Path, warehouse: Path, modes: FileModes, wait_seconds: float
) -> Iterator[RunSpace]:
    """Hold the disk for one run (`--out` and `warehouse` already followed, when links,
    to their targets): the umask of `modes`, then both run locks (waiting up to
    `wait_seconds` for another run: RunLockedError), the leftovers of a run that died
    cleared, the warehouse copied and a work folder made; yields the `RunSpace`. The
    block ends with `RunSpace.swap_in()`; any exception out of it discards the copies
    (then clears whatever else of the run's is left, as the next run would; a failure
    there never hides why the run ended) and is raised, a machine fault as MachineError
    naming `--out` or the warehouse."""
    umask = set_umask(modes)
    try:
        locks = hold_run_locks(warehouse, out_dir, wait_seconds)
    except BaseException:
        os.umask(umask)
        raise
    work_house: WorkWarehouse | None = None
    space: RunSpace | None = None
    try:
        leftovers = recover_leftovers(warehouse, out_dir)
        if leftovers:
            log.info(
                "cleaned up after an earlier run that did not finish: %s", leftovers.describe()
            )
        work_house = WorkWarehouse(warehouse, modes)
        with work_folder(warehouse) as work:
            space = RunSpace(input_dir, out_dir, warehouse, modes, work_house, Path(work))
            yield space
    except BaseException as exc:
        # A full disk or a folder that cannot be written, said of the --out or warehouse
        # it concerns (exit 4; told before the copies go, to say how full it was);
        # anything else as raised.
        machine = machine_error(exc, {"output folder": out_dir, "warehouse": warehouse})
        if space is not None:
            space.discard()
        elif work_house is not None:
            work_house.discard()
        with contextlib.suppress(Exception):
            recover_leftovers(warehouse, out_dir)
        if machine is not None:
            raise machine from exc
        raise
    finally:
        try:
            locks.release()
        finally:
            os.umask(umask)
