"""A feed directory's fingerprints: the sha256 of every file in it, hashed once per run.

The ingest reads only the files the warehouse has not staged with the same sha256 (it is
handed these), the run's `manifest.json` lists them as its `inputs`, and the warehouse's
`runs` table records them (ecm.warehouse.history).
"""

from __future__ import annotations

from pathlib import Path

from ecm import files
from ecm.ingest.discover import is_regular_file


def fingerprint_inputs(input_dir: Path) -> dict[str, str]:
    """sha256 of every regular file in the feed directory (relative path → digest), hidden
    files left out; a named pipe, socket or device is never opened (`is_regular_file`)."""
    return {
        str(p.relative_to(input_dir)): files.sha256_file(p)
        for p in sorted(Path(input_dir).rglob("*"))
        if is_regular_file(p) and not p.name.startswith(".")
    }
