"""The rules file: thresholds, lookbacks and methods as data (reference/rules.toml).

`load_rules` reads the file and checks it whole before anything runs (docs/POPULATIONS.md,
"The rules file is checked whole"): every key against its declaration in `SETTINGS` (its
type and range, the methods, codes and names it may hold), every population block against
the registered populations, and every value set the file names: found by name beside the
file or in the packaged reference/value_sets/, each code of its code system's shape. One
RulesError lists every problem, each naming the key, the value and what was expected.

The rest of the code reads settings with `rules.setting("methods.avoidable_ed")`.
"""

from __future__ import annotations

import datetime as dt
import difflib
import hashlib
import json
import math
import re
import tomllib
import zoneinfo
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field
from functools import cache, cached_property
from pathlib import Path
from typing import Any

from data_contracts import (
    ValueAliasTable,
    feed_order,
    fill_rate_check_names,
    value_alias_tables,
)
from ecm.config.paths import DEFAULT_RULES_FILE
from ecm.config.reference import VALUE_SET_NAME, ReferenceData, code_systems
from ecm.errors import RulesError
from transforms.criteria import condition_criteria
from transforms.members import ADULT, CHILD_YOUTH
from transforms.populations import Population, SettingType
from transforms.populations.registry import POPULATIONS
from transforms.quarterly import SELECTORS, split_flag

# A plan's own value sets sit in this folder beside its rules file.
VALUE_SET_FOLDER = "value_sets"
# The key by which a population that declares `has_own_lookback` names its own lookback
# (populations.md, "Time"); absent, it uses time.lookback_months.
OWN_LOOKBACK_SETTING = "lookback_months"
# The population blocks' keys, as SETTINGS names them: `populations.*.KEY`.
ANY_POPULATION = "*"


# --- what a key may hold ---------------------------------------------------------------


class Known:
    """What the declarations check names against, read once per load: the feeds, the race
    values of the eligibility contract, the PQI value sets, the code systems, the value sets
    found (beside the rules file, then packaged) and the diagnosis criteria the file tags."""

    def __init__(self, data: dict[str, Any], reference: ReferenceData) -> None:
        self.data = data
        self.reference = reference

    @cached_property
    def feeds(self) -> tuple[str, ...]:
        return feed_order()

    @cached_property
    def races(self) -> tuple[str, ...]:
        from data_contracts import load_contract

        (race,) = (c for c in load_contract("eligibility").specs if c.name == "race")
        return race.values

    @cached_property
    def exclusion_programs(self) -> tuple[str, ...]:
        """The program codes of reference/exclusion_programs.csv (loop.md, section 1)."""
        return tuple(self.reference.exclusion_programs["code"])

    @cached_property
    def pqi_value_sets(self) -> tuple[str, ...]:
        return self.reference.pqi_value_set_names

    @cached_property
    def criteria(self) -> tuple[str, ...]:
        """The diagnosis criteria the file tags (criteria.condition_value_sets)."""
        names = _value_at(self.data, "criteria.condition_value_sets")
        if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
            return ()
        return tuple(condition_criteria(names))

    def value_set_problems(self) -> list[str]:
        """What is wrong with the value sets read so far, each file's problems once."""
        return [p for found in self.reference.value_set_files_read() for p in found.problems]


@dataclass(frozen=True)
class Setting:
    """What one key of the rules file may hold. `kind` is the TOML type (int, float,
    str, bool, list[str]; an integer is a float too, a boolean is neither); `expected`
    says it in an author's words. `check` returns None when a value of the right type is
    also of the right range, else what is wrong ('' when `expected` says it all)."""

    kind: SettingType
    expected: str

    def check(self, value: Any, known: Known) -> str | None:  # noqa: ARG002
        return None

    def problem(self, value: Any, known: Known) -> str | None:
        if not has_type(value, self.kind):
            return ""
        return self.check(value, known)

    def message(self, dotted: str, value: Any, detail: str) -> str:
        """The sentence of the rules error for a wrong value at `dotted` (`detail`: what
        `problem` found, '' when `expected` says it all)."""
        return f"{dotted} = {shown(value)}: expected {self.expected}" + (
            f" ({detail})" if detail else ""
        )


def has_type(value: Any, kind: SettingType) -> bool:
    """Whether a TOML value is of a setting's type; an integer is a float too, and a boolean
    is neither."""
    if kind == list[str]:
        return isinstance(value, list) and all(isinstance(v, str) for v in value)
    if kind == dict[str, str]:
        return isinstance(value, dict)  # each entry is checked by the setting (ValueAliases)
    if isinstance(value, bool) or kind is bool:
        return isinstance(value, bool) and kind is bool
    if kind is float:
        return isinstance(value, int | float)
    return isinstance(value, kind)


def _span(low: float, high: float | None) -> str:
    return f"at least {low:,}" if high is None else f"from {low:,} to {high:,}"


@dataclass(frozen=True)
class Whole(Setting):
    """A whole number from `low` to `high` (None: no upper bound)."""

    low: int = 0
    high: int | None = None

    def check(self, value: int, known: Known) -> str | None:  # noqa: ARG002
        in_range = value >= self.low and (self.high is None or value <= self.high)
        return None if in_range else ""


def whole(low: int, high: int | None, what: str = "") -> Whole:
    return Whole(int, f"a whole number{what} {_span(low, high)}", low, high)


@dataclass(frozen=True)
class Number(Setting):
    """A finite number (never NaN or infinite) from `low` to `high`."""

    low: float = 0.0
    high: float | None = None

    def check(self, value: float, known: Known) -> str | None:  # noqa: ARG002
        in_range = value >= self.low and (self.high is None or value <= self.high)
        return None if math.isfinite(value) and in_range else ""


def number(low: float, high: float | None, what: str = "") -> Number:
    return Number(float, f"a number{what} {_span(low, high)}", low, high)


SHARE = number(0, 1, " (a share)")
FLAG = Setting(bool, "true or false")


@dataclass(frozen=True)
class Text(Setting):
    """A line of text: not empty, at most `longest` characters, no control character."""

    longest: int = 100

    def check(self, value: str, known: Known) -> str | None:  # noqa: ARG002
        printable = value.strip() and all(ch.isprintable() for ch in value)
        return None if printable and len(value) <= self.longest else ""


def text(longest: int = 100) -> Text:
    return Text(
        str, f"a line of text, 1 to {longest} characters without control characters", longest
    )


# An item check: None when the item is right, else what is wrong with it.
ItemCheck = Callable[[str, Known], str | None]


def _one_of(choices: Callable[[Known], Collection[str]]) -> ItemCheck:
    def check(item: str, known: Known) -> str | None:
        allowed = choices(known)
        if item in allowed:
            return None
        close = difflib.get_close_matches(item, allowed, n=1)
        hint = f" (did you mean {json.dumps(close[0])}?)" if close else ""
        return f"{json.dumps(item)} is not known{hint}"

    return check


def _shaped(code_system: str) -> ItemCheck:
    def check(item: str, known: Known) -> str | None:  # noqa: ARG001
        return (
            None if code_systems()[code_system].fits(item) else f"{json.dumps(item)} does not fit"
        )

    return check


def _value_set_of(code_system: str) -> ItemCheck:
    def check(item: str, known: Known) -> str | None:
        if not VALUE_SET_NAME.fullmatch(item):
            return f"{json.dumps(item)} is not a value set's name"
        found = known.reference.value_set_file(item)
        if found is None:
            folders = " or ".join(str(f) for f in known.reference.value_set_folders)
            return f"there is no {item}.csv in {folders}"
        if found.problems:
            return None  # the file's own problems are listed once, naming its lines
        others = sorted(found.code_systems - {code_system})
        if others:
            return f"{found.path} holds {', '.join(others)} codes, not {code_system}"
        return None

    return check


@dataclass(frozen=True)
class Choice(Setting):
    """A string the `item` check accepts (a method, a code, a value set's name)."""

    item: ItemCheck | None = None

    def check(self, value: str, known: Known) -> str | None:
        return self.item(value, known) if self.item else None


@dataclass(frozen=True)
class Names(Setting):
    """A list of strings, each accepted by `item`, none twice, at least `fewest`."""

    item: ItemCheck | None = None
    fewest: int = 0

    def check(self, value: list[str], known: Known) -> str | None:
        if len(value) < self.fewest:
            return ""
        twice = sorted({v for v in value if value.count(v) > 1})
        if twice:
            return f"{', '.join(json.dumps(v) for v in twice)} named twice"
        wrong = [w for v in value if self.item and (w := self.item(v, known)) is not None]
        return "; ".join(wrong) if wrong else None


def choice(options: Collection[str]) -> Choice:
    return Choice(str, f"one of: {', '.join(options)}", _one_of(lambda _: options))


def code(code_system: str) -> Choice:
    return Choice(str, code_systems()[code_system].expected, _shaped(code_system))


def codes(code_system: str) -> Names:
    expected = f"a list of codes, each {code_systems()[code_system].expected}"
    return Names(list[str], expected, _shaped(code_system))


def value_set(code_system: str) -> Choice:
    return Choice(
        str, _value_set_words(code_system, "the name of a value set"), _value_set_of(code_system)
    )


def value_sets(code_system: str) -> Names:
    words = _value_set_words(code_system, "a list of one or more names of value sets")
    return Names(list[str], words, _value_set_of(code_system), fewest=1)


def _value_set_words(code_system: str, what: str) -> str:
    title = code_systems()[code_system].title
    return (
        f"{what} of {title} codes: NAME for NAME.csv in the folder {VALUE_SET_FOLDER}/ "
        f"beside the rules file, else in the packaged reference/value_sets/ (letters, "
        f"digits, _ and -; never a path or a file suffix)"
    )


def names(source: Callable[[Known], Collection[str]], what: str, fewest: int = 0) -> Names:
    at_least = f"{'one or more' if fewest else 'a list of'}"
    return Names(list[str], f"{at_least} {what}", _one_of(source), fewest)


@dataclass(frozen=True)
class ValueAliases(Setting):
    """A table of aliases of a column's values (`[loop.aliases.ecm_status]`): each key a
    value as delivered, each value the allowed value it stands for (one of `allowed`; any
    line of text when `allowed` is empty). Keys are compared trimmed and in any case, as
    the ingest compares delivered values: two keys alike that way, or a key that is an
    allowed value itself (it would stand for another), are refused."""

    allowed: tuple[str, ...] = ()

    def entries(self, value: dict[str, Any]) -> list[str]:
        """What is wrong with each entry, each naming its key (`"E" = ...: expected ...`)."""
        wrong = []
        seen: dict[str, str] = {}
        allowed = {a.strip().lower() for a in self.allowed}
        target_expected = f"one of: {', '.join(self.allowed)}" if self.allowed else "a line of text"
        for key, target in value.items():
            entry = f"{json.dumps(key)} = {shown(target)}"
            folded = key.strip().lower()
            if not folded or not key.isprintable():
                wrong.append(f"{entry}: expected a delivered value as key (not empty)")
            elif folded in seen:
                wrong.append(
                    f"{entry}: the key is {json.dumps(seen[folded])} again (keys are compared "
                    f"trimmed and in any case)"
                )
            elif folded in allowed:
                wrong.append(f"{entry}: the key is an allowed value itself, never an alias")
            seen.setdefault(folded, key)
            if not isinstance(target, str):
                wrong.append(f"{entry}: expected {target_expected}")
            elif self.allowed and target not in self.allowed:
                close = difflib.get_close_matches(target, self.allowed, n=1)
                hint = f" (did you mean {json.dumps(close[0])}?)" if close else ""
                wrong.append(f"{entry}: expected {target_expected}{hint}")
            elif not (target.strip() and target.isprintable() and len(target) <= 100):
                wrong.append(f"{entry}: expected a line of text, 1 to 100 characters")
        return wrong

    def check(self, value: dict[str, Any], known: Known) -> str | None:  # noqa: ARG002
        return "; ".join(self.entries(value)) or None

    def message(self, dotted: str, value: Any, detail: str) -> str:
        if not isinstance(value, dict):
            return super().message(dotted, value, detail)
        return "; ".join(f"{dotted}.{entry}" for entry in self.entries(value))


def value_aliases(table: ValueAliasTable) -> ValueAliases:
    what = f"one of: {', '.join(table.allowed)}" if table.allowed else "the value it stands for"
    return ValueAliases(
        dict[str, str],
        f"a table of the values of {', '.join(table.columns)} as delivered, each = {what}",
        table.allowed,
    )


@dataclass(frozen=True)
class CodeMap(Setting):
    """A table mapping names to codes (`[quarterly.flags]`, `[quarterly.discontinuation_codes]`):
    at least `fewest` entries; each key a line of text (a DHCS column name) or one of
    `keys` when given; each value accepted by `item` (None: a line of text of at most 20
    characters). `"Adults Experiencing Homelessness" = "HOMELESS_ADULT"`."""

    keys: tuple[str, ...] = ()
    item: ItemCheck | None = None
    fewest: int = 1

    def entries(self, value: dict[str, Any], known: Known) -> list[str]:
        wrong = [] if len(value) >= self.fewest else [f"at least {self.fewest} entries expected"]
        for key, target in value.items():
            entry = f"{json.dumps(key)} = {shown(target)}"
            if self.keys and key not in self.keys:
                close = difflib.get_close_matches(key, self.keys, n=1)
                hint = f" (did you mean {json.dumps(close[0])}?)" if close else ""
                wrong.append(f"{entry}: the key is not one of {', '.join(self.keys)}{hint}")
            elif not (key.strip() and key.isprintable() and len(key) <= 100):
                wrong.append(f"{entry}: expected a key of 1 to 100 characters")
            if not isinstance(target, str):
                wrong.append(f"{entry}: expected {self.expected}")
            elif self.item is not None and (problem := self.item(target, known)):
                wrong.append(f"{entry}: {problem}")
            elif self.item is None and not (target.strip() and target.isprintable()):
                wrong.append(f"{entry}: expected a line of text")
            elif self.item is None and len(target) > 20:
                wrong.append(f"{entry}: expected at most 20 characters")
        return wrong

    def check(self, value: dict[str, Any], known: Known) -> str | None:
        return "; ".join(self.entries(value, known)) or None


def _matching(pattern: str) -> ItemCheck:
    def check(item: str, known: Known) -> str | None:  # noqa: ARG001
        return None if re.fullmatch(pattern, item) else ""

    return check


def _population_flag(target: str, known: Known) -> str | None:  # noqa: ARG001
    """A flag map's value: a registered population's code, alone or `CODE:adult`,
    `CODE:child_youth` or `CODE:index` (transforms.quarterly.SELECTORS)."""
    code, selector = split_flag(target)
    if code not in POPULATIONS:
        close = difflib.get_close_matches(code, list(POPULATIONS), n=1)
        hint = f" (did you mean {json.dumps(close[0])}?)" if close else ""
        return f"{json.dumps(code)} is not a registered population{hint}"
    if selector is not None and selector not in SELECTORS:
        return f"{json.dumps(selector)} is not one of {', '.join(SELECTORS)}"
    return None


FLAG_MAP = CodeMap(
    dict[str, str],
    "a table of DHCS flag names, each = a population code, or CODE:adult, CODE:child_youth, "
    "CODE:index",
    item=_population_flag,
)
DISCONTINUATION_CODE_MAP = CodeMap(
    dict[str, str],
    "a table of the RTF's discontinuation reason codes, each = DHCS's number as text",
    keys=value_alias_tables()["loop.aliases.discontinuation_reason_code"].allowed,
)


@dataclass(frozen=True)
class TimeZone(Setting):
    """A time zone of the tz database (America/Los_Angeles)."""

    def check(self, value: str, known: Known) -> str | None:  # noqa: ARG002
        return None if is_time_zone(value) else ""


def is_time_zone(name: str) -> bool:
    """Whether `name` is a zone of the tz database (the system's, else the tzdata package's)."""
    zones = _time_zones()
    if zones:
        return name in zones
    try:
        zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError, OSError):
        return False
    return True


@cache
def _time_zones() -> frozenset[str]:
    return frozenset(zoneinfo.available_timezones())


METHOD_CHOICES: dict[str, tuple[str, ...]] = {
    "methods.avoidable_ed": ("nyu_threshold", "nyu_max", "nyu_expected", "all_ed"),
    "methods.unplanned_stay": ("admit_type", "cms_planned"),
    "methods.avoidable_stay": ("unplanned", "pqi"),
}
AGE_GROUPS = (ADULT, CHILD_YOUTH)
LOOKBACK = whole(1, 60, " of months")
AGE = whole(0, 120, " of years")
DAYS = whole(0, 31, " of days")
# A count threshold: at least one event; at most 10,000 (one visit a day for 60 months is
# 1,827: a higher threshold could never be met).
COUNT = whole(1, 10_000)
COUNT_NUMBER = number(1, 10_000, " (fractional counts allowed)")

# Every key of the rules file, with what it may hold (docs/POPULATIONS.md, "The rules file
# is checked whole"; the ranges the spec leaves open are decided in docs/DECISIONS.md). A
# population's block is `populations.*`: which of those keys a block holds is its
# population's declaration (transforms.populations.registry).
SETTINGS: dict[str, Setting] = {
    "version": text(50),
    "time.lookback_months": LOOKBACK,
    "time.long_lookback_months": LOOKBACK,
    "time.pregnancy_carryover_months": whole(0, 60, " of months"),
    "time.adult_min_age": AGE,
    "time.aged_out_max_age_exclusive": AGE,
    "time.timezone": TimeZone(str, "a time zone of the tz database (America/Los_Angeles)"),
    "claims.void_bill_type_frequency": code("bill_type_frequency"),
    "claims.admit_type_missing_codes": codes("admit_type"),
    "events.ed_visit.institutional_revenue_codes": value_set("revenue_code"),
    "events.ed_visit.any_claim_procedure_codes": value_set("hcpcs"),
    "events.ed_visit.professional_place_of_service": value_set("place_of_service"),
    "events.ed_visit.days_before_admission_belonging_to_stay": DAYS,
    "events.stays.acute_bill_types": value_set("bill_type"),
    "events.stays.nursing_facility_bill_types": value_set("bill_type"),
    "events.stays.merge_gap_days": DAYS,
    **{key: choice(options) for key, options in METHOD_CHOICES.items()},
    "methods.nyu_avoidable_threshold": SHARE,
    # ICD-10-CM codes are 3 to 7 characters; populations.md: a prefix of 3 or more.
    "methods.nyu_min_prefix_length": whole(3, 7, " of characters"),
    "methods.admit_type.unplanned_admit_types": value_set("admit_type"),
    "methods.admit_type.newborn_admit_types": value_set("admit_type"),
    "methods.admit_type.empty_admit_type_is_unplanned": FLAG,
    "methods.delivery.principal_dx": value_set("icd10cm"),
    "methods.delivery.drg": value_set("ms_drg"),
    "methods.pqi.numerator_value_sets": names(
        lambda known: known.pqi_value_sets,
        "AHRQ PQI value sets (value_set_name of reference/pqi/pqi__value_sets.csv)",
        fewest=1,
    ),
    "methods.pqi.applies_to_age_group": choice(AGE_GROUPS),
    # A budget under 0.1 GiB cannot be kept (the process alone takes about 0.4 GiB); with
    # bytes_per_member at most 1 MiB a run never has more shards than members / 100.
    "run.memory_budget_gib": number(0.1, 4096, " of GiB"),
    "run.bytes_per_member": whole(1, 2**20, " of bytes"),
    "plan.mcp_identifier": text(50),
    "plan.mcp_name": text(100),
    "plan.dual_status_codes": codes("dual_status"),
    # The plan's code in DHCS's quarterly member file (loop.md, section 5; its Plan Name
    # is plan.mcp_name). It names the file (ECM_Quarterly_<plan code>_<YYYY>Q<n>.csv):
    # never a path.
    "plan.plan_code": Choice(
        str, "a plan code of 1 to 20 letters, digits, _ or -", _matching(r"[A-Za-z0-9_-]{1,20}")
    ),
    "guards.min_enrolled_members": whole(1, None, " of members"),
    "guards.max_quarantined_share": SHARE,
    # At least 16 KiB (a header of every column of a feed fits), at most 1 GiB.
    "guards.max_line_bytes": whole(2**14, 2**30, " of bytes"),
    "output.group_readable": FLAG,
    # The referral loop (loop.md, section 3): an open loop is overdue past max_open_days
    # (at most a year); a closed one may be referred again after re_refer_after_months
    # (0: at the next run; at most five years).
    "loop.max_open_days": whole(1, 366, " of days"),
    "loop.re_refer_after_months": whole(0, 60, " of months"),
    # The DHCS quarterly member file (loop.md, section 5): spans chained within
    # merge_gap_days (at most a year), the 16 flags and the discontinuation numbers.
    "quarterly.merge_gap_days": whole(0, 365, " of days"),
    "quarterly.flags": FLAG_MAP,
    "quarterly.discontinuation_codes": DISCONTINUATION_CODE_MAP,
    # Members with no ECM provider (loop.md, section 4): true lists a member proposed a
    # provider in that provider's member information file; false leaves them in unassigned/.
    "assignment.auto_assign": FLAG,
    # Exclusions (loop.md, section 1): the programs in force (codes of
    # reference/exclusion_programs.csv; an empty list: none), and hospice from claims: an
    # institutional claim of a bill type of the value set touching the last N days to D.
    "exclusions.programs": names(
        lambda known: known.exclusion_programs,
        "program codes of reference/exclusion_programs.csv",
    ),
    "exclusions.hospice_claim_days": whole(1, 366, " of days"),
    "exclusions.hospice_bill_types": value_set("bill_type"),
    # One share per fill-rate check the contracts declare (data_contracts, [[fill_rates]]).
    **{f"fill_rates.{name}": SHARE for name in fill_rate_check_names()},
    # One table of value aliases per table the contracts name (value_aliases_named_by):
    # [loop.aliases.ecm_status] and the others.
    **{key: value_aliases(table) for key, table in value_alias_tables().items()},
    "criteria.condition_value_sets": value_sets("icd10cm"),
    "criteria.procedure_value_sets": value_sets("hcpcs"),
    "criteria.mh_sud": value_set("icd10cm"),
    "criteria.psychiatric_revenue_codes": value_set("revenue_code"),
    "criteria.office_visit_codes": value_set("hcpcs"),
    "criteria.urgent_care_place_of_service": value_set("place_of_service"),
    "criteria.community_discharge_dispositions": value_set("discharge_disposition"),
    # Every population block.
    "populations.*.title": text(200),
    "populations.*.required_feeds": names(lambda known: known.feeds, "feed names"),
    "populations.*.partial_feeds": names(lambda known: known.feeds, "feed names"),
    "populations.*.lookback_months": LOOKBACK,
    # The settings of the populations' rules.
    "populations.*.age_group": choice(AGE_GROUPS),
    "populations.*.index_age_group": choice(AGE_GROUPS),
    "populations.*.min_avoidable_ed_visits": COUNT_NUMBER,
    "populations.*.min_avoidable_unplanned_stays": COUNT_NUMBER,
    "populations.*.min_acute_care_events": COUNT,
    "populations.*.min_mh_sud_acute_events": COUNT,
    "populations.*.min_mh_sud_dx_dates": COUNT,
    "populations.*.complex_need_criteria": names(
        lambda known: known.criteria,
        "diagnosis criteria of criteria.condition_value_sets (a set's name ending in _dx)",
        fewest=1,
    ),
    "populations.*.clinical_need_criteria": names(
        lambda known: known.criteria,
        "diagnosis criteria of criteria.condition_value_sets (a set's name ending in _dx)",
        fewest=1,
    ),
    "populations.*.races": names(
        lambda known: known.races, "race values of the eligibility contract", fewest=1
    ),
}
# Keys every population block holds, whatever its rule (read by the wiring: the report's
# title, population_status); the rest of a block is its rule's declared settings.
POPULATION_BLOCK_KEYS = ("title", "required_feeds", "partial_feeds")


@dataclass(frozen=True)
class Relation:
    """Two keys whose values, each valid on its own, must also agree."""

    key: str
    other: str
    holds: Callable[[Any, Any], bool]
    expected: str


RELATIONS = (
    Relation(
        "time.aged_out_max_age_exclusive",
        "time.adult_min_age",
        lambda aged_out, adult: aged_out > adult,
        "above time.adult_min_age",
    ),
    Relation(
        "populations.*.partial_feeds",
        "populations.*.required_feeds",
        lambda partial, required: not set(partial) & set(required),
        "no feed that required_feeds names too",
    ),
)


# --- the loaded file -------------------------------------------------------------------

_MISSING = object()


def _value_at(data: dict[str, Any], dotted: str) -> Any:
    node: Any = data
    for part in dotted.split("."):
        if not isinstance(node, dict) or part not in node:
            return _MISSING
        node = node[part]
    return node


@dataclass(frozen=True)
class Rules:
    """A loaded, checked rules file: its settings, where it was read, the sha256 of its
    bytes and its text (which a run's history keeps, so `ecm diff` can read it back)."""

    data: dict[str, Any]
    path: Path
    sha256: str
    text: str = field(default="", repr=False, compare=False)

    @property
    def version(self) -> str:
        return str(self.data["version"])

    @property
    def value_set_folders(self) -> tuple[Path, ...]:
        """Where this file's value sets are looked for before the packaged ones: the
        `value_sets/` folder beside it."""
        return (self.path.resolve().parent / VALUE_SET_FOLDER,)

    @property
    def timezone(self) -> str:
        """The plan's time zone (time.timezone): the default as-of date is the last day of
        the previous month there."""
        return self.setting("time.timezone")

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
    """Read a rules file (the packaged default when no path is given) and check it whole.

    Every key declared (`SETTINGS`) and present, of its type and range, the keys that agree
    (`RELATIONS`); every population of the file registered (`populations`) and every
    registered population in the file, its block holding exactly its declared settings;
    every value set named found and valid. A RulesError lists every problem.
    """
    path = Path(path) if path else DEFAULT_RULES_FILE
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise RulesError(f"The rules file {path} does not exist.") from None
    except OSError as exc:
        raise RulesError(f"The rules file {path} cannot be read ({exc.strerror}).") from None
    return rules_of(raw, path, populations)


def rules_of(raw: bytes, path: Path, populations: Mapping[str, Population] = POPULATIONS) -> Rules:
    """A rules file's bytes `raw`, read and checked whole as `load_rules` does, as the file
    at `path` (which need not hold them: a run's rules file kept in the warehouse's
    history, `ecm diff`): its value sets are looked for beside `path`, then packaged."""
    _check_declarations(populations)
    try:
        text = raw.decode("utf-8")
        data = tomllib.loads(text)
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise RulesError(f"The rules file {path} is not valid TOML: {exc}.") from None
    rules = Rules(data=data, path=path, sha256=hashlib.sha256(raw).hexdigest(), text=text)
    known = Known(data, ReferenceData.for_rules(rules))
    problems = _problems(data, populations, known)
    problems += known.value_set_problems()
    if problems:
        raise RulesError(
            f"The rules file {path} is not valid: {'; '.join(dict.fromkeys(problems))}. "
            f"See reference/rules.toml for the defaults and docs/POPULATIONS.md for each key."
        )
    return rules


def _check_declarations(populations: Mapping[str, Population]) -> None:
    """Every setting a population declares has its range in SETTINGS, of the same type,
    and every feed it declares reading has a contract (a declaration that breaks either is
    a bug in the code, not in the rules file)."""
    feeds = feed_order()
    for population in populations.values():
        unknown = [feed for feed in population.feeds if feed not in feeds]
        if unknown:
            raise TypeError(
                f"Population {population.code} declares reading the feed {unknown[0]}, which "
                f"has no contract in data_contracts/ (the feeds are: {', '.join(feeds)})."
            )
        declared = {_block_key(key): kind for key, kind in population.settings.items()} | dict(
            population.shared_settings.values()
        )
        for key, kind in declared.items():
            if key not in SETTINGS or SETTINGS[key].kind != kind:
                raise TypeError(
                    f"Population {population.code} declares the setting {key} ({kind}), "
                    f"which ecm.config.rules.SETTINGS does not declare with that type."
                )


def _block_key(key: str) -> str:
    return f"populations.{ANY_POPULATION}.{key}"


def _declared(dotted: str) -> str:
    """The SETTINGS key of a file key: a population's code becomes `*`."""
    parts = dotted.split(".")
    if parts[0] == "populations" and len(parts) > 1:
        parts[1] = ANY_POPULATION
    return ".".join(parts)


TABLES = frozenset(
    ".".join(key.split(".")[:end]) for key in SETTINGS for end in range(1, key.count(".") + 1)
)


def flat_settings(data: dict[str, Any]) -> dict[str, Any]:
    """Every setting of a rules file's data by its dotted key (`populations.X.lookback_months`),
    tables opened down to their values (a list or an inline value is one setting)."""

    def flat(node: Any, at: str) -> dict[str, Any]:
        if not isinstance(node, dict):
            return {at: node}
        return {k: v for key, value in node.items() for k, v in flat(value, f"{at}{key}.").items()}

    return {k.rstrip("."): v for k, v in flat(data, "").items()}


def shown(value: Any) -> str:
    """A value as the rules file writes it (TOML), cut short."""
    if isinstance(value, str):
        return json.dumps(value if len(value) <= 60 else value[:60] + "…")
    if isinstance(value, list):
        items = [shown(v) for v in value[:4]]
        return "[" + ", ".join(items + (["…"] if len(value) > 4 else [])) + "]"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and not math.isfinite(value):
        return "nan" if math.isnan(value) else f"{'-' if value < 0 else ''}inf"
    if isinstance(value, dict):
        return "a table"
    return value.isoformat() if isinstance(value, dt.date | dt.time) else str(value)


def _setting_problem(dotted: str, value: Any, known: Known) -> str | None:
    setting = SETTINGS[_declared(dotted)]
    if value is _MISSING:
        return f"{dotted} is missing: expected {setting.expected}"
    detail = setting.problem(value, known)
    if detail is None:
        return None
    return setting.message(dotted, value, detail)


def _problems(
    data: dict[str, Any], populations: Mapping[str, Population], known: Known
) -> list[str]:
    problems = _unknown_keys(data, (), populations)
    for key in SETTINGS:
        if not key.startswith("populations."):
            problem = _setting_problem(key, _value_at(data, key), known)
            problems += [problem] if problem else []
    problems += _population_problems(data, populations, known)
    problems += _relation_problems(data, populations, known)
    return problems


def _unknown_keys(
    node: dict[str, Any], at: tuple[str, ...], populations: Mapping[str, Population]
) -> list[str]:
    """Every key of the file that SETTINGS does not declare (a typo is never ignored)."""
    problems = []
    for key, value in node.items():
        path = (*at, key)
        dotted = ".".join(path)
        declared = _declared(dotted)
        if path[:1] == ("populations",) and len(path) == 2:
            if key not in populations:
                problems.append(
                    f"[populations.{key}] is a population no rule implements "
                    f"(the registered populations are: {', '.join(populations)})"
                )
            elif not isinstance(value, dict):
                problems.append(f"populations.{key} = {shown(value)}: expected a table")
            else:
                problems += _unknown_block_keys(populations[key], value)
        elif declared in TABLES and isinstance(value, dict):
            problems += _unknown_keys(value, path, populations)
        elif declared in TABLES:
            problems.append(f"{dotted} = {shown(value)}: expected a table [{dotted}]")
        elif declared not in SETTINGS:
            problems.append(_unknown(dotted, at, value))
    return problems


def _unknown(dotted: str, at: tuple[str, ...], value: Any) -> str:
    table = ".".join(at)
    siblings = sorted(
        k.removeprefix(f"{_declared(table)}.").split(".")[0]
        for k in SETTINGS
        if not table or k.startswith(f"{_declared(table)}.")
    )
    close = difflib.get_close_matches(dotted.rsplit(".", 1)[-1], siblings, n=1)
    hint = f" (did you mean {close[0]}?)" if close else ""
    where = f"[{table}]" if table else "the rules file"
    if isinstance(value, dict):
        held = ", ".join(value) or "nothing"
        return f"[{dotted}] is not a table of {where} (it holds {held}){hint}"
    return f"{dotted} is not a setting of {where}{hint}"


def _block_keys(population: Population) -> tuple[str, ...]:
    own = (OWN_LOOKBACK_SETTING,) if population.has_own_lookback else ()
    return (*POPULATION_BLOCK_KEYS, *population.settings, *own)


def _unknown_block_keys(population: Population, block: dict[str, Any]) -> list[str]:
    code = population.code
    allowed = _block_keys(population)
    problems = []
    for key in block:
        dotted = f"populations.{code}.{key}"
        if key in allowed:
            continue
        if key == OWN_LOOKBACK_SETTING:
            problems.append(
                f"{dotted} is set, but {code} reads the shared criteria, which are built over "
                f"time.lookback_months once per run: it cannot name its own lookback"
            )
        else:
            close = difflib.get_close_matches(key, allowed, n=1)
            hint = f" (did you mean {close[0]}?)" if close else ""
            problems.append(
                f"{dotted} is not a setting of {code} (its settings are: "
                f"{', '.join(sorted(allowed))}){hint}"
            )
    return problems


def _population_problems(
    data: dict[str, Any], populations: Mapping[str, Population], known: Known
) -> list[str]:
    blocks = data.get("populations")
    if not isinstance(blocks, dict):
        return [
            f"there is no [populations.CODE] table; expected one for each of "
            f"{', '.join(populations)}"
        ]
    problems = []
    for code, population in populations.items():
        block = blocks.get(code)
        if block is None:
            problems.append(
                f"[populations.{code}] is missing; every registered population needs its block"
            )
            continue
        if not isinstance(block, dict):
            continue  # named by _unknown_keys
        for key in _block_keys(population):
            value = block.get(key, _MISSING)
            if value is _MISSING and key == OWN_LOOKBACK_SETTING:
                continue  # optional: the population uses time.lookback_months
            problem = _setting_problem(f"populations.{code}.{key}", value, known)
            problems += [problem] if problem else []
    return problems


def _relation_problems(
    data: dict[str, Any], populations: Mapping[str, Population], known: Known
) -> list[str]:
    """Relations between keys whose values are each valid."""
    problems = []
    for relation in RELATIONS:
        pairs = [(relation.key, relation.other)]
        if relation.key.startswith(f"populations.{ANY_POPULATION}."):
            pairs = [
                (
                    relation.key.replace(ANY_POPULATION, code),
                    relation.other.replace(ANY_POPULATION, code),
                )
                for code in populations
            ]
        for key, other in pairs:
            value, other_value = _value_at(data, key), _value_at(data, other)
            if value is _MISSING or other_value is _MISSING:
                continue
            if _setting_problem(key, value, known) or _setting_problem(other, other_value, known):
                continue
            if not relation.holds(value, other_value):
                problems.append(
                    f"{key} = {shown(value)}: expected {relation.expected} "
                    f"({other} = {shown(other_value)})"
                )
    return problems
