"""A feed file's header: its column names normalised (trimmed, lower case, no BOM) and
checked against the feed's contract, for every format alike.

A header that repeats a name or lacks a required column is an InputError; a first line
that looks like a data row is never echoed (it would put a member's values into the
error).
"""

from __future__ import annotations

import re
from pathlib import Path

from data_contracts import FeedContract
from ecm.errors import InputError
from ecm.ingest.discover import suffix_of

META_COLUMNS = ("_source_file", "_line")
"""The columns every file as read starts with: its path relative to the input folder and
the line (a Parquet file's row, a sheet's row) each row came from."""
DELIMITER_NAMES = {",": "','", "|": "'|'", "\t": "tab"}


def delimited(sep: str) -> str:
    """`sep` in an error's words: `','-delimited`, `tab-delimited`."""
    return f"{DELIMITER_NAMES.get(sep, repr(sep))}-delimited"


def normalise_header(names: list[str]) -> list[str]:
    """Column names as the ingest compares them: trimmed, without a BOM, lower case."""
    return [n.strip().lstrip("\ufeff").lower() for n in names]


_DATA_LIKE = re.compile(
    r"[-+]?\d+([.,]\d+)?|\d{4}-\d{1,2}-\d{1,2}.*|\d{1,2}/\d{1,2}/\d{2,4}|[A-Za-z]?\d{5,}"
)


def _looks_like_data(columns: list[str], contract: FeedContract) -> bool:
    """A first line that names none of the contract's columns, or holds several values
    shaped like dates, numbers or ids, is taken for a data row (never echoed)."""
    if not set(columns) & set(contract.columns):
        return True
    return sum(1 for c in columns if _DATA_LIKE.fullmatch(c)) >= 2


def check_header(
    path: Path | str, names: list[str], contract: FeedContract, sep: str | None
) -> list[str]:
    """The header's column names, normalised; an InputError when a name repeats or a
    required column is absent. The message lists the names only when they look like a
    header: a data row taken for one would put a member's values into the error."""
    columns = normalise_header(names)
    seen: set[str] = set()
    repeated = [c for c in columns if c in seen or seen.add(c)]
    missing = [c for c in contract.required_columns if c not in seen]
    if not (missing or repeated):
        return columns
    needs = (
        f"{path}: the {contract.name} feed needs the column(s) {', '.join(missing)}, which the "
        f"header does not have"
    )
    if missing and sep is not None and len(columns) == 1:
        for other, other_name in DELIMITER_NAMES.items():
            if other != sep and other in names[0]:
                split = normalise_header(names[0].split(other))
                found = (
                    " (the first line looks like a data row, not a header)"
                    if _looks_like_data(split, contract)
                    else ""
                )
                raise InputError(
                    f"{needs}{found}. The header is a single column: the file looks delimited by "
                    f"{other_name}, but a {suffix_of(path)} file must be "
                    f"{delimited(sep)}."
                )
    # Before naming a repeated or missing column: a data row's repeated values
    # (member_id = person_id) or empty fields are no header's names, never echoed.
    if _looks_like_data(columns, contract):
        raise InputError(
            f"{path}: the first line looks like a data row, not a header (its values are not "
            f"shown); expected a first line naming the {contract.name} feed's columns, such "
            f"as {', '.join(contract.required_columns)}."
        )
    if repeated:
        named = f"column '{repeated[0]}'" if repeated[0] else "an empty column name"
        raise InputError(
            f"{path}: the header names {named} twice (names are compared without regard to "
            f"case); each column must appear once, with a name."
        )
    raise InputError(
        f"{needs}. Found: {', '.join(columns[:12])}{' …' if len(columns) > 12 else ''}."
    )
