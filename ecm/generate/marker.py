"""The list of files the generator wrote into a feed folder (`.ecm-generated.json`).

`ecm generate` replaces, in a folder it wrote before, the files its marker lists and only
those; the provider simulator (providers.py) adds the drops it writes to the same list, so
that a later generation removes them too and nothing else. The marker is a hidden file:
the ingest never reads it.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path

GENERATED_MARKER = ".ecm-generated.json"


def generated_files(folder: Path) -> list[str] | None:
    """The files (paths relative to `folder`) its marker lists; None when it has none or
    the marker cannot be read (the folder was not written by the generator)."""
    try:
        files = json.loads((Path(folder) / GENERATED_MARKER).read_text(encoding="utf-8"))["files"]
    except (OSError, ValueError, KeyError, TypeError):
        return None
    if not isinstance(files, list) or not all(isinstance(f, str) for f in files):
        return None
    return files


def write_marker(folder: Path, files: Iterable[str]) -> None:
    """List `files` (relative to `folder`) as the generator's, sorted."""
    listed = sorted(set(files))
    (Path(folder) / GENERATED_MARKER).write_text(
        json.dumps({"written_by": "ecm generate", "files": listed}, indent=1) + "\n",
        encoding="utf-8",
    )
