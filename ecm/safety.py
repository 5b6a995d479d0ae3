"""Safety of what is already on disk: the output folder and the warehouse.

- `check_output_folder`: `--out` is replaced only when it is absent, empty, or an earlier
  `ecm` output (its `manifest.json` says `written_by = "ecm"` and lists every file in the
  folder). It must not be, hold or lie inside the input folder or the warehouse file.
- `OutputFolder`: a run writes into a temporary folder beside `--out`; `publish` moves it
  into place and removes the earlier output's files, only those its manifest lists.
- `WorkWarehouse`: a run works on a copy of the warehouse beside it; `commit` swaps the
  copy in, so a failed run leaves the warehouse exactly as it was.

Nothing here ever deletes a file `ecm` did not write.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import uuid
from pathlib import Path

import duckdb

from ecm.errors import InputError, OutputError

MANIFEST = "manifest.json"
WRITTEN_BY = "ecm"
# Files `ecm` may hold in an output folder that a manifest does not list (none today).
_UNLISTED_OK = frozenset({MANIFEST})


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


def check_output_folder(out_dir: Path, input_dir: Path, warehouse: Path) -> None:
    """Refuse an `--out` that a run must not replace (outputs.md, "Safety of what is
    already on disk"); raises OutputError with the reason."""
    out, inputs, house = (Path(p).resolve() for p in (out_dir, input_dir, warehouse))
    if _inside(out, inputs):
        where = "is the input folder" if out == inputs else f"lies inside the input folder {inputs}"
        raise OutputError(
            f"The output folder {out} {where}; a run never writes among its feeds. "
            f"Choose an output folder outside {inputs}."
        )
    if inputs.is_relative_to(out):
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
    place by `publish()`; `discard()` removes the temporary folder (only ours)."""

    def __init__(self, target: Path) -> None:
        self.target = Path(target)
        self.target.parent.mkdir(parents=True, exist_ok=True)
        self.path = Path(
            tempfile.mkdtemp(prefix=f".{self.target.name}.tmp-", dir=self.target.parent)
        )
        umask = os.umask(0)
        os.umask(umask)
        self.path.chmod(0o777 & ~umask)  # mkdtemp makes 0700; a run folder is ordinary

    def discard(self) -> None:
        shutil.rmtree(self.path, ignore_errors=True)

    def publish(self) -> None:
        """Replace `target` with the new output. An earlier output is moved aside and
        only the files its manifest lists are removed; anything else stays (and the
        moved-aside folder with it)."""
        previous = None
        if self.target.exists():
            previous = self.target.with_name(f".{self.target.name}.old-{uuid.uuid4().hex[:8]}")
            self.target.replace(previous)
        self.path.replace(self.target)
        if previous is not None:
            _remove_earlier_output(previous)


def _remove_earlier_output(folder: Path) -> None:
    ours = earlier_output_files(folder) or set()
    for name in ours:
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
    `path`; `commit()` swaps it in whole, `discard()` removes it and leaves the
    warehouse as it was."""

    def __init__(self, warehouse: Path) -> None:
        self.warehouse = Path(warehouse)
        self.warehouse.parent.mkdir(parents=True, exist_ok=True)
        self.path = self.warehouse.with_name(
            f".{self.warehouse.name}.run-{uuid.uuid4().hex[:12]}.duckdb"
        )
        if self.warehouse.exists():
            if self.warehouse.is_dir():
                raise InputError(
                    f"The warehouse {self.warehouse} is a folder; expected a DuckDB file."
                )
            _check_is_duckdb(self.warehouse)
            _checkpoint(self.warehouse)
            shutil.copyfile(self.warehouse, self.path)

    def commit(self) -> None:
        _checkpoint(self.path)
        self.path.replace(self.warehouse)

    def discard(self) -> None:
        for path in (self.path, _wal(self.path)):
            path.unlink(missing_ok=True)


_DUCKDB_MAGIC_OFFSET = 8
_DUCKDB_MAGIC = b"DUCK"


def _check_is_duckdb(path: Path) -> None:
    with path.open("rb") as handle:
        head = handle.read(_DUCKDB_MAGIC_OFFSET + len(_DUCKDB_MAGIC))
    if head[_DUCKDB_MAGIC_OFFSET:] != _DUCKDB_MAGIC:
        raise InputError(
            f"The warehouse {path} is not a DuckDB database file; a run will not overwrite "
            f"it. Pass --warehouse with a new file name or an earlier ecm warehouse."
        )
