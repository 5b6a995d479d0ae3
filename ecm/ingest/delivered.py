"""A feed kept whole (its contract declares `stored_columns`, e.g. the claims): each file
as it was delivered, kept in the warehouse's folder (outputs.md, "What the warehouse is"),
so that the staged table need store only what a run reads.

- `keep_delivered` writes a staged file's set, named by the sha256 of the file's path,
  sha256, staging code and ecm version (`set_key`, from its `ingest_files` row): a
  Parquet file copied byte for byte (its sha256 checked as it is copied), a text file's
  or workbook's rows as the ingest read them (Parquet, every column as text, with
  `_source_file` and `_line`), linked from the work folder. A set
  the warehouse's folder holds already (kept by an earlier run) is not written again.
- `delivered_view` makes the view `delivered__<feed>` over the sets of the feed's current
  files: every column of every delivered row as text (unknown columns too), with its file
  and line, as the quarantine's raw rows show them.
- A run writes its new sets in its work folder (`Keeping.new`) and, just before its
  warehouse copy is swapped in, moves them into `<warehouse>.files/delivered/` and points
  the view there (`adopt_delivered`); once the copy is in, the sets no `ingest_files` row
  names are removed (`named_sets_sql`, for ecm.warehouse.kept.prune, under the run's
  lock). So a run that fails or is interrupted changes nothing beside the warehouse either.
  An ingest outside a run (`ecm validate`, into a new warehouse) writes them in place.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from dataclasses import dataclass
from pathlib import Path

import duckdb

from data_contracts import FeedContract, load_contracts
from data_contracts.sql import ident, lit
from ecm.errors import InputError
from ecm.ingest.read import RawFile
from ecm.ingest.read_parquet import parquet_select
from ecm.ingest.tables import FILES_TABLE
from ecm.warehouse import kept
from ecm.warehouse.relations import relation_kind, replace_relation

DELIVERED = "delivered"
"""The kind of the sets (`<warehouse>.files/delivered/<set key>/`)."""
PARQUET_NAME = "delivered.parquet"
"""A delivered Parquet file's name in its set."""
_CHUNK = 1 << 24


def set_key(source_file: str, sha256: str, staging: str, version: str) -> str:
    """The name of a file's set: the sha256 of the file's path in the input folder, its
    sha256, the staging code it was read with (`staging_sha256`) and the ecm version, as
    its `ingest_files` row records them (`named_sets_sql` computes the same in SQL). A
    text file's set holds its rows as that code read them, and a file staged again by
    another code or ecm is kept again."""
    return hashlib.sha256(f"{source_file}:{sha256}:{staging}:{version}".encode()).hexdigest()


@dataclass(frozen=True)
class Keeping:
    """Where a feed kept whole keeps its files: `folder`, the warehouse's own folder (the
    sets kept before, and where the view points once a run is in), and `new`, where this
    ingest writes the sets it makes (the run's work folder; `folder` outside a run). Both
    absolute: the view `delivered__<feed>` names its files by these paths, read from any
    working folder."""

    folder: Path
    new: Path

    def __post_init__(self) -> None:
        object.__setattr__(self, "folder", Path(self.folder).absolute())
        object.__setattr__(self, "new", Path(self.new).absolute())

    @classmethod
    def in_place(cls, folder: Path) -> Keeping:
        return cls(Path(folder), Path(folder))

    def kept(self, key: str) -> Path | None:
        """The complete set `key`: kept before, else written by this ingest; None when
        neither holds it whole."""
        for root in (self.folder, self.new):
            if is_kept(root, key):
                return delivered_set(root, key)
        return None


def delivered_set(folder: Path, key: str) -> Path:
    """Where the set `key` is under `folder` (`<folder>/delivered/<key>`)."""
    return Path(folder) / DELIVERED / key


def is_kept(folder: Path, key: str) -> bool:
    """Whether the set `key` is whole in `folder`: its `.complete.json`, written last,
    and every file it lists."""
    target = delivered_set(folder, key)
    try:
        files = json.loads((target / kept.COMPLETE).read_text("utf-8"))["files"]
    except (OSError, ValueError, KeyError, TypeError):
        return False
    return bool(files) and all((target / name).is_file() for name in files)


def keep_delivered(raw: RawFile, path: Path, key: str, sha256: str, keeping: Keeping) -> Path:
    """Keep one staged file whole (see the module) as the set `key` (`set_key`); returns
    the set. `raw` is the file as the ingest read it, `path` the delivered file, `sha256`
    its sha256 as the run fingerprinted it: a Parquet file that no longer has it
    (replaced while the run read it) is an InputError."""
    found = keeping.kept(key)
    if found is not None:
        return found
    target = delivered_set(keeping.new, key)
    if target.exists():  # a set cut short by a run that died: never named, never read
        shutil.rmtree(target)
    target.mkdir(parents=True)
    if raw.work_files is None:
        _copy_checked(path, target / PARQUET_NAME, sha256)
        files = [PARQUET_NAME]
    else:
        parts = sorted(Path(raw.work_files).parent.glob(Path(raw.work_files).name))
        for part in parts:
            kept.link_or_copy(part, target / part.name)
        files = [p.name for p in parts]
    kept.mark_complete(target, {"source_file": raw.file, "files": files})
    return target


def adopt_delivered(house: Path, warehouse: Path, keeping: Keeping) -> None:
    """Just before a run's warehouse copy `house` is swapped in for `warehouse`: move the
    sets this run wrote into the warehouse's folder (ecm.warehouse.kept.adopt) and point
    each kept-whole feed's view `delivered__<feed>` there."""
    written = Path(keeping.new) / DELIVERED
    if keeping.new == keeping.folder or not written.is_dir():
        return
    for folder in sorted(written.iterdir()):
        if (folder / kept.COMPLETE).is_file():
            kept.adopt(folder, warehouse, DELIVERED, folder.name)
    with duckdb.connect(str(house)) as con:
        for contract in load_contracts().values():
            if contract.kept_whole and relation_kind(con, f"delivered__{contract.name}"):
                delivered_view(con, contract, keeping)
        con.execute("checkpoint")


def _copy_checked(source: Path, target: Path, sha256: str) -> None:
    digest = hashlib.sha256()
    with Path(source).open("rb") as read, Path(target).open("wb") as write:
        while chunk := read.read(_CHUNK):
            digest.update(chunk)
            write.write(chunk)
    if digest.hexdigest() != sha256:
        target.unlink()
        raise InputError(
            f"{source}: the file changed while the run read it (its sha256 is no longer "
            f"the one taken at the start); expected a file left as it is during a run. "
            f"Run again once the delivery is complete."
        )


def delivered_view(
    con: duckdb.DuckDBPyConnection, contract: FeedContract, keeping: Keeping
) -> None:
    """The view `delivered__<feed>` of a kept-whole feed: every row of its current files
    (`ingest_files`) as delivered, from their sets (`keeping`)."""
    rows = con.execute(
        f"select source_file, sha256, staging_sha256, ecm_version from {FILES_TABLE} "
        f"where feed = ? order by source_file",
        [contract.name],
    ).fetchall()
    selects = [_kept_select(contract, keeping, row[0], set_key(*row)) for row in rows]
    if not selects:  # no file: the feed's columns, no row
        columns = "".join(f", cast(null as varchar) as {ident(c)}" for c in contract.columns)
        selects = [
            "select cast(null as varchar) as _source_file, cast(null as bigint) as _line"
            f"{columns} where false"
        ]
    sql = "\nunion all by name\n".join(f"({s})" for s in selects)
    replace_relation(con, f"delivered__{contract.name}", "view", sql)


def _kept_select(contract: FeedContract, keeping: Keeping, source: str, key: str) -> str:
    target = keeping.kept(key)
    if target is None:
        raise AssertionError(f"the staged file {source} of {contract.name} has no kept set")
    if (target / PARQUET_NAME).is_file():
        return parquet_select(target / PARQUET_NAME, contract, target, source_file=source).text
    return f"select * from read_parquet({lit(target / '*.parquet')})"


def named_sets_sql() -> str:
    """The select of the sets a warehouse names: `set_key` of each file of its kept-whole
    feeds in `ingest_files` (what ecm.warehouse.kept.prune keeps, once a run's copy is
    swapped in)."""
    feeds = ", ".join(lit(c.name) for c in load_contracts().values() if c.kept_whole) or "''"
    return (
        f"select distinct sha256(source_file || ':' || sha256 || ':' || staging_sha256 "
        f"|| ':' || ecm_version) from {FILES_TABLE} where feed in ({feeds})"
    )
