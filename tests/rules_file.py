"""Rules files for the tests: the packaged file with one key set (or removed), written as
TOML (tests of ecm.config.rules and the property test of a rules file's keys)."""

from __future__ import annotations

import copy
import datetime as dt
import json
import math
import tomllib
from pathlib import Path
from typing import Any

from ecm.config.paths import DEFAULT_RULES_FILE

DEFAULT_DATA: dict[str, Any] = tomllib.loads(DEFAULT_RULES_FILE.read_text())
REMOVED = object()


def toml_value(value: Any) -> str:
    """A value as TOML writes it."""
    if isinstance(value, float) and not math.isfinite(value):
        return "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf")
    if isinstance(value, list):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{json.dumps(k)} = {toml_value(v)}" for k, v in value.items()) + "}"
    written: dict[type, Any] = {
        bool: lambda v: "true" if v else "false",
        int: str,
        float: repr,
        str: _toml_string,
        dt.date: dt.date.isoformat,
        dt.datetime: dt.datetime.isoformat,
        dt.time: dt.time.isoformat,
    }
    return written[type(value)](value)


def _toml_string(value: str) -> str:
    """A TOML basic string: JSON's escapes are TOML's, for the characters TOML must have
    escaped (controls, DEL); the rest is written as itself (a JSON surrogate pair is not a
    TOML escape)."""
    return json.dumps(value, ensure_ascii=False).replace("\x7f", "\\u007f")


def to_toml(data: dict[str, Any], at: tuple[str, ...] = ()) -> str:
    """A table as TOML: its values, then each sub-table under its [header]."""
    lines = []
    if at:
        lines.append("[" + ".".join(_toml_string(k) for k in at) + "]")
    tables = {k: v for k, v in data.items() if isinstance(v, dict)}
    lines += [f"{_toml_string(k)} = {toml_value(v)}" for k, v in data.items() if k not in tables]
    text = "\n".join(lines) + "\n"
    for key, table in tables.items():
        text += "\n" + to_toml(table, (*at, key))
    return text


def with_setting(dotted: str, value: Any, data: dict[str, Any] = DEFAULT_DATA) -> dict[str, Any]:
    """A copy of `data` with the key at `dotted` set to `value` (REMOVED: taken out)."""
    changed = copy.deepcopy(data)
    *tables, key = dotted.split(".")
    node = changed
    for table in tables:
        if value is REMOVED and table not in node:
            return changed  # nothing to take out
        node = node.setdefault(table, {})
    if value is REMOVED:
        node.pop(key, None)
    else:
        node[key] = value
    return changed


def rules_file_with(folder: Path, dotted: str, value: Any, name: str = "rules.toml") -> Path:
    """The packaged rules file with one key set (or REMOVED), written into `folder`."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(to_toml(with_setting(dotted, value)))
    return path


def leaf_keys(data: dict[str, Any] = DEFAULT_DATA, at: tuple[str, ...] = ()) -> list[str]:
    """Every key of the file that holds a value (not a table), dotted."""
    keys = []
    for key, value in data.items():
        if isinstance(value, dict):
            keys += leaf_keys(value, (*at, key))
        else:
            keys.append(".".join((*at, key)))
    return keys
