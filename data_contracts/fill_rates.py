"""Fill rates of the columns the rules lean on (feeds.md: a feed can be well formed and
still too thin for a rule).

Each check is declared once, in its feed's contract (`[[fill_rates]]`: the column, the
rows it is measured on, the populations whose counts it lowers); its threshold is the
rules file's `fill_rates.<name>`. Measured on the rows the rules read: for medical_claim
the current claim lines (`int__medical_claim_current`: the latest version of each
claim, voids removed), for any other feed its staged table.

How, and why not Great Expectations over the column: DuckDB counts, in one pass over
only the columns the checks read, the rows and the filled values per combination of
the scope columns (`claim_type`, `bill_type_code`: a few hundred groups); each check's
scope is then applied to that small frame with the project's value-set matcher
(`transforms.codes.in_value_set`), so the counts are exact. GX's
`expect_column_values_to_not_be_null(mostly=threshold)` on the scoped column gives the
same verdict, but pandas-based GX costs ~1.5 s per 10M rows per check (measured
2026-12-05: 11.6 s for the 37M professional lines of 47M), about 40 s for the five checks
of a 1.5M-member plan, and a sample would blur the boundary. The verdict is GX's
`mostly` rule, exactly: a check passes when filled / rows >= threshold, compared as
fractions (a rate exactly at the threshold passes).

A scope with no rows is not a warning (nothing to lean on): it is reported with status
`no_rows`. Nothing here sees a member's row: counts only.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

import duckdb
import polars as pl

from data_contracts import FillRateCheck, fill_rate_checks
from data_contracts.sql import ident
from transforms.codes import in_value_set

# The relation the rules read, per feed (default: the staged table).
RULES_READ = {"medical_claim": "int__medical_claim_current"}
ROWS = "_rows"
OK, BELOW, NO_ROWS = "ok", "below", "no_rows"


@dataclass(frozen=True)
class FillRateRules:
    """What the checks need from the rules: `setting(dotted)` (the rules file's value,
    e.g. `fill_rates.hcpcs_code_on_professional_lines`; ecm.config.rules.Rules.setting) and
    `value_set(name)` (a value set frame; ecm.config.reference.ReferenceData.value_set)."""

    setting: Callable[[str], Any]
    value_set: Callable[[str], pl.DataFrame]
    # The populations the run evaluates (None: every one): a warning names only those, as
    # a population not evaluated (its feed absent) has no count to lower.
    evaluated: frozenset[str] | None = None

    def threshold(self, check: FillRateCheck) -> float:
        return float(self.setting(f"fill_rates.{check.name}"))

    def empty_codes(self, check: FillRateCheck) -> list[str]:
        if check.empty_codes_named_by is None:
            return []
        return [str(c) for c in self.setting(check.empty_codes_named_by)]


@dataclass(frozen=True)
class FillRate:
    """One check measured: rows in scope, rows with a value, against the threshold."""

    feed: str
    check: FillRateCheck
    rows_in_scope: int
    rows_filled: int
    threshold: float
    populations: tuple[str, ...] = ()  # those of the check the run evaluates

    @property
    def fill_rate(self) -> float | None:
        return self.rows_filled / self.rows_in_scope if self.rows_in_scope else None

    @property
    def status(self) -> str:
        if not self.rows_in_scope:
            return NO_ROWS
        return BELOW if is_below(self.rows_filled, self.rows_in_scope, self.threshold) else OK

    def as_summary(self) -> dict[str, Any]:
        """For summary.json's `data_quality.fill_rates`."""
        rate = self.fill_rate
        return {
            "feed": self.feed,
            "check": self.check.name,
            "column": self.check.column,
            "rows": self.check.rows,
            "scope": self.check.describe_scope(),
            "rows_in_scope": self.rows_in_scope,
            "rows_filled": self.rows_filled,
            "fill_rate": None if rate is None else round(rate, 6),
            "threshold": self.threshold,
            "status": self.status,
            "populations": list(self.populations),
            "detail": self.sentence(),
        }

    def as_warning(self) -> dict[str, Any]:
        """For summary.json's `data_quality.warnings` (only when `status` is below)."""
        entry = self.as_summary()
        return {
            "feed": self.feed,
            "rule": "fill_rate",
            **{k: entry[k] for k in ("check", "column", "rows", "scope", "fill_rate")},
            **{k: entry[k] for k in ("threshold", "populations", "detail")},
        }

    def sentence(self) -> str:
        """E.g. "hcpcs_code is filled on 5.4% of professional lines (12 of 221; the rules
        file's fill_rates.hcpcs_code_on_professional_lines is 50%): counts of ED visits …
        are lowered for HIGH_UTIL_ADULT, …"."""
        c = self.check
        setting = f"the rules file's fill_rates.{c.name} is {percent(self.threshold)}"
        if not self.rows_in_scope:
            return f"{c.column}: no {c.rows} to measure it on ({setting})"
        rate = percent(self.rows_filled / self.rows_in_scope)
        counts = f"{self.rows_filled:,} of {self.rows_in_scope:,}"
        said = f"{c.column} is filled on {rate} of {c.rows} ({counts}; {setting})"
        if self.status == OK:
            return said
        return f"{said}: {c.effect} for {', '.join(self.populations)}"


def is_below(filled: int, rows: int, threshold: float) -> bool:
    """GX's `mostly` rule, exactly: below when filled / rows < threshold (the threshold
    as the decimal the rules file wrote, so 9 of 10 is not below 0.9)."""
    return rows > 0 and Fraction(filled, rows) < Fraction(repr(float(threshold)))


def percent(share: float) -> str:
    """A share as a percent to 0.1, rounded down (so a rate below its threshold never
    reads as the threshold): 0.0543 → 5.4%, 0.5 → 50%, 0.49996 → 49.9%."""
    tenths = math.floor(round(share * 1000, 9))
    return f"{tenths // 10}%" if tenths % 10 == 0 else f"{tenths / 10:.1f}%"


# --- measuring --------------------------------------------------------------------------


def _filled_column(check: FillRateCheck) -> str:
    return f"_filled__{check.name}"


def fill_counts(
    con: duckdb.DuckDBPyConnection,
    relation: str,
    checks: Sequence[FillRateCheck],
    empty_codes: dict[str, list[str]],
) -> pl.DataFrame:
    """One pass over `relation` reading only the checks' columns: per combination of the
    scope columns, the rows (`_rows`) and, per check, the rows whose column holds a value
    (not empty, not one of its `empty_codes`). Small: one row per scope combination."""
    keys = list(dict.fromkeys(c.column for check in checks for c in check.scope))
    selects, params = [ident(k) for k in keys], []
    selects.append(f"count(*) as {ROWS}")
    for check in checks:
        col = ident(check.column)
        if empty_codes.get(check.name):
            params.append(empty_codes[check.name])
            selects.append(
                f"count({col}) filter (where not list_contains(?::varchar[], {col}::varchar)) "
                f"as {ident(_filled_column(check))}"
            )
        else:
            selects.append(f"count({col}) as {ident(_filled_column(check))}")
    group = " group by all" if keys else ""
    sql = f"select {', '.join(selects)} from {relation}{group}"
    return con.sql(sql, params=params).pl()


def _in_scope(check: FillRateCheck, rules: FillRateRules) -> pl.Expr:
    expr = pl.lit(True)
    for c in check.scope:
        if c.in_value_set_named_by is not None:
            value_set = rules.value_set(str(rules.setting(c.in_value_set_named_by)))
            expr = expr & in_value_set(pl.col(c.column), value_set)
        else:
            expr = expr & (pl.col(c.column) == c.equals).fill_null(False)
    return expr


def measure(
    feed: str, counts: pl.DataFrame, checks: Sequence[FillRateCheck], rules: FillRateRules
) -> list[FillRate]:
    """Each check's rows in scope and rows filled, from `fill_counts`' frame."""
    measured = []
    for check in checks:
        scoped = counts.filter(_in_scope(check, rules))
        rows, filled = scoped.select(pl.col(ROWS).sum(), pl.col(_filled_column(check)).sum()).row(0)
        populations = tuple(
            p for p in check.populations if rules.evaluated is None or p in rules.evaluated
        )
        measured.append(
            FillRate(
                feed,
                check,
                int(rows or 0),
                int(filled or 0),
                rules.threshold(check),
                populations,
            )
        )
    return measured


def measure_fill_rates(
    con: duckdb.DuckDBPyConnection, feeds: Sequence[str], rules: FillRateRules
) -> list[FillRate]:
    """Every declared check of the present `feeds`, on the rows the rules read."""
    by_feed: dict[str, list[FillRateCheck]] = {}
    for feed, check in fill_rate_checks().values():
        if feed in feeds:
            by_feed.setdefault(feed, []).append(check)
    measured = []
    for feed, checks in by_feed.items():
        empty = {c.name: rules.empty_codes(c) for c in checks}
        counts = fill_counts(con, RULES_READ.get(feed, f"stg__{feed}"), checks, empty)
        measured += measure(feed, counts, checks, rules)
    return measured
