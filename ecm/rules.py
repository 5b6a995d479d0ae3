"""The rules file: thresholds, lookbacks and methods as data (reference/rules.toml).

`load_rules` reads and checks the file once; the rest of the code reads settings with
`rules.setting("methods.avoidable_ed")`, which names the missing key when there is none.
"""

from __future__ import annotations

import hashlib
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, get_args, get_origin

from ecm.errors import RulesError
from ecm.paths import DEFAULT_RULES_FILE
from transforms.populations import Population, SettingType
from transforms.populations.registry import POPULATIONS

METHOD_CHOICES: dict[str, tuple[str, ...]] = {
    "methods.avoidable_ed": ("nyu_threshold", "nyu_max", "nyu_expected", "all_ed"),
    "methods.unplanned_stay": ("admit_type", "cms_planned"),
    "methods.avoidable_stay": ("unplanned", "pqi"),
}

# The settings every run reads, with their types (a population's own settings are
# declared by the population: transforms.populations.registry).
REQUIRED_SETTINGS: dict[str, SettingType] = {
    "version": str,
    "time.lookback_months": int,
    "time.long_lookback_months": int,
    "time.adult_min_age": int,
    "time.timezone": str,
    "claims.void_bill_type_frequency": str,
    "claims.admit_type_missing_codes": list[str],
    "events.ed_visit.days_before_admission_belonging_to_stay": int,
    "events.stays.merge_gap_days": int,
    "methods.nyu_avoidable_threshold": float,
    "methods.nyu_min_prefix_length": int,
    "guards.min_enrolled_members": int,
    "guards.max_quarantined_share": float,
    "guards.max_line_bytes": int,
    "output.group_readable": bool,
    "run.memory_budget_gib": float,
    "run.bytes_per_member": int,
    # The plan's identity on its member information files (outputs.md), and the
    # dual_status_code values its eligibility extract uses for a member enrolled in
    # Medicare too (docs/DECISIONS.md, "Member information files").
    "plan.mcp_identifier": str,
    "plan.mcp_name": str,
    "plan.dual_status_codes": list[str],
    **dict.fromkeys(METHOD_CHOICES, str),
}

# Keys every [populations.CODE] block holds, whatever its rule: read by the wiring
# (the report's title; population_status), not by the rule.
POPULATION_BLOCK_SETTINGS: dict[str, SettingType] = {
    "title": str,
    "required_feeds": list[str],
    "partial_feeds": list[str],
}
# The key by which a population that declares `has_own_lookback` names its own lookback
# (populations.md, "Time"); absent, it uses time.lookback_months.
OWN_LOOKBACK_SETTING = "lookback_months"


def has_type(value: Any, expected: SettingType) -> bool:
    """Whether a TOML value is of a declared setting type; an integer is a float too, and a
    boolean is neither."""
    if get_origin(expected) is list:
        (item,) = get_args(expected)
        return isinstance(value, list) and all(has_type(v, item) for v in value)
    if expected is bool:
        return isinstance(value, bool)
    if isinstance(value, bool):
        return False
    if expected is float:
        return isinstance(value, int | float)
    return isinstance(value, expected)


def describe_type(expected: SettingType) -> str:
    """A setting type as a rules-file author reads it."""
    if get_origin(expected) is list:
        (item,) = get_args(expected)
        return f"a list of {describe_type(item).removeprefix('a ').removeprefix('an ')}s"
    return {
        int: "an integer",
        float: "a number",
        str: "a string",
        bool: "true or false",
    }[expected]


_MISSING = object()


def _value_at(data: dict[str, Any], dotted: str) -> Any:
    node: Any = data
    for part in dotted.split("."):
        if not isinstance(node, dict) or part not in node:
            return _MISSING
        node = node[part]
    return node


def _setting_problems(dotted: str, value: Any, expected: SettingType) -> list[str]:
    """[] when `value` is present and of the expected type, else the problem in words."""
    if value is _MISSING:
        return [f"{dotted} is missing; expected {describe_type(expected)}"]
    if has_type(value, expected):
        return []
    return [f"{dotted} = {value!r} is not {describe_type(expected)}"]


@dataclass(frozen=True)
class Rules:
    """A loaded, checked rules file."""

    data: dict[str, Any]
    path: Path
    sha256: str

    @property
    def version(self) -> str:
        return str(self.data["version"])

    def setting(self, dotted: str) -> Any:
        """The value at a dotted path (`methods.avoidable_ed`); a clear error when absent."""
        node: Any = self.data
        for part in dotted.split("."):
            if not isinstance(node, dict) or part not in node:
                raise RulesError(
                    f"The rules file {self.path} has no setting '{dotted}'. "
                    f"Add it (see reference/rules.toml for the default)."
                )
            node = node[part]
        return node

    def population(self, code: str) -> dict[str, Any]:
        """The settings block of one population of focus."""
        return self.setting(f"populations.{code}")

    @property
    def population_codes(self) -> list[str]:
        return sorted(self.data.get("populations", {}))


def load_rules(
    path: Path | None = None, populations: Mapping[str, Population] = POPULATIONS
) -> Rules:
    """Read and check a rules file (the packaged default when no path is given).

    Checked up front, so that a run never stops half-way on a setting: every required
    setting present and of its type; every method one the code knows; every population of
    the file registered (`populations`) and every registered population in the file, its
    block holding exactly the settings its declaration names, of their types.
    """
    path = Path(path) if path else DEFAULT_RULES_FILE
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise RulesError(f"The rules file {path} does not exist.") from None
    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise RulesError(f"The rules file {path} is not valid TOML: {exc}.") from None
    rules = Rules(data=data, path=path, sha256=hashlib.sha256(raw).hexdigest())
    problems = [
        problem
        for dotted, expected in REQUIRED_SETTINGS.items()
        for problem in _setting_problems(dotted, _value_at(data, dotted), expected)
    ]
    if problems:
        raise _invalid(path, problems)
    for dotted, choices in METHOD_CHOICES.items():
        value = rules.setting(dotted)
        if value not in choices:
            raise RulesError(
                f"The rules file {path} sets {dotted} = '{value}', "
                f"but the known methods are: {', '.join(choices)}."
            )
    problems = population_problems(rules, populations)
    if problems:
        raise _invalid(path, problems)
    return rules


def _invalid(path: Path, problems: list[str]) -> RulesError:
    return RulesError(
        f"The rules file {path} is not valid: {'; '.join(problems)}. "
        f"See reference/rules.toml for the defaults."
    )


def population_problems(rules: Rules, populations: Mapping[str, Population]) -> list[str]:
    """What the file's [populations.*] blocks lack or hold against the registered
    populations, each naming the key and what was expected (empty when none)."""
    blocks = rules.data.get("populations")
    if not isinstance(blocks, dict):
        return [
            f"there is no [populations.CODE] table; expected one for each of {list(populations)}"
        ]
    problems = [
        f"[populations.{code}] is a population no rule implements "
        f"(the registered populations are: {', '.join(populations)})"
        for code in blocks
        if code not in populations
    ]
    problems += [
        f"[populations.{code}] is missing; every registered population needs its block"
        for code in populations
        if code not in blocks
    ]
    for code, population in populations.items():
        if isinstance(blocks.get(code), dict):
            problems += _block_problems(rules, population, blocks[code])
        elif code in blocks:
            problems.append(f"populations.{code} is not a table")
    return list(dict.fromkeys(problems))  # a shared setting is named once


def _block_problems(rules: Rules, population: Population, block: dict[str, Any]) -> list[str]:
    code = population.code
    expected = {**POPULATION_BLOCK_SETTINGS, **population.settings}
    problems = []
    for key, kind in expected.items():
        problems += _setting_problems(f"populations.{code}.{key}", block.get(key, _MISSING), kind)
    for key, value in block.items():
        dotted = f"populations.{code}.{key}"
        if key in expected:
            continue
        if key == OWN_LOOKBACK_SETTING and population.has_own_lookback:
            if not has_type(value, int) or value < 1:
                problems.append(f"{dotted} = {value!r} is not a positive integer (months)")
        elif key == OWN_LOOKBACK_SETTING:
            problems.append(
                f"{dotted} is set, but {code} reads the shared criteria, which are built over "
                f"time.lookback_months once per run: it cannot name its own lookback"
            )
        else:
            problems.append(
                f"{dotted} is not a setting of {code} (its settings are: "
                f"{', '.join(sorted(expected))})"
            )
    for dotted, kind in population.shared_settings.values():
        problems += _setting_problems(dotted, _value_at(rules.data, dotted), kind)
    return problems
