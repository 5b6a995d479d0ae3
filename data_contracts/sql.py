"""The row checks of a contract, generated as DuckDB SQL.

`checked_select(contract)` is a select over `raw__<feed>` that adds two columns to every
raw row (its coded values first replaced by the allowed values the rules file's aliases
say they stand for, `aliased_values`, when the contract carries them):

- `_reject`: the first failing `error` check as 'rule|detail' (NULL when the row passes),
  the row is quarantined with it;
- `_warn`: the `warn` checks the row fails, as comma-separated check numbers (NULL when
  none); the row is kept and the loader counts them per rule (`warning_checks` says what
  each number is, in sentences that hold no value of the row). A date before its bounds
  (`implausible_dates`: a death date before 1901 or before birth) fails a `warn` check
  and is passed on empty.

A file may deliver some typed columns in their own type (`typed`: a Parquet file's dates
and whole numbers, ecm.ingest.read_parquet): such a value is its own parse, checked for
what its text would fail (a date outside `TEXT_DATE_RANGE`, a number too large), with the
same verdict and detail as the text the value means; its text is formatted only for a
failing row's detail.

The loader creates it as the view `checked__<feed>`, which the feed's staging model
(sql/staging/stg__<feed>.sql: rename, cast, normalise) selects from. Everything here
comes from the contract files and shapes.toml, never from input: column names are
checked to be plain lower-case names and literals are quoted.

The member check joins `eligibility_members` (`ELIGIBILITY_MEMBERS_SQL`: every member id
eligibility delivered, and whether any of its rows staged), so a member whose
eligibility rows were all quarantined gets `member_eligibility_quarantined`, one never
delivered `unknown_member`. Diagnosis-like position lists are checked with one regular
expression over the joined list; the failing position is looked for only in rows that
fail it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from data_contracts import ColumnSpec, FeedContract, Shape, load_shapes

ELIGIBILITY_MEMBERS = "eligibility_members"
ELIGIBILITY_MEMBERS_SQL = f"""
create or replace temp table {ELIGIBILITY_MEMBERS} as
select member_id as _member_id, bool_or(_reject is null) as _has_staged_row
from stg_checked__eligibility
where member_id is not null
group by member_id
"""

DATE_FORMATS = (
    "YYYY-MM-DD, YYYYMMDD, MM/DD/YYYY, DD-Mon-YYYY, DDMONYYYY or an ISO date-time, "
    "with a four-digit year"
)
"""The date forms `ecm_date` (sql/macros.sql) reads, in the words of a quarantine detail."""
PERIOD_FORMATS = "YYYY-MM, YYYYMM or MM/YYYY, or a date in the month"
"""The month forms `ecm_period` (sql/macros.sql) reads, in the words of a quarantine detail."""
UNKNOWN_MEMBER = "member_id is not in the eligibility feed"
MEMBER_QUARANTINED = (
    "member_id's eligibility rows were quarantined (see the eligibility feed's quarantine)"
)


@dataclass(frozen=True)
class Check:
    """One generated check: its rule, a sentence without row values, its severity, and
    the SQL expression that is 'rule|detail' when a row fails it (NULL otherwise)."""

    rule: str
    summary: str
    severity: str
    sql: str
    # The columns it reads: a check reading only columns a file does not deliver (absent,
    # or empty in every row) passes every row, and is left out of that file's select.
    columns: tuple[str, ...] = ()


# SQL quoting, the project's one home for it (data_contracts may not import ecm; ecm
# quotes with these too): every name or text put into generated SQL goes through them.


def lit(text: str | object) -> str:
    """A SQL string literal of `text` (a path, a value): `'` doubled inside."""
    return "'" + str(text).replace("'", "''") + "'"


def ident(name: str) -> str:
    """A quoted SQL identifier (a column or table name): `"` doubled inside."""
    return '"' + name.replace('"', '""') + '"'


def ident_list(names: Iterable[str]) -> str:
    """Quoted identifiers, comma-separated: the column list of a select."""
    return ", ".join(ident(name) for name in names)


def _list(values: tuple[str, ...]) -> str:
    return "[" + ", ".join(lit(v) for v in values) + "]"


TEXT_DATE_RANGE = ("0001-01-01", "9999-12-31")
"""The dates whose text (DuckDB's, `YYYY-MM-DD`) `ecm_date` reads back as the same date: a
four-digit year of our era. A typed date outside it (`10000-01-01`, `0044-03-15 (BC)`,
`infinity`) is judged as that text would be: unparseable."""

PARSED = "_parsed__"
"""The prefix of a typed column's parsed value in the checked select: parsed once, read
by its checks and passed on as the column itself."""
PARSED_TYPES = {"date": "date", "integer": "integer", "code": "varchar", "period": "date"}


def parsed_values(
    contract: FeedContract, typed: frozenset[str] = frozenset()
) -> dict[str, tuple[str, str]]:
    """Per typed column (date, integer, code, period) its parse as SQL over the raw text
    and the SQL type it gives: a date by `ecm_date`, a whole number by `ecm_integer`, a code
    by its shape's normalising macro (the same the staging models used to apply), a month
    by `ecm_period` (its first day). A column delivered in its own type (`typed`) is its
    own parse where its text would parse to the same value: a date in `TEXT_DATE_RANGE`,
    a whole number that fits an integer."""
    shapes = load_shapes()
    first, last = (f"date {lit(d)}" for d in TEXT_DATE_RANGE)
    values = {}
    for spec in contract.specs:
        c = ident(spec.name)
        if spec.type == "date" and spec.name in typed:
            values[spec.name] = (f"case when {c} between {first} and {last} then {c} end", "date")
        elif spec.type == "date":
            values[spec.name] = (f"ecm_date({c})", "date")
        elif spec.type == "integer" and spec.name in typed:
            values[spec.name] = (f"try_cast({c} as integer)", "integer")
        elif spec.type == "integer":
            values[spec.name] = (f"ecm_integer({c})", "integer")
        elif spec.type == "code":
            values[spec.name] = (f"{shapes[spec.shape].normalise}({c})", "varchar")
        elif spec.type == "period":
            values[spec.name] = (f"ecm_period({c})", "date")
    return values


def _date_value(contract: FeedContract, column: str) -> str:
    if contract.spec(column).type == "date":
        return ident(PARSED + column)
    return f"ecm_date({ident(column)})"


def implausible_dates(contract: FeedContract) -> dict[str, list[tuple[str, str]]]:
    """Per date column with bounds (`empty_before`, `empty_before_column`), each bound as
    (the SQL condition, over the parsed values, that the date is before it; the sentence
    the warning reports), a row counted under one bound only (the fixed date first). Such a
    date is staged empty (`checked_select`)."""
    bounds: dict[str, list[tuple[str, str]]] = {}
    for spec in contract.specs:
        value = ident(PARSED + spec.name)
        if spec.empty_before is not None:
            bounds.setdefault(spec.name, []).append(
                (
                    f"{value} < date {lit(spec.empty_before.isoformat())}",
                    f"{spec.name} is before {spec.empty_before.isoformat()} (a placeholder, "
                    f"not a date): treated as empty",
                )
            )
        if spec.empty_before_column is not None:
            # A row already before the fixed bound is counted there, once.
            fixed = (
                f" and not {value} < date {lit(spec.empty_before.isoformat())}"
                if spec.empty_before is not None
                else ""
            )
            bounds.setdefault(spec.name, []).append(
                (
                    f"{value} < {_date_value(contract, spec.empty_before_column)}{fixed}",
                    f"{spec.name} is before {spec.empty_before_column}: treated as empty",
                )
            )
    return bounds


def _text_of(name: str, typed: frozenset[str]) -> str:
    """SQL for the text of a raw column: itself, or the text of its typed value."""
    return f"cast({ident(name)} as varchar)" if name in typed else ident(name)


def _column_checks(
    contract: FeedContract, shapes: dict[str, Shape], typed: frozenset[str] = frozenset()
) -> list[Check]:
    checks = []
    bounds = implausible_dates(contract)
    for spec in contract.specs:
        c, col, sev = ident(spec.name), lit(spec.name), spec.severity
        # a typed value's checks (`typed`): the same verdicts, its text formatted only for
        # a failing row's detail
        how = "typed" if spec.name in typed else "parsed"
        if spec.not_null:
            present = "ecm_check_typed_present" if spec.name in typed else "ecm_check_present"
            checks.append(
                Check(
                    "missing_value",
                    f"{spec.name} is empty",
                    sev,
                    f"{present}({c}, {col})",
                    (spec.name,),
                )
            )
        if spec.type == "date":
            checks.append(
                Check(
                    "unparseable_date",
                    f"{spec.name} is not a date (expected {DATE_FORMATS})",
                    sev,
                    f"ecm_check_{how}_date({c}, {ident(PARSED + spec.name)}, {col}, "
                    f"{lit(DATE_FORMATS)})",
                    (spec.name,),
                )
            )
            checks += [
                Check(
                    "implausible_date",
                    summary,
                    "warn",
                    f"case when {before} then {lit('implausible_date|' + summary)} end",
                    (spec.name,),
                )
                for before, summary in bounds.get(spec.name, ())
            ]
        elif spec.type == "period":
            checks.append(
                Check(
                    "unparseable_date",
                    f"{spec.name} is not a month (expected {PERIOD_FORMATS})",
                    sev,
                    f"ecm_check_parsed_period({c}, {ident(PARSED + spec.name)}, {col}, "
                    f"{lit(PERIOD_FORMATS)})",
                    (spec.name,),
                )
            )
        elif spec.type == "integer":
            checks.append(
                Check(
                    "malformed_value",
                    f"{spec.name} is not a whole number",
                    sev,
                    f"ecm_check_{how}_integer({c}, {ident(PARSED + spec.name)}, {col})",
                    (spec.name,),
                )
            )
            if spec.min_value is not None:
                checks.append(
                    Check(
                        "malformed_value",
                        f"{spec.name} is less than {spec.min_value}",
                        sev,
                        f"ecm_check_at_least({_text_of(spec.name, typed)}, "
                        f"{ident(PARSED + spec.name)}, {col}, "
                        f"{int(spec.min_value)})",
                        (spec.name,),
                    )
                )
        elif spec.type == "code":
            shape = shapes[spec.shape]
            checks.append(
                Check(
                    "malformed_code",
                    f"{spec.name} is not {shape.expected}",
                    sev,
                    f"ecm_check_shape({ident(PARSED + spec.name)}, {c}, {col}, "
                    f"{lit(shape.pattern)}, {lit(shape.expected)})",
                    (spec.name,),
                )
            )
        elif spec.type == "choice":
            macro = "ecm_check_choice_upper" if spec.case == "upper" else "ecm_check_choice"
            nor, then = _nor_an_alias(spec)
            checks.append(
                Check(
                    "unknown_value",
                    f"{spec.name} is not one of: {', '.join(spec.values)}{nor}",
                    sev,
                    f"{macro}({c}, {_list(spec.values)}, {col}){then}",
                    (spec.name,),
                )
            )
        elif spec.type == "yes_no":
            nor, then = _nor_an_alias(spec)
            checks.append(
                Check(
                    "unknown_value",
                    f"{spec.name} is not Y or N{nor}",
                    sev,
                    f"ecm_check_yes_no({c}, {col}){then}",
                    (spec.name,),
                )
            )
    return checks


def _nor_an_alias(spec: ColumnSpec) -> tuple[str, str]:
    """What a quarantine detail adds for a column whose values the rules file aliases, and
    the SQL appending it to a failing check's verdict (NULL, a passing one, stays NULL)."""
    if spec.value_aliases_named_by is None:
        return "", ""
    nor = f" (nor an alias of the rules file's [{spec.value_aliases_named_by}])"
    return nor, f" || {lit(nor)}"


def aliased_values(contract: FeedContract) -> list[str]:
    """Per column with value aliases (`ColumnSpec.value_aliases`, from the rules file), SQL
    replacing a delivered value by the allowed value it stands for (compared trimmed and
    in lower case), any other value left as delivered: the checks then judge, and the
    staging model stages, the allowed value."""
    replaced = []
    for spec in contract.specs:
        if not spec.value_aliases:
            continue
        c = ident(spec.name)
        whens = " ".join(f"when {lit(k)} then {lit(v)}" for k, v in spec.value_aliases)
        replaced.append(f"case lower(trim({c})) {whens} else {c} end as {c}")
    return replaced


def _position_helpers(
    contract: FeedContract, shapes: dict[str, Shape], delivered: frozenset[str] | None = None
) -> list[str]:
    """Per position group: its delivered codes joined with '|' and the first malformed
    position (0: none). Fast paths, cheapest first: the raw joined codes match the joined
    pattern (codes delivered normalised); else the joined text normalised as a whole does.
    Only a row failing both is looked at position by position (over every position, so
    the position reported is the code's own). Positions the file does not deliver (absent,
    or empty in every row) are left out of the join: `concat_ws` skips nulls, so the joined
    text is the same. Measured on 10M claim lines: joining the 25 columns costs 1.4 s,
    normalising the joined text another 1.3 s."""
    helpers = []
    for i, group in enumerate(contract.position_codes):
        shape = shapes[group.shape]
        norm, pattern = shape.normalise, shape.pattern
        joined = lit(f"(({pattern})(\\|({pattern}))*)?")
        present = [c for c in group.columns if delivered is None or c in delivered]
        if not present:
            helpers.append(f"null::varchar as _joined_{i}")
            helpers.append(f"0 as _bad_position_{i}")
            continue
        cols = ident_list(group.columns)
        joined_cols = (
            ident(present[0]) if len(present) == 1 else f"concat_ws('|', {ident_list(present)})"
        )
        helpers.append(f"{joined_cols} as _joined_{i}")
        helpers.append(
            f"case when _joined_{i} is null or regexp_full_match(_joined_{i}, {joined}) then 0 "
            f"when coalesce(regexp_full_match({norm}(_joined_{i}), {joined}), true) then 0 "
            f"else coalesce(list_position(list_transform(list_value({cols}), "
            f"lambda d: coalesce({norm}(d) is not null and not regexp_full_match({norm}(d), "
            f"{lit(pattern)}), false)), true), 0) end as _bad_position_{i}"
        )
    return helpers


def _position_checks(contract: FeedContract, shapes: dict[str, Shape]) -> list[Check]:
    checks = []
    for i, group in enumerate(contract.position_codes):
        expected = shapes[group.shape].expected
        cols = ident_list(group.columns)
        checks.append(
            Check(
                "malformed_code",
                f"a {group.prefix}N is not {expected}",
                group.severity,
                f"case when _bad_position_{i} > 0 then 'malformed_code|' || {lit(group.prefix)} "
                f"|| _bad_position_{i} || ' ''' || list_value({cols})[_bad_position_{i}] "
                f"|| ''' is not ' || {lit(expected)} end",
                group.columns,
            )
        )
    return checks


def row_checks(contract: FeedContract, typed: frozenset[str] = frozenset()) -> list[Check]:
    """Every row check of a contract, in the order a row's first failure is reported:
    column checks (in contract order), code positions, date order, multi-column rules,
    then the member. `typed`: the columns the raw rows hold in their own type (see the
    module docstring)."""
    shapes = load_shapes()
    checks = _column_checks(contract, shapes, typed) + _position_checks(contract, shapes)
    for order in contract.date_order:
        s, e = _text_of(order.start, typed), _text_of(order.end, typed)
        ps, pe = _date_value(contract, order.start), _date_value(contract, order.end)
        checks.append(
            Check(
                "end_before_start",
                f"{order.end} is before {order.start}",
                order.severity,
                f"ecm_check_parsed_order({ps}, {pe}, {s}, {e}, {lit(order.start)}, "
                f"{lit(order.end)})",
                (order.start, order.end),
            )
        )
    for rule in contract.row_rules:  # kind 'not_all_empty', the only kind
        empty = " and ".join(
            f"{ident(c)} is null" if c in typed else f"ecm_text({ident(c)}) is null"
            for c in rule.columns
        )
        checks.append(
            Check(
                rule.rule,
                rule.detail,
                rule.severity,
                f"case when {empty} then {lit(rule.rule + '|' + rule.detail)} end",
            )
        )
    if contract.member_key:
        m = f"ecm_text(source.{ident(contract.member_key)})"
        checks.append(
            Check(
                "unknown_member",
                UNKNOWN_MEMBER,
                contract.member_severity,
                f"case when {m} is not null then case "
                f"when _members._member_id is null then {lit('unknown_member|' + UNKNOWN_MEMBER)} "
                f"when not _members._has_staged_row "
                f"then {lit('member_eligibility_quarantined|' + MEMBER_QUARANTINED)} end end",
                (contract.member_key,),
            )
        )
    return checks


def warning_checks(contract: FeedContract) -> list[Check]:
    """The `warn` checks, numbered as `_warn` numbers them (from 0)."""
    return [c for c in row_checks(contract) if c.severity == "warn"]


def _runs_on(check: Check, delivered: frozenset[str] | None) -> bool:
    """Whether a check can fail on a file delivering `delivered` (None: every column).
    A check of a date order needs both dates; any other needs one of its columns. A
    multi-column rule (`not_all_empty`) and a required value (`missing_value`) always
    run: they fail when their column is not delivered."""
    if delivered is None or not check.columns or check.rule == "missing_value":
        return True
    if check.rule == "end_before_start":
        return all(c in delivered for c in check.columns)
    return any(c in delivered for c in check.columns)


def checked_select(
    contract: FeedContract,
    delivered: frozenset[str] | None = None,
    typed: frozenset[str] = frozenset(),
) -> str:
    """The raw rows of a feed with `_reject` and `_warn` (see the module docstring).

    `delivered`: the contract columns the file(s) may hold a value in (None: all); the
    checks that read only other columns pass every row and are left out (the `_warn`
    numbers stay those of `warning_checks`). `typed`: the date and integer columns the raw
    rows hold as dates and integers, not text."""
    shapes = load_shapes()
    checks = row_checks(contract, typed)
    errors = [c.sql for c in checks if c.severity == "error" and _runs_on(c, delivered)]
    warns = [
        f"case when ({c.sql}) is not null then '{i}' end"
        for i, c in enumerate(c for c in checks if c.severity == "warn")
        if _runs_on(c, delivered)
    ]
    helpers = _position_helpers(contract, shapes, delivered)
    reject = (
        "ecm_first_failure([\n        " + ",\n        ".join(errors) + "\n    ])"
        if errors
        else "null"
    )
    warn = f"nullif(concat_ws(',', {', '.join(warns)}), '')" if warns else "null"
    join = (
        f"left join {ELIGIBILITY_MEMBERS} as _members "
        f"on ecm_text(source.{ident(contract.member_key)}) = _members._member_id"
        if contract.member_key
        else ""
    )
    parsed = parsed_values(contract, typed)
    helpers += [
        f"{sql if delivered is None or name in delivered else f'null::{kind}'} "
        f"as {ident(PARSED + name)}"
        for name, (sql, kind) in parsed.items()
    ]
    helper_names = [h.rsplit(" as ", 1)[1] for h in helpers]
    aliased = aliased_values(contract)
    star = f"raw.* replace ({', '.join(aliased)})" if aliased else "raw.*"
    located = f"select {', '.join([star, *helpers])} from raw__{contract.name} as raw"
    exclude = f" exclude ({', '.join(helper_names)})" if helper_names else ""
    if parsed:
        bounds = implausible_dates(contract)

        def staged(name: str) -> str:
            value = ident(PARSED + name)
            if name not in bounds:
                return value
            before = " or ".join(condition for condition, _summary in bounds[name])
            return f"case when {before} then null else {value} end"

        exclude += (
            " replace (" + ", ".join(f"{staged(name)} as {ident(name)}" for name in parsed) + ")"
        )
    return f"""
with

source as (
    {located}
),

checked as (
    select
        source.*{exclude},
        {reject}::varchar as _reject,
        {warn}::varchar as _warn
    from source
    {join}
)

select * from checked
"""
