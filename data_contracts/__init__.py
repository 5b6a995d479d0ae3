"""Data contracts: one TOML file per feed, the single source of that feed's checks.

A contract names the feed's columns (required and optional) and, for the columns that
have one, their type and checks: `not_null`, allowed values (`choice`, `yes_no`), code
shapes (`code` with a shape of `shapes.toml`), whole numbers (`integer`, with an optional
least value `min_value`), dates (`date`, with the bounds before which a value is no date:
`empty_before`, `empty_before_column`), months (`period`: staged as the month's first
day). A column may accept other headers (`aliases`: a template's, matched by
`header_key`) and take the rules file's aliases of its values
(`value_aliases_named_by`: the table of the rules file that maps a delivered value to an
allowed one, applied before the checks; `FeedContract.with_value_aliases`).
It also holds the date-order pairs, multi-column rules, the grain and its key, whether
the member must be in eligibility (`member_key`), each check's severity (`error`: the
row is quarantined; `warn`: reported, the row kept), expectations over the staged table
for the Great Expectations suites (`data_contracts.gx_suites`), and the fill-rate checks
of the columns the rules lean on (`[[fill_rates]]`, measured by `data_contracts.fill_rates`
against the shares of the rules file's `[fill_rates]`).

A contract is the one place a feed is declared: every `*.toml` of this folder but
`shapes.toml` is a feed. Derived from the contracts, never listed elsewhere:

- the feed order (`feed_order`), the ingest's: by each contract's `order`; a feed whose
  rows are checked against eligibility's members (`member_key`) comes after eligibility;
- what a run reads of each staged feed (`read_columns`: the columns the population rules
  and the member information file read, with the staged row key `_source_file`, `_line`
  where evidence cites a row), which ecm.warehouse.inputs turns into the run's inputs;
- the columns the synthetic generator writes (ecm.generate), in contract order.

Which populations a feed affects is not written here: a population declares the feeds it
reads (transforms.populations.Population.feeds), and `affects` is derived from that
(transforms.populations.registry.populations_reading).

The same contract drives the ingest's row checks in DuckDB (`data_contracts.sql`) and
the GX suites. A malformed contract file is a `ContractError` naming the file and key.
"""

from __future__ import annotations

import datetime as dt
import itertools
import re
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from functools import cache
from pathlib import Path
from typing import Any

CONTRACT_DIR = Path(__file__).resolve().parent
SHAPES_FILE = "shapes.toml"
# The feed whose members every other feed's rows are checked against (`member_key`).
MEMBERS_FEED = "eligibility"
# The staged row key: the file a row came from and its line. A feed whose rows evidence
# cites (`file:line`) lists them in its `read_columns`.
ROW_KEY_COLUMNS = ("_source_file", "_line")

# The column types whose values the staged table's suite expects in a set
# (data_contracts.gx_suites.table_expectations).
SUITE_SETS = ("choice", "yes_no")
COLUMN_TYPES = ("text", "date", "integer", "code", "choice", "yes_no", "period")
# The column types whose values the rules file may alias (a value stands for another).
ALIASED_TYPES = ("text", "choice", "yes_no")
YES_NO = ("Y", "N")
SEVERITIES = ("error", "warn")
ROW_RULE_KINDS = ("not_all_empty",)
_NAME = re.compile(r"[a-z_][a-z0-9_]*")
_SETTING = re.compile(r"[a-z_][a-z0-9_]*(\.[a-z_][a-z0-9_]*)+")


class ContractError(ValueError):
    """A contract file that cannot be used: names the file and the key."""


def header_key(name: str) -> str:
    """A header as an alias is matched: lower case, every character but letters and digits
    removed ("Member Client Index Number (CIN)" is "memberclientindexnumbercin")."""
    return "".join(ch for ch in name.lower() if ch.isalnum())


@dataclass(frozen=True)
class Shape:
    """A code shape: its normalising macro, the pattern it must match, its description."""

    name: str
    normalise: str
    pattern: str
    expected: str


@dataclass(frozen=True)
class ColumnSpec:
    """One column's type and checks. `severity` applies to every check of the column."""

    name: str
    type: str = "text"
    not_null: bool = False
    severity: str = "error"
    values: tuple[str, ...] = ()
    case: str = "lower"
    shape: str | None = None
    not_null_mostly: float | None = None
    values_mostly: float = 1.0
    # A date before `empty_before`, or before the row's `empty_before_column` date, cannot
    # be one (a placeholder such as 1900-01-01; a death before birth): it is staged empty
    # and counted as a warning (rule implausible_date), never quarantined.
    empty_before: dt.date | None = None
    empty_before_column: str | None = None
    # Other headers the column is delivered under (a template's: DHCS's "Member Client
    # Index Number (CIN)"), matched by `header_key`.
    aliases: tuple[str, ...] = ()
    # The least whole number an `integer` column may hold (a count: 0).
    min_value: int | None = None
    # The rules-file table of aliases of the column's values ("loop.aliases.ecm_status":
    # a delivered value, compared trimmed and in any case, and the allowed value it
    # stands for), and those aliases as the rules file gives them, lower-cased
    # (`FeedContract.with_value_aliases`; empty until then).
    value_aliases_named_by: str | None = None
    value_aliases: tuple[tuple[str, str], ...] = ()
    # A choice column's values in words, as the template that defines them names them
    # (the RTF's discontinuation reason codes: `WM` "well managed"), in the order of
    # `values`: what a report shows beside a code. Some, all or none of the values.
    value_names: tuple[tuple[str, str], ...] = ()

    @property
    def allowed_values(self) -> tuple[str, ...]:
        """The values the column may hold once staged, in their staged case (a choice's
        values, Y and N); empty for a column of any text."""
        if self.type == "yes_no":
            return YES_NO
        return tuple(v.upper() if self.case == "upper" else v.lower() for v in self.values)

    @property
    def names_of_values(self) -> dict[str, str]:
        """The values that have a name (`value_names`), in their staged case → the name."""
        return {self._staged_case(v): name for v, name in self.value_names}

    def _staged_case(self, value: str) -> str:
        return value.upper() if self.case == "upper" else value.lower()


@dataclass(frozen=True)
class DateOrder:
    """`end` may not be before `start` (either may be empty)."""

    start: str
    end: str
    severity: str = "error"


@dataclass(frozen=True)
class RowRule:
    """A check over several columns, e.g. `not_all_empty`: not every column empty."""

    kind: str
    columns: tuple[str, ...]
    rule: str
    detail: str
    severity: str = "error"


@dataclass(frozen=True)
class PositionCodes:
    """Numbered columns `<prefix>1 … <prefix><positions>` holding codes of one shape,
    checked with one pattern over the joined list (the failing position located only
    for the rows that fail)."""

    prefix: str
    positions: int
    shape: str
    severity: str = "error"

    @property
    def columns(self) -> tuple[str, ...]:
        return tuple(f"{self.prefix}{i}" for i in range(1, self.positions + 1))


@dataclass(frozen=True)
class Expectation:
    """An extra Great Expectations expectation on the staged table: its snake-case type
    (e.g. `expect_column_values_to_be_between`) and keyword arguments."""

    type: str
    kwargs: dict[str, Any]


@dataclass(frozen=True)
class ScopeCondition:
    """One condition of a fill-rate check's scope: `column` equals `equals`, or holds a
    code of the value set that the rules-file setting `in_value_set_named_by` names (e.g.
    `events.stays.acute_bill_types`, so that the scope follows the rules)."""

    column: str
    equals: str | None = None
    in_value_set_named_by: str | None = None

    def describe(self) -> str:
        if self.in_value_set_named_by is not None:
            return f"{self.column} in the value set of {self.in_value_set_named_by}"
        return f"{self.column} = {self.equals}"


@dataclass(frozen=True)
class FillRateCheck:
    """A column the rules lean on, and the rows on which it should be filled.

    `name` is its key in the rules file's `[fill_rates]` (the least share of the rows in
    scope that must hold a value); `rows` says those rows in words ("professional lines");
    `scope` are the conditions that pick them (none: every row); `empty_codes_named_by`, a
    rules-file setting listing codes that the rules treat as empty (admit type 9);
    `effect`, what a thin column does to the rules, in words; `populations`, the codes
    whose counts it lowers."""

    name: str
    column: str
    rows: str
    scope: tuple[ScopeCondition, ...]
    effect: str
    populations: tuple[str, ...]
    empty_codes_named_by: str | None = None

    @property
    def columns(self) -> tuple[str, ...]:
        """The columns the check reads: its scope's and its own."""
        return (*dict.fromkeys(c.column for c in self.scope), self.column)

    def describe_scope(self) -> str:
        return " and ".join(c.describe() for c in self.scope) or "every row"


@dataclass(frozen=True)
class FeedContract:
    """What a feed must and may hold, and the checks its rows and table must pass."""

    name: str
    required: bool
    grain: str
    required_columns: tuple[str, ...]
    optional_columns: tuple[str, ...]
    # Its place in the feed order (`feed_order`): the ingest stages feeds in this order.
    order: int = 0
    # The columns a run reads of the staged feed, in this order (ecm.warehouse.inputs);
    # contract columns, and the row key (ROW_KEY_COLUMNS) where evidence cites a row.
    # Empty: no rule reads the feed (it is checked and staged only).
    read_columns: tuple[str, ...] = ()
    # A feed kept whole (`stored_columns` declared): each delivered file is kept as it
    # came, in the warehouse's folder (ecm.ingest.delivered: the view `delivered__<feed>`),
    # and the staged table stores only these columns, what a run reads of the feed (its
    # rows are still checked in every delivered column). Empty: every column is stored.
    stored_columns: tuple[str, ...] = ()
    grain_key: tuple[str, ...] = ()
    grain_severity: str = "warn"
    member_key: str | None = None
    member_severity: str = "error"
    specs: tuple[ColumnSpec, ...] = ()
    date_order: tuple[DateOrder, ...] = ()
    row_rules: tuple[RowRule, ...] = ()
    position_codes: tuple[PositionCodes, ...] = ()
    expectations: tuple[Expectation, ...] = ()
    fill_rates: tuple[FillRateCheck, ...] = ()
    path: Path | None = None

    @property
    def columns(self) -> tuple[str, ...]:
        return self.required_columns + self.optional_columns

    @property
    def kept_whole(self) -> bool:
        """Whether the feed's delivered files are kept whole beside the warehouse and its
        staged table stores only `stored_columns`."""
        return bool(self.stored_columns)

    def spec(self, column: str) -> ColumnSpec:
        """The column's spec (a plain `text` column when the contract says nothing)."""
        for s in self.specs:
            if s.name == column:
                return s
        return ColumnSpec(column)

    @property
    def header_aliases(self) -> dict[str, str]:
        """The columns' other headers: `header_key` of each alias → the column."""
        return {header_key(a): s.name for s in self.specs for a in s.aliases}

    def with_value_aliases(self, table: Callable[[str], Mapping[str, str]]) -> FeedContract:
        """The contract with the value aliases of its columns that declare a rules-file
        table (`value_aliases_named_by`): `table(key)` gives that table (delivered value →
        allowed value), as the loaded rules file holds it. The delivered values are kept
        trimmed and lower-cased, as they are compared."""
        specs = tuple(
            replace(
                s,
                value_aliases=tuple(
                    sorted(
                        (k.strip().lower(), v) for k, v in table(s.value_aliases_named_by).items()
                    )
                ),
            )
            if s.value_aliases_named_by
            else s
            for s in self.specs
        )
        return replace(self, specs=specs)


# --- reading ---------------------------------------------------------------------------


class _Reader:
    """Typed access to one TOML table, failing with the file and the dotted key."""

    def __init__(self, path: Path, data: dict, prefix: str = "") -> None:
        self.path, self.data, self.prefix = path, data, prefix
        self.used: set[str] = set()

    def fail(self, key: str, message: str) -> ContractError:
        return ContractError(f"{self.path}: key '{self.prefix}{key}': {message}")

    def get(self, key: str, kind: type | tuple[type, ...], default: Any = ...) -> Any:
        self.used.add(key)
        if key not in self.data:
            if default is ...:
                raise self.fail(key, "is missing")
            return default
        value = self.data[key]
        if kind is float and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        if not isinstance(value, kind) or (kind is not bool and isinstance(value, bool)):
            names = kind.__name__ if isinstance(kind, type) else "/".join(k.__name__ for k in kind)
            raise self.fail(key, f"expected a {names}, found {type(value).__name__} {value!r}")
        return value

    def names(self, key: str, default: Any = ...) -> tuple[str, ...]:
        value = self.get(key, list, default)
        if not all(isinstance(v, str) for v in value):
            raise self.fail(key, "expected a list of strings")
        return tuple(value)

    def choice(self, key: str, allowed: tuple[str, ...], default: str) -> str:
        value = self.get(key, str, default)
        if value not in allowed:
            raise self.fail(key, f"'{value}' is not one of: {', '.join(allowed)}")
        return value

    def sub(self, key: str, data: dict) -> _Reader:
        return _Reader(self.path, data, f"{self.prefix}{key}.")

    def finish(self) -> None:
        unknown = sorted(set(self.data) - self.used)
        if unknown:
            raise self.fail(unknown[0], "is not a contract key")


@cache
def load_shapes() -> dict[str, Shape]:
    """The code shapes of `shapes.toml`, by name."""
    path = CONTRACT_DIR / "shapes.toml"
    data = _read_toml(path)
    shapes = {}
    for name, table in data.items():
        r = _Reader(path, table, f"{name}.")
        pattern = r.get("pattern", str)
        try:
            re.compile(pattern)
        except re.error as exc:
            raise r.fail("pattern", f"is not a regular expression ({exc})") from None
        shapes[name] = Shape(name, r.get("normalise", str), pattern, r.get("expected", str))
        if not _NAME.fullmatch(shapes[name].normalise):
            raise r.fail("normalise", "expected a macro name")
        r.finish()
    return shapes


def _read_toml(path: Path) -> dict:
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise ContractError(f"{path}: not valid TOML ({exc})") from None


def _column_spec(r: _Reader, name: str, shapes: dict[str, Shape]) -> ColumnSpec:
    kind = r.choice("type", COLUMN_TYPES, "text")
    values = r.names("values", ())
    shape = r.get("shape", str, None)
    if kind == "choice" and not values:
        raise r.fail("values", "a choice column needs its allowed values")
    if kind != "choice" and values:
        raise r.fail("values", "only a choice column has allowed values")
    if (kind == "code") != (shape is not None):
        raise r.fail("shape", "a code column needs a shape, and only a code column has one")
    if shape is not None and shape not in shapes:
        raise r.fail("shape", f"'{shape}' is not a shape of shapes.toml ({', '.join(shapes)})")
    empty_before = r.get("empty_before", dt.date, None)
    if isinstance(empty_before, dt.datetime):
        raise r.fail("empty_before", "expected a date (YYYY-MM-DD), not a date-time")
    empty_before_column = r.get("empty_before_column", str, None)
    for key, bound in (
        ("empty_before", empty_before),
        ("empty_before_column", empty_before_column),
    ):
        if bound is not None and kind != "date":
            raise r.fail(key, "only a date column has a bound before which it is empty")
    aliases = _header_aliases(r)
    min_value, named_by = _least_and_value_aliases(r, kind)
    value_names = _value_names(r, values)
    mostly = r.get("not_null_mostly", float, None)
    values_mostly = r.get("values_mostly", float, 1.0)
    for key, share in (("not_null_mostly", mostly), ("values_mostly", values_mostly)):
        if share is not None and not 0.0 <= share <= 1.0:
            raise r.fail(key, "expected a share between 0 and 1")
    spec = ColumnSpec(
        name=name,
        type=kind,
        not_null=r.get("not_null", bool, False),
        severity=r.choice("severity", SEVERITIES, "error"),
        values=values,
        case=r.choice("case", ("lower", "upper"), "lower"),
        shape=shape,
        not_null_mostly=mostly,
        values_mostly=values_mostly,
        empty_before=empty_before,
        empty_before_column=empty_before_column,
        aliases=aliases,
        min_value=min_value,
        value_aliases_named_by=named_by,
        value_names=value_names,
    )
    r.finish()
    return spec


def _value_names(r: _Reader, values: tuple[str, ...]) -> tuple[tuple[str, str], ...]:
    """A choice column's `value_names`: a table of some of its `values` → a name (text
    with a letter), kept in the order of `values`."""
    names = r.get("value_names", dict, {})
    if names and not values:
        raise r.fail("value_names", "only a choice column names its values")
    for value, name in names.items():
        if value not in values:
            raise r.fail("value_names", f"'{value}' is not one of: {', '.join(values)}")
        if not isinstance(name, str) or not name.strip():
            raise r.fail("value_names", f"the name of '{value}' must be a text, not {name!r}")
    return tuple((v, names[v]) for v in values if v in names)


def _header_aliases(r: _Reader) -> tuple[str, ...]:
    """A column's `aliases`: other headers it is delivered under, each with a letter or a
    digit (`header_key` compares only those)."""
    aliases = r.names("aliases", ())
    for alias in aliases:
        if not header_key(alias):
            raise r.fail("aliases", f"'{alias}' has no letter or digit to match a header by")
    return aliases


def _least_and_value_aliases(r: _Reader, kind: str) -> tuple[int | None, str | None]:
    """A column's `min_value` (an integer column's) and `value_aliases_named_by` (a text,
    choice or yes/no column's: a dotted rules-file setting)."""
    min_value = r.get("min_value", int, None)
    if min_value is not None and kind != "integer":
        raise r.fail("min_value", "only an integer column has a least value")
    named_by = r.get("value_aliases_named_by", str, None)
    if named_by is not None and kind not in ALIASED_TYPES:
        raise r.fail(
            "value_aliases_named_by",
            f"only a column of type {', '.join(ALIASED_TYPES)} takes aliases of its values",
        )
    if named_by is not None and not _SETTING.fullmatch(named_by):
        raise r.fail("value_aliases_named_by", "expected a dotted rules-file setting")
    return min_value, named_by


def _check_header_aliases(r: _Reader, specs: list[ColumnSpec], columns: tuple[str, ...]) -> None:
    """No header may match two columns: an alias is neither another column's alias nor
    another column's name (each as `header_key` compares them)."""
    owners = {header_key(c): (c, "the name") for c in columns}
    for spec in specs:
        for alias in spec.aliases:
            owner, what = owners.setdefault(header_key(alias), (spec.name, f"alias '{alias}'"))
            if owner != spec.name:
                raise r.fail(
                    f"columns.{spec.name}.aliases",
                    f"'{alias}' would match column {owner} too ({what} of {owner}): a header "
                    f"must name one column",
                )


def _known(r: _Reader, key: str, columns: tuple[str, ...], names: tuple[str, ...]) -> None:
    for c in names:
        if c not in columns:
            raise r.fail(key, f"'{c}' is not a column of the contract")


def _orders(r: _Reader, columns: tuple[str, ...]) -> tuple[DateOrder, ...]:
    orders = []
    for i, table in enumerate(r.get("date_order", list, [])):
        sub = r.sub(f"date_order[{i}]", table)
        order = DateOrder(
            sub.get("start", str), sub.get("end", str), sub.choice("severity", SEVERITIES, "error")
        )
        _known(sub, "start", columns, (order.start, order.end))
        sub.finish()
        orders.append(order)
    return tuple(orders)


def _row_rules(r: _Reader, columns: tuple[str, ...]) -> tuple[RowRule, ...]:
    rules = []
    for i, table in enumerate(r.get("row_rules", list, [])):
        sub = r.sub(f"row_rules[{i}]", table)
        rule = RowRule(
            kind=sub.choice("kind", ROW_RULE_KINDS, "not_all_empty"),
            columns=sub.names("columns"),
            rule=sub.get("rule", str),
            detail=sub.get("detail", str),
            severity=sub.choice("severity", SEVERITIES, "error"),
        )
        _known(sub, "columns", columns, rule.columns)
        sub.finish()
        rules.append(rule)
    return tuple(rules)


def _positions(r: _Reader, columns: tuple[str, ...], shapes: dict) -> tuple[PositionCodes, ...]:
    groups = []
    for i, table in enumerate(r.get("position_codes", list, [])):
        sub = r.sub(f"position_codes[{i}]", table)
        group = PositionCodes(
            prefix=sub.get("prefix", str),
            positions=sub.get("positions", int),
            shape=sub.get("shape", str),
            severity=sub.choice("severity", SEVERITIES, "error"),
        )
        if group.shape not in shapes:
            raise sub.fail("shape", f"'{group.shape}' is not a shape of shapes.toml")
        _known(sub, "prefix", columns, group.columns)
        sub.finish()
        groups.append(group)
    return tuple(groups)


def _expectations(r: _Reader, columns: tuple[str, ...]) -> tuple[Expectation, ...]:
    expectations = []
    for i, table in enumerate(r.get("expectations", list, [])):
        sub = r.sub(f"expectations[{i}]", table)
        kind = sub.get("type", str)
        if not re.fullmatch(r"expect_[a-z_]+", kind):
            raise sub.fail("type", "expected a Great Expectations type such as expect_…")
        kwargs = {k: v for k, v in table.items() if k != "type"}
        for key in ("column", "column_list"):
            if key in kwargs:
                named = (kwargs[key],) if isinstance(kwargs[key], str) else tuple(kwargs[key])
                _known(sub, key, columns, named)
        expectations.append(Expectation(kind, kwargs))
    return tuple(expectations)


def _scope(r: _Reader, contract_specs: dict[str, ColumnSpec], columns: tuple[str, ...]):
    conditions = []
    for column, condition in r.get("where", dict, {}).items():
        if column not in columns:
            raise r.fail(f"where.{column}", "is not a column of the contract")
        if isinstance(condition, str):
            spec = contract_specs.get(column, ColumnSpec(column))
            allowed = [v.upper() if spec.case == "upper" else v.lower() for v in spec.values]
            if spec.type == "choice" and condition not in allowed:
                raise r.fail(
                    f"where.{column}", f"'{condition}' is not one of: {', '.join(allowed)}"
                )
            conditions.append(ScopeCondition(column, equals=condition))
        elif isinstance(condition, dict):
            sub = r.sub(f"where.{column}", condition)
            named_by = sub.get("in_value_set_named_by", str)
            if not _SETTING.fullmatch(named_by):
                raise sub.fail("in_value_set_named_by", "expected a dotted rules-file setting")
            sub.finish()
            conditions.append(ScopeCondition(column, in_value_set_named_by=named_by))
        else:
            raise r.fail(
                f"where.{column}",
                'expected a value, or a table { in_value_set_named_by = "<setting>" }',
            )
    return tuple(conditions)


def _fill_rates(
    r: _Reader, specs: list[ColumnSpec], columns: tuple[str, ...]
) -> tuple[FillRateCheck, ...]:
    checks = []
    by_name = {s.name: s for s in specs}
    for i, table in enumerate(r.get("fill_rates", list, [])):
        if not isinstance(table, dict):
            raise r.fail(f"fill_rates[{i}]", "expected a table ([[fill_rates]])")
        sub = r.sub(f"fill_rates[{i}]", table)
        name = sub.get("name", str)
        if not _NAME.fullmatch(name):
            raise sub.fail("name", f"'{name}' is not a lower-case key (the rules file's)")
        if name in (c.name for c in checks):
            raise sub.fail("name", f"'{name}' is declared twice")
        column = sub.get("column", str)
        _known(sub, "column", columns, (column,))
        populations = sub.names("populations")
        if not populations:
            raise sub.fail("populations", "name the populations whose counts it lowers")
        empty = sub.get("empty_codes_named_by", str, None)
        if empty is not None and not _SETTING.fullmatch(empty):
            raise sub.fail("empty_codes_named_by", "expected a dotted rules-file setting")
        checks.append(
            FillRateCheck(
                name=name,
                column=column,
                rows=sub.get("rows", str),
                scope=_scope(sub, by_name, columns),
                effect=sub.get("effect", str),
                populations=populations,
                empty_codes_named_by=empty,
            )
        )
        sub.finish()
    return tuple(checks)


def parse_contract(path: Path, data: dict) -> FeedContract:
    """A contract from its parsed TOML; a `ContractError` names the file and key."""
    shapes = load_shapes()
    r = _Reader(path, data)
    name = r.get("name", str)
    required_columns = r.names("required_columns")
    optional_columns = r.names("optional_columns")
    columns = required_columns + optional_columns
    for c in columns:
        if not _NAME.fullmatch(c):
            raise r.fail("required_columns", f"'{c}' is not a lower-case column name")
    if len(set(columns)) != len(columns):
        raise r.fail("optional_columns", "a column is named twice")
    specs = []
    for col, table in r.get("columns", dict, {}).items():
        if col not in columns:
            raise r.fail(f"columns.{col}", "is not a column of required_ or optional_columns")
        specs.append(_column_spec(r.sub(f"columns.{col}", table), col, shapes))
    _check_header_aliases(r, specs, columns)
    dates = {s.name for s in specs if s.type == "date"}
    for spec in specs:
        if spec.empty_before_column is not None and spec.empty_before_column not in dates:
            raise r.fail(
                f"columns.{spec.name}.empty_before_column",
                f"'{spec.empty_before_column}' is not a date column of the contract",
            )
    grain_key = r.names("grain_key")
    _known(r, "grain_key", columns, grain_key)
    member_key = r.get("member_key", str, None)
    if member_key is not None:
        _known(r, "member_key", columns, (member_key,))
    order = r.get("order", int)
    if order < 1:
        raise r.fail("order", f"{order} is not a place in the feed order; expected 1 or more")
    read_columns = r.names("read_columns", ())
    _known(r, "read_columns", columns + ROW_KEY_COLUMNS, read_columns)
    if len(set(read_columns)) != len(read_columns):
        raise r.fail("read_columns", "a column is named twice")
    stored_columns = _stored_names(r, columns)
    contract = FeedContract(
        name=name,
        required=r.get("required", bool),
        grain=r.get("grain", str),
        required_columns=required_columns,
        optional_columns=optional_columns,
        order=order,
        read_columns=read_columns,
        stored_columns=stored_columns,
        grain_key=grain_key,
        grain_severity=r.choice("grain_severity", ("warn",), "warn"),
        member_key=member_key,
        member_severity=r.choice("member_severity", SEVERITIES, "error"),
        specs=tuple(specs),
        date_order=_orders(r, columns),
        row_rules=_row_rules(r, columns),
        position_codes=_positions(r, columns, shapes),
        expectations=_expectations(r, columns),
        fill_rates=_fill_rates(r, specs, columns),
        path=path,
    )
    if stored_columns:
        _check_stored(r, contract)
    r.finish()
    if path.stem != name:
        raise r.fail("name", f"'{name}' does not match the file name {path.name}")
    return contract


def _stored_names(r: _Reader, columns: tuple[str, ...]) -> tuple[str, ...]:
    stored_columns = r.names("stored_columns", ())
    _known(r, "stored_columns", columns, stored_columns)
    if len(set(stored_columns)) != len(stored_columns):
        raise r.fail("stored_columns", "a column is named twice")
    return stored_columns


def _check_stored(r: _Reader, contract: FeedContract) -> None:
    """A feed kept whole stores at least what its contract itself reads of the staged
    table: the read columns, the grain and member keys, the columns of its expectations
    and fill-rate checks."""
    needed = [c for c in contract.read_columns if c not in ROW_KEY_COLUMNS]
    needed += [*contract.grain_key, *([contract.member_key] if contract.member_key else [])]
    needed += [
        s.name for s in contract.specs if s.not_null_mostly is not None or s.type in SUITE_SETS
    ]
    for e in contract.expectations:
        needed += [e.kwargs["column"]] if "column" in e.kwargs else e.kwargs.get("column_list", [])
    for check in contract.fill_rates:
        needed += [check.column, *(s.column for s in check.scope)]
    missing = [c for c in dict.fromkeys(needed) if c not in contract.stored_columns]
    if missing:
        raise r.fail(
            "stored_columns",
            f"lacks {', '.join(missing)}: the contract reads them of the staged table "
            f"(read_columns, grain_key, member_key, expectations, fill_rates)",
        )


@cache
def _load(path: Path) -> FeedContract:
    return parse_contract(path, _read_toml(path))


def load_contract(name: str) -> FeedContract:
    path = CONTRACT_DIR / f"{name}.toml"
    if not path.is_file():
        raise ContractError(f"{path}: no contract for the feed '{name}'")
    return _load(path)


@cache
def _ordered(directory: Path) -> tuple[FeedContract, ...]:
    contracts = sorted(
        (_load(path) for path in sorted(directory.glob("*.toml")) if path.name != SHAPES_FILE),
        key=lambda c: c.order,
    )
    for before, after in itertools.pairwise(contracts):
        if before.order == after.order:
            raise ContractError(
                f"{after.path}: key 'order': {after.order} is the order of the {before.name} "
                f"contract too; expected a place of its own in the feed order"
            )
    members = next((c for c in contracts if c.name == MEMBERS_FEED), None)
    for contract in contracts:
        if contract.member_key is None:
            continue
        if members is None:
            raise ContractError(
                f"{contract.path}: key 'member_key': there is no {MEMBERS_FEED} contract "
                f"whose members its rows are checked against"
            )
        if contract.order <= members.order:
            raise ContractError(
                f"{contract.path}: key 'order': {contract.order} stages it before "
                f"{MEMBERS_FEED} (order {members.order}), whose members its rows are checked "
                f"against (member_key); expected more than {members.order}"
            )
    return tuple(contracts)


def load_contracts(directory: Path | None = None) -> dict[str, FeedContract]:
    """Every feed's contract (each `*.toml` of `directory`, default this package's folder,
    but shapes.toml), in the feed order: by their `order`, a feed checked against
    eligibility's members after eligibility. Two contracts of one order, or a member-keyed
    feed before eligibility, are a ContractError."""
    return {c.name: c for c in _ordered(directory or CONTRACT_DIR)}


def feed_order(directory: Path | None = None) -> tuple[str, ...]:
    """The feeds, in ingest order (`load_contracts`)."""
    return tuple(load_contracts(directory))


def fill_rate_checks() -> dict[str, tuple[str, FillRateCheck]]:
    """Every feed's fill-rate checks by name (the keys of the rules file's `[fill_rates]`),
    each with its feed, in ingest order. A name declared by two feeds is a ContractError."""
    checks: dict[str, tuple[str, FillRateCheck]] = {}
    for feed, contract in load_contracts().items():
        for check in contract.fill_rates:
            if check.name in checks:
                raise ContractError(
                    f"{contract.path}: key 'fill_rates': '{check.name}' is declared by the "
                    f"{checks[check.name][0]} contract too (the rules file has one key per check)"
                )
            checks[check.name] = (feed, check)
    return checks


def fill_rate_check_names() -> tuple[str, ...]:
    """The declared fill-rate checks' names: the keys the rules file's `[fill_rates]` must
    hold, each a share between 0 and 1 (ecm.config.rules checks them)."""
    return tuple(fill_rate_checks())


@dataclass(frozen=True)
class ValueAliasTable:
    """A rules-file table of value aliases the contracts name (`value_aliases_named_by`):
    its key (`loop.aliases.ecm_status`), the columns it serves (`provider_return.ecm_status`)
    and the values an alias may stand for (empty: any text)."""

    key: str
    columns: tuple[str, ...]
    allowed: tuple[str, ...]


def value_alias_tables() -> dict[str, ValueAliasTable]:
    """Every rules-file table of value aliases the contracts name, by key (the keys the
    rules file must hold, checked by ecm.config.rules). Columns of two feeds may share a
    table only when they allow the same values: a ContractError otherwise."""
    tables: dict[str, ValueAliasTable] = {}
    for feed, contract in load_contracts().items():
        for spec in contract.specs:
            key = spec.value_aliases_named_by
            if key is None:
                continue
            column = f"{feed}.{spec.name}"
            known = tables.get(key)
            if known is not None and known.allowed != spec.allowed_values:
                raise ContractError(
                    f"{contract.path}: key 'columns.{spec.name}.value_aliases_named_by': "
                    f"'{key}' serves {', '.join(known.columns)} too, which allows other values"
                )
            columns = (*known.columns, column) if known else (column,)
            tables[key] = ValueAliasTable(key, columns, spec.allowed_values)
    return tables
