"""Writing a run's files: into a temporary folder, moved into place only when complete.

Data files are deterministic: rows sorted (member_id, then pof_code), no timestamps
inside; re-running the same inputs, rules and as-of date gives byte-identical files.
`summary.json` and `manifest.json` describe the run (timings live only in the summary).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import polars as pl


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


@contextmanager
def atomic_directory(target: Path) -> Iterator[Path]:
    """Yield a temporary folder beside `target`; on success it replaces `target` whole.

    On an exception the temporary folder is removed and `target` is left untouched.
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.tmp-", dir=target.parent))
    umask = os.umask(0)
    os.umask(umask)
    staging.chmod(0o777 & ~umask)  # mkdtemp makes 0700; the run folder is an ordinary folder
    try:
        yield staging
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    previous = None
    if target.exists():
        previous = Path(tempfile.mkdtemp(prefix=f".{target.name}.old-", dir=target.parent))
        previous.rmdir()
        target.replace(previous)
    staging.replace(target)
    if previous is not None:
        shutil.rmtree(previous, ignore_errors=True)


def write_parquet(frame: pl.DataFrame, path: Path) -> None:
    frame.write_parquet(path, compression="zstd", statistics=True)


def write_csv(frame: pl.DataFrame, path: Path) -> None:
    frame.write_csv(path, date_format="%Y-%m-%d", float_precision=4)


def write_json(data: dict[str, Any], path: Path) -> None:
    path.write_text(
        json.dumps(data, indent=2, sort_keys=False, default=str) + "\n", encoding="utf-8"
    )


def file_entry(path: Path, root: Path, rows: int | None) -> dict[str, Any]:
    entry: dict[str, Any] = {"path": str(path.relative_to(root)), "sha256": sha256_file(path)}
    if rows is not None:
        entry["rows"] = rows
    entry["bytes"] = path.stat().st_size
    return entry
