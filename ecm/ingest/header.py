"""A feed file's header: its column names normalised (trimmed, lower case, no BOM), each
header a contract column accepts under another name (its `aliases`, a template's headers
such as DHCS's "Member Client Index Number (CIN)") named as that column, and checked
against the feed's contract, for every format alike.

A header that repeats a name, delivers a column twice (by its name and an alias), matches
two columns or lacks a required column is an InputError; a first line that looks like a
data row is never echoed (it would put a member's values into the error).
"""

from __future__ import annotations

import re
from pathlib import Path

from data_contracts import FeedContract, header_key
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


def _matches(name: str, contract: FeedContract, aliases: dict[str, str]) -> list[str]:
    """The contract columns a normalised header names: the column of that name, and the
    column one of whose aliases it matches (`header_key`)."""
    by_name = [name] if name in contract.columns else []
    by_alias = aliases.get(header_key(name))
    return by_name + ([by_alias] if by_alias and by_alias not in by_name else [])


def header_columns(names: list[str], contract: FeedContract) -> list[str]:
    """The columns a header's names give (`normalise_header`), a contract column's alias
    named as the column; any other name as it is (an unknown column). Never fails:
    `check_header` refuses a header whose names match two columns or one column twice."""
    aliases = contract.header_aliases
    columns = []
    for name in normalise_header(names):
        matches = _matches(name, contract, aliases)
        columns.append(matches[0] if matches else name)
    return columns


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
    """The header's column names, normalised, aliases named as their columns
    (`header_columns`); an InputError when a name repeats, a column is delivered twice (by
    its name and an alias, or two aliases), a header matches two columns, or a required
    column is absent. The message lists the names only when they look like a header: a
    data row taken for one would put a member's values into the error."""
    columns = header_columns(names, contract)
    aliases = contract.header_aliases
    ambiguous = [
        (header, matches)
        for header, normal in zip(names, normalise_header(names), strict=True)
        if len(matches := _matches(normal, contract, aliases)) > 1
    ]
    seen: set[str] = set()
    repeated = [c for c in columns if c in seen or seen.add(c)]
    missing = [c for c in contract.required_columns if c not in seen]
    if not (missing or repeated or ambiguous):
        return columns
    needs = (
        f"{path}: the {contract.name} feed needs the column(s) "
        f"{', '.join(_with_aliases(c, contract) for c in missing)}, which the header does "
        f"not have"
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
    if ambiguous:
        header, (first, second) = ambiguous[0][0], ambiguous[0][1][:2]
        raise InputError(
            f"{path}: the header '{header.strip()}' matches two columns of the "
            f"{contract.name} feed, {first} and {second} (by name or by an alias the contract "
            f"gives); each header must name one column: rename it."
        )
    # The headers that name the repeated column, one per spelling (in file order).
    delivered_as = {
        normal: header.strip().lstrip("\ufeff")
        for header, normal, column in zip(names, normalise_header(names), columns, strict=True)
        if repeated and column == repeated[0]
    }
    if len(delivered_as) > 1:
        first, second = list(delivered_as.values())[:2]
        raise InputError(
            f"{path}: the {contract.name} feed's column {repeated[0]} is delivered twice, as "
            f"'{first}' and as '{second}' (a column's name and the headers it is also "
            f"accepted under name the same column); keep one of them."
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


def _with_aliases(column: str, contract: FeedContract) -> str:
    """A column as a missing-column error names it: with the headers it is also accepted
    under."""
    aliases = contract.spec(column).aliases
    if not aliases:
        return column
    quoted = " or ".join(f"'{a}'" for a in aliases)
    return f"{column} (or {quoted})"
