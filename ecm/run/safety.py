"""Safety of what is already on disk: the output folder and the warehouse.

- `check_output_folder`: `--out` is replaced only when it is absent, empty, or an earlier
  `ecm` output (its `manifest.json` says `written_by = "ecm"` and lists every file in the
  folder). It must not be, hold or lie inside the input folder or the warehouse file.
- `OutputFolder`: a run writes into a temporary folder beside `--out`; `publish` moves it
  into place and removes the earlier output's files, only those its manifest lists.
- `followed`: a `--out` or warehouse that is a symbolic link stands for its target, which
  everything above checks and replaces; the link itself is never touched.
- `WorkWarehouse`: a run works on a copy of the warehouse beside it; `commit` swaps the
  copy in, so a failed run leaves the warehouse exactly as it was.
- `work_folder`: the run's temporary work folder beside the warehouse.
- `recover_leftovers`: what a run that was killed left of the above, removed (or, for an
  output swap it did not finish, put back) by the next run, which holds the run locks
  (`ecm.run.locks`) and so knows that no live run owns them.

Nothing here ever deletes a file `ecm` did not write: the leftovers are recognised by
the exact names this module gives them.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
import uuid
from dataclasses import astuple, dataclass
from pathlib import Path

import duckdb

from ecm.errors import InputError, OutputError
from ecm.run.file_modes import OWNER_ONLY, FileModes, restrict

MANIFEST = "manifest.json"
WRITTEN_BY = "ecm"
# Files `ecm` may hold in an output folder that a manifest does not list (none today).
_UNLISTED_OK = frozenset({MANIFEST})

# The names of what a run creates beside the warehouse `W` and the output folder `O`
# (each ends in a random part), and nothing else matches them (`recover_leftovers`):
#   .W.run-<12 hex>.duckdb (+ .wal, and DuckDB's spill folder .tmp)  the warehouse copy
#   .W.work-<8 of a-z0-9_>                                           the work folder
#   .O.tmp-<8 of a-z0-9_>                                            the new output
#   .O.old-<8 hex>                                                   the earlier output, moved aside
_RUN, _WORK, _TMP, _OLD = ".run-", ".work-", ".tmp-", ".old-"
_TEMPFILE_NAME = "[a-z0-9_]{8}"  # tempfile's random part: 8 of "a-z0-9_"


def followed(path: Path, what: str) -> Path:
    """`path`, or its target when it is a symbolic link (outputs.md: a `--out` or
    `--warehouse` that is a link is followed, and the link is never replaced): a run
    checks, locks, copies and replaces the target, and the link keeps pointing at it.
    A link whose target does not exist is refused (OutputError): it is most often a disk
    or share that is not mounted, and writing there would put the files where the link's
    owner did not mean. `what` names the path in the sentence ("output folder")."""
    path = Path(path)
    if not path.is_symlink():
        return path
    try:
        target = path.resolve()  # every link of a chain
    except (OSError, RuntimeError):  # a loop: RuntimeError before Python 3.13
        raise OutputError(
            f"The {what} {path} is a symbolic link that leads back to itself; point it at "
            f"a real {'folder' if 'folder' in what else 'file'} or pass that path instead."
        ) from None
    if not target.exists():
        raise OutputError(
            f"The {what} {path} is a symbolic link to {target}, which does not exist (a disk "
            f"or share not mounted?); ecm writes through a link only to a target that "
            f"exists. Create {target} (an empty folder will do) or pass another path."
            if "folder" in what
            else f"The {what} {path} is a symbolic link to {target}, which does not exist "
            f"(a disk or share not mounted?); ecm writes through a link only to a warehouse "
            f"that exists. Mount it, or pass --warehouse with the path of a new file to "
            f"start a new warehouse."
        )
    return target


def default_warehouse(out_dir: Path) -> Path:
    """`warehouse.duckdb` in the folder that holds the output folder (outputs.md)."""
    return Path(out_dir).resolve().parent / "warehouse.duckdb"


def _inside(path: Path, folder: Path) -> bool:
    return path == folder or path.is_relative_to(folder)


def _files_under(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if not p.is_dir())


def earlier_output_files(folder: Path) -> set[str] | None:
    """The files an earlier `ecm` run wrote in `folder` (its manifest's list and the
    manifest itself), or None when `folder` holds no manifest written by `ecm`."""
    try:
        manifest = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(manifest, dict):
        return None
    # Manifests before "written_by" (ecm 0.1.0's first runs) carry these keys instead.
    older = {"ecm_version", "files", "inputs", "reference"} <= manifest.keys()
    if manifest.get("written_by") != WRITTEN_BY and not older:
        return None
    listed = {str(f.get("path")) for f in manifest.get("files", []) if isinstance(f, dict)}
    return listed | _UNLISTED_OK


def check_output_folder(out_dir: Path, input_dir: Path | None, warehouse: Path) -> None:
    """Refuse an `--out` that a run must not replace (outputs.md, "Safety of what is
    already on disk"); raises OutputError with the reason. A link is judged by its
    target (`followed`). `input_dir` None: a command that reads no feed folder (`ecm
    quarterly`), the warehouse alone."""
    out_dir = followed(out_dir, "output folder")
    out, house = Path(out_dir).resolve(), Path(warehouse).resolve()
    inputs = Path(input_dir).resolve() if input_dir is not None else None
    if inputs is not None and _inside(out, inputs):
        where = "is the input folder" if out == inputs else f"lies inside the input folder {inputs}"
        raise OutputError(
            f"The output folder {out} {where}; a run never writes among its feeds. "
            f"Choose an output folder outside {inputs}."
        )
    if inputs is not None and inputs.is_relative_to(out):
        raise OutputError(
            f"The output folder {out} holds the input folder {inputs}; replacing it would "
            f"delete the feeds. Choose an output folder that does not contain the input."
        )
    if _inside(house, out) or out.is_relative_to(house):
        raise OutputError(
            f"The output folder {out} holds the warehouse {house} (or is it); replacing it "
            f"would delete the warehouse. Choose another output folder or --warehouse."
        )
    if not out.exists():
        return
    if not out.is_dir():
        raise OutputError(
            f"The output path {out} is a file, not a folder; ecm replaces only a folder it "
            f"wrote itself. Choose a new or empty folder."
        )
    present = _files_under(out)
    if not present and not any(out.iterdir()):
        return
    ours = earlier_output_files(out)
    if ours is None:
        raise OutputError(
            f"The output folder {out} is not empty and is not an earlier ecm output (it has "
            f"no manifest.json written by ecm), so a run will not replace it. Choose a new "
            f"or empty folder."
        )
    foreign = [f for f in present if f not in ours]
    if foreign:
        shown = ", ".join(foreign[:3]) + (
            f" and {len(foreign) - 3} more" if len(foreign) > 3 else ""
        )
        raise OutputError(
            f"The output folder {out} is an earlier ecm output but also holds files ecm did "
            f"not write ({shown}); a run will not delete them. Move them elsewhere, or choose "
            f"another output folder."
        )


class OutputFolder:
    """A run's output, written into a temporary folder beside `target` and moved into
    place by `publish()` with `modes` (ecm.run.file_modes); `discard()` removes the temporary
    folder (only ours)."""

    def __init__(self, target: Path, modes: FileModes = OWNER_ONLY) -> None:
        self.target = followed(target, "output folder")  # a link stays; its target is replaced
        self.modes = modes
        self.target.parent.mkdir(parents=True, exist_ok=True)
        self.path = Path(
            tempfile.mkdtemp(prefix=f".{self.target.name}{_TMP}", dir=self.target.parent)
        )
        self.path.chmod(modes.folder)  # mkdtemp makes 0700; group_readable makes 0750

    def discard(self) -> None:
        shutil.rmtree(self.path, ignore_errors=True)

    def publish(self) -> None:
        """Replace `target` with the new output. An earlier output is moved aside and
        only the files its manifest lists are removed (the manifest last); anything else
        stays (and the moved-aside folder with it). A run killed between the two moves
        leaves no `target`: the next run puts the earlier output back
        (`recover_leftovers`)."""
        restrict(self.path, self.modes)
        previous = None
        if self.target.exists():
            previous = self.target.with_name(f".{self.target.name}{_OLD}{uuid.uuid4().hex[:8]}")
            self.target.replace(previous)
        self.path.replace(self.target)
        if previous is not None:
            _remove_earlier_output(previous)


def _remove_earlier_output(folder: Path) -> None:
    ours = earlier_output_files(folder) or set()
    # The manifest last: a removal cut short leaves it, so the next run can finish it.
    for name in sorted(ours, key=lambda n: (n == MANIFEST, n)):
        path = folder / name
        if path.is_file() and _inside(path.resolve(), folder.resolve()):
            path.unlink()
    for sub in sorted((p for p in folder.rglob("*") if p.is_dir()), reverse=True):
        if not any(sub.iterdir()):
            sub.rmdir()
    if not any(folder.iterdir()):
        folder.rmdir()


def _wal(path: Path) -> Path:
    return path.with_name(path.name + ".wal")


def _checkpoint(path: Path) -> None:
    """Fold a DuckDB file's write-ahead log into it, so the file alone is the database."""
    if _wal(path).exists():
        with duckdb.connect(str(path)) as con:
            con.execute("checkpoint")


class WorkWarehouse:
    """A copy of the warehouse beside it for one run: every write of the run goes to
    `path`; `commit()` swaps it in whole with `modes` (ecm.run.file_modes), `discard()`
    removes it and leaves the warehouse as it was."""

    def __init__(self, warehouse: Path, modes: FileModes = OWNER_ONLY) -> None:
        self.warehouse = followed(warehouse, "warehouse")  # a link stays; its target is replaced
        self.modes = modes
        self.warehouse.parent.mkdir(parents=True, exist_ok=True)
        self.path = self.warehouse.with_name(
            f".{self.warehouse.name}{_RUN}{uuid.uuid4().hex[:12]}.duckdb"
        )
        if self.warehouse.exists():
            check_warehouse(self.warehouse)
            _checkpoint(self.warehouse)
            try:
                shutil.copyfile(self.warehouse, self.path)
            except BaseException:  # a full disk, a signal: no half copy left behind
                self.discard()
                raise

    def checkpoint(self) -> None:
        """Make the copy one file (its write-ahead log folded in), ready to be swapped in."""
        _checkpoint(self.path)

    def commit(self) -> None:
        self.checkpoint()  # nothing to do after `checkpoint()`: then a rename alone
        restrict(self.path, self.modes)
        self.path.replace(self.warehouse)

    def discard(self) -> None:
        for path in (self.path, _wal(self.path)):
            path.unlink(missing_ok=True)


def work_folder(warehouse: Path) -> tempfile.TemporaryDirectory:
    """The run's temporary work folder beside the warehouse, `.NAME.work-*` for the
    warehouse NAME (named after it, so that the warehouse's run lock proves a left one
    stale), removed when the run ends."""
    warehouse = Path(warehouse)
    # A clean-up that fails (a shard still writing when a signal ended the run) leaves
    # the folder to the next run rather than hiding why this one ended.
    return tempfile.TemporaryDirectory(
        prefix=f".{warehouse.name}{_WORK}", dir=warehouse.parent, ignore_cleanup_errors=True
    )


@dataclass
class Leftovers:
    """What `recover_leftovers` found of runs that did not finish."""

    warehouse_copies: int = 0
    work_folders: int = 0
    output_folders: int = 0
    earlier_outputs_finished: int = 0
    earlier_output_restored: bool = False

    def __bool__(self) -> bool:
        return any(astuple(self))

    def describe(self) -> str:
        """One clause of counts, e.g. `removed 2 warehouse copy files and 1 work folder`."""

        def counted(n: int, what: str) -> str:
            return f"{n} {what}{'' if n == 1 else 's'}"

        removed = [
            counted(n, what)
            for n, what in (
                (self.warehouse_copies, "warehouse copy file"),
                (self.work_folders, "work folder"),
                (self.output_folders, "unpublished output folder"),
            )
            if n
        ]
        parts = [f"removed {', '.join(removed)}"] if removed else []
        if self.earlier_outputs_finished:
            parts.append(
                f"finished deleting {counted(self.earlier_outputs_finished, 'replaced output')}"
            )
        if self.earlier_output_restored:
            parts.append("put the earlier output back in place (its replacement was cut short)")
        return "; ".join(parts)


def _matching(folder: Path, pattern: str) -> list[os.DirEntry]:
    if not folder.is_dir():
        return []
    regex = re.compile(pattern)
    with os.scandir(folder) as entries:
        return sorted((e for e in entries if regex.fullmatch(e.name)), key=lambda e: e.name)


def recover_leftovers(warehouse: Path, out_dir: Path) -> Leftovers:
    """Clean up after runs on this warehouse and output folder that died (killed, or
    the machine stopped) before they could: call it only while holding both run locks
    (`ecm.run.locks`), so that what it finds belongs to no live run.

    - beside the warehouse: its copies `.W.run-*.duckdb` (with their `.wal` and DuckDB
      spill folder) and work folders `.W.work-*` are removed;
    - beside the output folder: unpublished outputs `.O.tmp-*` are removed; an earlier
      output moved aside (`.O.old-*`, holding its ecm manifest) is put back when the
      output folder is absent (the run died between the two moves of `publish`),
      otherwise the files its manifest lists are removed, as `publish` would have.

    Only names made by this module match (a random part of the exact length and
    alphabet, a folder or a file as made), and a moved-aside folder is touched only
    through its own manifest: nothing else is ever deleted."""
    warehouse, out_dir = Path(warehouse), Path(out_dir)
    found = Leftovers()
    w, o = re.escape(f".{warehouse.name}"), re.escape(f".{out_dir.name}")
    copy = rf"{w}{re.escape(_RUN)}[0-9a-f]{{12}}\.duckdb"
    for entry in _matching(warehouse.parent, rf"{copy}(\.wal)?"):
        if entry.is_file(follow_symlinks=False):
            Path(entry.path).unlink()
            found.warehouse_copies += 1
    for entry in _matching(warehouse.parent, rf"{copy}\.tmp"):
        if entry.is_dir(follow_symlinks=False):
            shutil.rmtree(entry.path)
    for entry in _matching(warehouse.parent, rf"{w}{re.escape(_WORK)}{_TEMPFILE_NAME}"):
        if entry.is_dir(follow_symlinks=False):
            shutil.rmtree(entry.path)
            found.work_folders += 1
    for entry in _matching(out_dir.parent, rf"{o}{re.escape(_TMP)}{_TEMPFILE_NAME}"):
        if entry.is_dir(follow_symlinks=False):
            shutil.rmtree(entry.path)
            found.output_folders += 1
    moved_aside = [
        Path(e.path)
        for e in _matching(out_dir.parent, rf"{o}{re.escape(_OLD)}[0-9a-f]{{8}}")
        if e.is_dir(follow_symlinks=False) and earlier_output_files(Path(e.path)) is not None
    ]
    if moved_aside and out_dir.is_symlink() and not out_dir.exists():
        moved_aside = []  # a dangling link where the output was: not ours, touch nothing
    elif moved_aside and not out_dir.exists():
        newest = max(moved_aside, key=lambda p: (p / MANIFEST).stat().st_mtime)
        newest.replace(out_dir)
        moved_aside.remove(newest)
        found.earlier_output_restored = True
    for folder in moved_aside:
        _remove_earlier_output(folder)
        found.earlier_outputs_finished += 1
    return found


_DUCKDB_MAGIC_OFFSET = 8
_DUCKDB_MAGIC = b"DUCK"


def warehouse_to_read(warehouse: Path | None, out_dir: Path, needed_for: str) -> Path:
    """The warehouse a command that only reads it takes (`ecm quarterly`, `ecm diff`):
    `--warehouse` (default beside `out_dir`), followed when a link, which must exist and
    pass `check_warehouse`; else InputError (exit 2) saying it is `needed_for` what."""
    warehouse = followed(Path(warehouse) if warehouse else default_warehouse(out_dir), "warehouse")
    if not warehouse.is_file():
        raise InputError(
            f"There is no warehouse {warehouse}; {needed_for} the warehouse the monthly runs "
            f"wrote. Pass --warehouse with its path."
        )
    check_warehouse(warehouse)
    return warehouse


def check_warehouse(path: Path) -> None:
    """Refuse (InputError, exit 2) a `--warehouse` a run must not take: a folder, a file
    that is not a DuckDB database, a DuckDB database this duckdb cannot open (another
    storage version, open in another program) or another application's database. An
    absent file is a new warehouse.

    An ecm warehouse is recognised by its tables (docs/DECISIONS.md): an empty DuckDB
    file (no table, no view) is a new one; otherwise it holds the catalog of staged
    files every ingest writes or the run history every run writes (`ECM_TABLES`), beside
    which tables of the plan's own are allowed. A database holding neither is another
    application's, and a run never writes into it."""
    from ecm.run.machine import machine_error

    path = Path(path)
    if not path.exists():
        return
    if path.is_dir():
        raise InputError(f"The warehouse {path} is a folder; expected a DuckDB file.")
    _check_is_duckdb(path)
    try:
        with duckdb.connect(str(path), read_only=True) as con:
            names = [
                name
                for (name,) in con.execute(
                    "select table_name from duckdb_tables() "
                    "where database_name = current_database() "
                    "union all select view_name from duckdb_views() "
                    "where database_name = current_database() and not internal"
                ).fetchall()
            ]
    except duckdb.Error as exc:
        if (machine := machine_error(exc, {"warehouse": path})) is not None:
            raise machine from None
        raise InputError(_unopenable(path, exc)) from None
    if names and not ECM_TABLES & set(names):
        shown = sorted(names)
        listed = ", ".join(shown[:5]) + (f" and {len(shown) - 5} more" if len(shown) > 5 else "")
        raise InputError(
            f"The warehouse {path} is a DuckDB database but not an ecm warehouse: it has "
            f"tables ecm did not make ({listed}) and none of those every ecm warehouse has "
            f"({', '.join(sorted(ECM_TABLES))}); a run never writes into another "
            f"application's database. Pass --warehouse with a new file name or an earlier "
            f"ecm warehouse."
        )


# The tables that make a DuckDB file an ecm warehouse: the ingest's catalog of staged
# files (ecm.ingest.tables.FILES_TABLE) and the run history
# (ecm.warehouse.history.RUNS); either will do.
ECM_TABLES = frozenset({"ingest_files", "runs"})

_STORAGE_VERSION = re.compile(r"storage version number (\d+)")


def _unopenable(path: Path, exc: duckdb.Error) -> str:
    """The sentence for a DuckDB file this duckdb cannot open (DuckDB's words, measured)."""
    text = str(exc)
    version = _STORAGE_VERSION.search(text)
    if version:
        said = "a newer DuckDB" if "newer version" in text else "an older DuckDB"
        return (
            f"The warehouse {path} is a DuckDB database of storage version "
            f"{version.group(1)}, which this DuckDB ({duckdb.__version__}) cannot open: it "
            f"was written by {said}. Pass --warehouse with a new file name, or move it to "
            f"this version with the DuckDB that wrote it (EXPORT DATABASE there, IMPORT "
            f"DATABASE here)."
        )
    if "lock" in text.lower():
        return (
            f"The warehouse {path} is open in another program (DuckDB lets one program "
            f"write a database at a time); close it there, then run again."
        )
    first_line = text.splitlines()[0] if text else type(exc).__name__
    return (
        f"The warehouse {path} cannot be opened as a DuckDB database ({first_line}); pass "
        f"--warehouse with a new file name or an earlier ecm warehouse."
    )


def _check_is_duckdb(path: Path) -> None:
    with path.open("rb") as handle:
        head = handle.read(_DUCKDB_MAGIC_OFFSET + len(_DUCKDB_MAGIC))
    if head[_DUCKDB_MAGIC_OFFSET:] != _DUCKDB_MAGIC:
        raise InputError(
            f"The warehouse {path} is not a DuckDB database file; a run will not overwrite "
            f"it. Pass --warehouse with a new file name or an earlier ecm warehouse."
        )
