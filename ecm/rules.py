"""The rules file: thresholds, lookbacks and methods as data (reference/rules.toml).

`load_rules` reads and checks the file once; the rest of the code reads settings with
`rules.setting("methods.avoidable_ed")`, which names the missing key when there is none.
"""

from __future__ import annotations

import hashlib
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ecm.errors import RulesError
from ecm.paths import DEFAULT_RULES_FILE

METHOD_CHOICES: dict[str, tuple[str, ...]] = {
    "methods.avoidable_ed": ("nyu_threshold", "nyu_max", "nyu_expected", "all_ed"),
    "methods.unplanned_stay": ("admit_type", "cms_planned"),
    "methods.avoidable_stay": ("unplanned", "pqi"),
}

REQUIRED_SETTINGS = (
    "version",
    "time.lookback_months",
    "time.long_lookback_months",
    "time.adult_min_age",
    "time.timezone",
    "claims.void_bill_type_frequency",
    "claims.admit_type_missing_codes",
    "events.ed_visit.days_before_admission_belonging_to_stay",
    "events.stays.merge_gap_days",
    "methods.nyu_avoidable_threshold",
    "methods.nyu_min_prefix_length",
    "guards.min_enrolled_members",
    "guards.max_quarantined_share",
    "run.memory_budget_gib",
    "run.bytes_per_member",
    *METHOD_CHOICES,
)


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


def load_rules(path: Path | None = None) -> Rules:
    """Read and check a rules file (the packaged default when no path is given)."""
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
    for dotted in REQUIRED_SETTINGS:
        rules.setting(dotted)
    for dotted, choices in METHOD_CHOICES.items():
        value = rules.setting(dotted)
        if value not in choices:
            raise RulesError(
                f"The rules file {path} sets {dotted} = '{value}', "
                f"but the known methods are: {', '.join(choices)}."
            )
    return rules
