"""Where the project's own resources live (SQL files, reference data, the rules file).

In a checkout (the editable install `make setup` makes) they are the top-level `sql/`
and `reference/` folders; in a built wheel they are packaged under `ecm/_resources/`.
"""

from __future__ import annotations

from pathlib import Path

_PACKAGE = Path(__file__).resolve().parents[1]  # ecm/


def _resource_root() -> Path:
    packaged = _PACKAGE / "_resources"
    if packaged.is_dir():
        return packaged
    return _PACKAGE.parent


RESOURCE_ROOT = _resource_root()
SQL_DIR = RESOURCE_ROOT / "sql"
REFERENCE_DIR = RESOURCE_ROOT / "reference"
VALUE_SET_DIR = REFERENCE_DIR / "value_sets"
DEFAULT_RULES_FILE = REFERENCE_DIR / "rules.toml"
