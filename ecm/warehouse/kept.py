"""The warehouse's own folder (outputs.md, "What the warehouse is"): `<warehouse>.files/`
beside the DuckDB file, holding what a run keeps for later runs as files, each set in a
folder named by the sha256 of what it was made from (`<kind>/<key>/`), and the catalog
table `kept_files` in the DuckDB file naming the sets a run may use.

The life of a set, all or nothing like the rest of a run:

1. a run writes a new set in its work folder and records it in its warehouse copy
   (`record`), which names only the sets of that copy;
2. just before the copy is swapped in, the set is moved into the folder (`adopt`): a run
   that dies after the move leaves a set no catalog names;
3. after the swap, still holding the warehouse's lock, the run removes every set of that
   kind the catalog no longer names (`prune`): only folders named `<kind>/<64 hex>`.

So a failed or interrupted run changes neither the DuckDB file nor a set its catalog names,
and only a run holding the warehouse's lock removes what no run names. A reader looks a set
up in the catalog (`lookup`) and uses it only when its folder is complete (`COMPLETE`,
written last into the set by the writer).
"""

from __future__ import annotations

import errno
import json
import os
import re
import shutil
from pathlib import Path
from typing import Any

import duckdb

KEPT_TABLE = "kept_files"
COMPLETE = ".complete.json"
_KEY = re.compile(r"[0-9a-f]{64}")
_CREATE = f"create table if not exists {KEPT_TABLE} (kind varchar, key varchar, info varchar)"


def files_folder(warehouse: Path) -> Path:
    """`<warehouse>.files/` beside the warehouse file (`warehouse` followed, if a link)."""
    warehouse = Path(warehouse)
    return warehouse.with_name(f"{warehouse.name}.files")


def set_folder(warehouse: Path, kind: str, key: str) -> Path:
    """Where the set `key` of `kind` lives once adopted."""
    return files_folder(warehouse) / kind / key


def mark_complete(folder: Path, info: dict[str, Any]) -> None:
    """Written last by a set's writer: a folder without it is never used."""
    (Path(folder) / COMPLETE).write_text(json.dumps(info, sort_keys=True) + "\n", "utf-8")


def record(con: duckdb.DuckDBPyConnection, kind: str, key: str, info: dict[str, Any]) -> None:
    """Name the set `key` as the one set of `kind` this warehouse keeps (the sets it named
    before are pruned once this run's copy is swapped in)."""
    con.execute(_CREATE)
    con.execute(f"delete from {KEPT_TABLE} where kind = ?", [kind])
    con.execute(
        f"insert into {KEPT_TABLE} values (?, ?, ?)", [kind, key, json.dumps(info, sort_keys=True)]
    )


def lookup(
    con: duckdb.DuckDBPyConnection, warehouse: Path, kind: str, key: str
) -> dict[str, Any] | None:
    """The info of the set `key` of `kind` when the catalog names it and its folder beside
    `warehouse` is complete; else None (a warehouse from before the catalog too)."""
    if not _has_catalog(con):
        return None
    rows = con.execute(
        f"select info from {KEPT_TABLE} where kind = ? and key = ?", [kind, key]
    ).fetchall()
    if not rows or not (set_folder(warehouse, kind, key) / COMPLETE).is_file():
        return None
    return json.loads(rows[0][0])


def find(
    con: duckdb.DuckDBPyConnection,
    warehouse: Path,
    kind: str,
    key: str,
    borrow_into: Path | None = None,
) -> tuple[Path, dict[str, Any]] | None:
    """Where to read the set `key` of `kind`, with its info, or None (`lookup`): its folder
    beside `warehouse` for a run holding the warehouse's lock, or, for a reader without it,
    the set borrowed into `borrow_into` (`borrow`; None when it went before it was all
    linked)."""
    info = lookup(con, warehouse, kind, key)
    if info is None:
        return None
    root = set_folder(warehouse, kind, key)
    if borrow_into is not None:
        root = borrow(root, borrow_into)
        if root is None:
            return None
    return root, info


def adopt(written: Path, warehouse: Path, kind: str, key: str) -> Path:
    """Move a set written in a run's work folder into the warehouse's folder (a rename:
    the work folder is beside the warehouse); returns where it now is. A set of that key
    already there (complete, from a run that died before its swap) is kept, and the new
    one left to the work folder's clean-up."""
    target = set_folder(warehouse, kind, key)
    if (target / COMPLETE).is_file():
        return target
    if target.exists():  # a set cut short: not named by any catalog, never used
        shutil.rmtree(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    Path(written).rename(target)
    return target


def borrow(folder: Path, into: Path) -> Path | None:
    """The set in `folder` linked into `into` (which must not exist): each file hard
    linked, or copied where `into` is on another file system, so a reader without the
    warehouse's lock keeps what it reads even if a run removes the set meanwhile. None
    when the set went before it was all linked (`into` then removed)."""
    try:
        shutil.copytree(folder, into, copy_function=link_or_copy)
    except FileNotFoundError:
        shutil.rmtree(into, ignore_errors=True)
        return None
    except shutil.Error as error:  # copytree gathers a file gone among its errors
        shutil.rmtree(into, ignore_errors=True)
        if all(isinstance(e[2], str) and "No such file" in e[2] for e in error.args[0]):
            return None
        raise
    return Path(into)


def link_or_copy(source: str | Path, target: str | Path) -> None:
    """`target` a hard link of `source`, or a copy where they are on two file systems."""
    try:
        os.link(source, target)
    except OSError as error:
        if error.errno not in (errno.EXDEV, errno.EPERM, errno.EMLINK):
            raise
        shutil.copy2(source, target)


def prune(warehouse: Path, kind: str, named_sql: str | None = None) -> int:
    """Remove the sets of `kind` beside `warehouse` its catalog does not name (or, given
    `named_sql`, that its rows do not name: one column of keys): call only while holding
    the warehouse's lock, after the run's copy is swapped in. Only folders named
    `<kind>/<64 hex>` are touched. Returns how many were removed."""
    kind_dir = files_folder(warehouse) / kind
    if not kind_dir.is_dir() or kind_dir.is_symlink():
        return 0
    with duckdb.connect(str(warehouse), read_only=True) as con:
        if named_sql is not None:
            named = {k for (k,) in con.execute(named_sql).fetchall()}
        elif _has_catalog(con):
            named = {
                k
                for (k,) in con.execute(
                    f"select key from {KEPT_TABLE} where kind = ?", [kind]
                ).fetchall()
            }
        else:
            named = set()
    removed = 0
    for entry in kind_dir.iterdir():
        if (
            _KEY.fullmatch(entry.name)
            and entry.is_dir()
            and not entry.is_symlink()
            and entry.name not in named
        ):
            # A set that cannot be removed now is left to the next run's prune: the run
            # itself has succeeded.
            shutil.rmtree(entry, ignore_errors=True)
            removed += not entry.exists()
    return removed


def _has_catalog(con: duckdb.DuckDBPyConnection) -> bool:
    return bool(
        con.execute(
            "select 1 from information_schema.tables where table_name = ?", [KEPT_TABLE]
        ).fetchall()
    )
