"""Writing a run's files (ecm.run.safety moves the finished folder into place).

Data files are deterministic: rows sorted (member_id, then pof_code), no timestamps
inside; re-running the same inputs, rules and as-of date gives byte-identical files.
`summary.json` and `manifest.json` describe the run (timings live only in the summary).
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import polars as pl


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


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
