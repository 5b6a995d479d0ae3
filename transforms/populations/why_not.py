"""The words of a "why not" line (`Population.why_not`, read by `ecm explain`): how close
a member came to a population, from their member_metrics row and the run's thresholds.

Each population module writes its own line beside its rule with these helpers, e.g.
`4 of 5 avoidable ED visits (the 5th would qualify)`, `complex social factor yes`.
Plain Python over one member's row: no frame, no path, no clock.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def _number(value: float) -> str:
    return f"{value:g}" if value == int(value) else f"{value:.2f}"


def _ordinal(n: int) -> str:
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def count_gap(count: float, threshold: float | None, one: str, many: str) -> str:
    """`4 of 5 avoidable ED visits (the 5th would qualify)`; without a threshold, the count."""
    if threshold is None:
        return f"{_number(count)} {one if count == 1 else many}"
    text = f"{_number(count)} of {_number(threshold)} {one if threshold == 1 else many}"
    missing = threshold - count
    if missing <= 0:
        return text
    if count <= 0:
        return text
    if count == int(count) and threshold == int(threshold) and missing == 1:
        return f"{text} (the {_ordinal(int(threshold))} would qualify)"
    return f"{text} ({_number(missing)} more would qualify)"


def met(flag: bool, name: str, absent: str | None = None) -> str:
    """`NAME yes` when a part of the rule is met, else `absent` (default: none in the
    lookback)."""
    return f"{name} yes" if flag else (absent or f"{name}: none in the lookback")


def threshold(block: Mapping[str, Any], name: str) -> float | None:
    """A number of the population's block of the run's rules file (None: not there)."""
    value = block.get(name)
    return float(value) if isinstance(value, int | float) else None
