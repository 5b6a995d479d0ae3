"""One vocabulary of code strings for the generator: arrays hold int32 indices into it and
rendering gathers the strings once per written batch.

A code is stored normalised (`J069`, `0450`); the rendering picks, per claim, the form a
feed writes it in: with the ICD-10 dot (`J06.9`) or a revenue code without its leading
zero (`450`).
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import polars as pl


def dotted(code: str) -> str:
    """An ICD-10-CM code with its dot after the category (J069 -> J06.9; J00 stays)."""
    return f"{code[:3]}.{code[3:]}" if len(code) > 3 else code


def short_revenue(code: str) -> str:
    """A revenue code as some feeds write it: 3 digits without the leading zero."""
    return code[1:] if len(code) == 4 and code.startswith("0") else code


class Vocab:
    """Append-only list of codes; an index is stable once given."""

    def __init__(self, codes: Iterable[str] = ()) -> None:
        self.codes: list[str] = []
        self._index: dict[str, int] = {}
        for code in codes:
            self.index(code)

    def index(self, code: str) -> int:
        found = self._index.get(code)
        if found is None:
            found = len(self.codes)
            self._index[code] = found
            self.codes.append(code)
        return found

    def indices(self, codes: Iterable[str]) -> np.ndarray:
        return np.array([self.index(c) for c in codes], dtype=np.int32)

    def series(self, form: str = "plain") -> pl.Series:
        if form == "dotted":
            return pl.Series([dotted(c) for c in self.codes], dtype=pl.String)
        if form == "short":
            return pl.Series([short_revenue(c) for c in self.codes], dtype=pl.String)
        return pl.Series(self.codes, dtype=pl.String)


def gather(series: pl.Series, idx: np.ndarray) -> pl.Series:
    """Strings for indices; -1 gives null."""
    return series.gather(pl.Series(np.ma.masked_array(idx, idx < 0), dtype=pl.Int64))
