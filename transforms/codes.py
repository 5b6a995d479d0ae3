"""Value-set matching: the one shared way codes are compared with code lists.

A value set is a frame with `code` and `match` (`exact` or `prefix`), codes normalised as
the staging layer normalises them (ICD-10 without dots, upper case, ...). A prefix row
matches every code that starts with it; ranges are written as prefix rows.
"""

from __future__ import annotations

import polars as pl


def _prefixes_by_length(value_set: pl.DataFrame) -> dict[int, list[str]]:
    prefixes = value_set.filter(pl.col("match") == "prefix")["code"].to_list()
    by_length: dict[int, list[str]] = {}
    for code in prefixes:
        by_length.setdefault(len(code), []).append(code)
    return by_length


def in_value_set(code: pl.Expr, value_set: pl.DataFrame) -> pl.Expr:
    """True where `code` is in the value set (exact code, or starts with a prefix row).

    Null codes are never in a value set (the expression is False, not null).
    """
    exact = value_set.filter(pl.col("match") == "exact")["code"].to_list()
    hit = code.is_in(exact) if exact else pl.lit(False)
    for length, prefixes in sorted(_prefixes_by_length(value_set).items()):
        hit = hit | code.str.slice(0, length).is_in(prefixes)
    return hit.fill_null(False)


def tag_codes(codes: pl.LazyFrame, code_column: str, value_sets: pl.DataFrame) -> pl.LazyFrame:
    """Rows of `codes` joined to every value set their code belongs to.

    `value_sets` holds several concepts at once (columns `value_set`, `code`, `match`);
    the result has the input columns plus `value_set`, one row per (row, concept) match.
    """
    parts: list[pl.LazyFrame] = []
    exact = value_sets.filter(pl.col("match") == "exact").select("value_set", "code").unique()
    if exact.height:
        parts.append(codes.join(exact.lazy(), left_on=code_column, right_on="code", how="inner"))
    prefix = value_sets.filter(pl.col("match") == "prefix").select("value_set", "code").unique()
    for length in sorted(prefix["code"].str.len_chars().unique().to_list()):
        at_length = prefix.filter(pl.col("code").str.len_chars() == length).rename(
            {"code": "_prefix"}
        )
        parts.append(
            codes.with_columns(pl.col(code_column).str.slice(0, length).alias("_prefix"))
            .join(at_length.lazy(), on="_prefix", how="inner")
            .drop("_prefix")
        )
    if not parts:
        return codes.with_columns(pl.lit(None, dtype=pl.String).alias("value_set")).head(0)
    return pl.concat(parts, how="vertical_relaxed").unique()
