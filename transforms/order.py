"""Deterministic order: results must not depend on the order rows arrive in (the warehouse
does not preserve insertion order, to keep large ingests within memory)."""

from __future__ import annotations

import polars as pl


def sort_fully(
    frame: pl.LazyFrame, by: list[str], descending: list[bool] | None = None
) -> pl.LazyFrame:
    """Sort by `by`, then by every other column ascending, nulls first, so that rows that
    tie on `by` still come in one order whatever order they arrived in."""
    descending = descending or [False] * len(by)
    rest = [c for c in frame.collect_schema().names() if c not in by]
    return frame.sort(
        [*by, *rest], descending=[*descending, *[False] * len(rest)], nulls_last=False
    )
