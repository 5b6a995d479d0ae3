"""Write tiny feed directories for ingest and flow tests."""

from __future__ import annotations

import csv
import gzip
from pathlib import Path

import polars as pl

from data_contracts import load_contract


def write_feed(
    folder: Path,
    name: str,
    rows: list[dict],
    *,
    suffix: str = ".csv",
    columns: list[str] | None = None,
    bom: bool = False,
    crlf: bool = False,
    encoding: str = "utf-8",
) -> Path:
    """Write rows as a feed file with every contract column (others empty).

    The suffix chooses the delimiter as the contract does: `.txt`/`.psv` pipe, `.tsv` tab,
    otherwise comma; a `.gz` suffix gzips the file."""
    contract = load_contract(name)
    columns = columns or list(contract.columns)
    extra = [k for r in rows for k in r if k not in columns]
    columns = columns + sorted(set(extra), key=extra.index)
    sep = delimiter_of(suffix)
    path = folder / f"{name}{suffix}"
    path.parent.mkdir(parents=True, exist_ok=True)
    opener = gzip.open if suffix.endswith(".gz") else open
    with opener(path, "wt", newline="", encoding=encoding) as handle:
        if bom:
            handle.write("\ufeff")
        writer = csv.DictWriter(
            handle,
            fieldnames=columns,
            delimiter=sep,
            lineterminator="\r\n" if crlf else "\n",
            extrasaction="raise",
        )
        writer.writeheader()
        for row in rows:
            writer.writerow({c: row.get(c, "") for c in columns})
    return path


def delimiter_of(suffix: str) -> str:
    """The delimiter a feed file with this suffix must use."""
    if suffix.startswith((".txt", ".psv")):
        return "|"
    if suffix.startswith(".tsv"):
        return "\t"
    return ","


def minimal_feeds(folder: Path, suffix: str = ".csv") -> Path:
    """A feed directory with one member and one claim line: the smallest good input."""
    write_feed(folder, "eligibility", [member("A")], suffix=suffix)
    write_feed(folder, "medical_claim", [line("c1", "A", "2026-01-05")], suffix=suffix)
    return folder


def member(member_id: str, birth_date: str = "1980-01-01", **values) -> dict:
    return {
        "member_id": member_id,
        "birth_date": birth_date,
        "enrollment_start_date": "2020-01-01",
        "enrollment_end_date": "",
        **values,
    }


def line(claim_id: str, member_id: str, day: str, **values) -> dict:
    row = {
        "claim_id": claim_id,
        "claim_line_number": "1",
        "claim_type": "professional",
        "member_id": member_id,
        "claim_start_date": day,
        "claim_end_date": day,
        "data_source": "ffs",
        "file_date": "2026-01-01",
        "diagnosis_code_1": "J069",
    }
    row.update(values)
    return row


def generated_with_distinctive_names(folder: Path, *, end, seed: int, members: int = 300) -> Path:
    """Generated feeds whose members' names are made distinctive (`Qzfirst0001`,
    `Vxlast0001`), so that a test finds any name that leaks into logs or progress."""
    from ecm.generate import generate_feeds

    generate_feeds(folder, members=members, months=24, end=end, seed=seed)
    path = folder / "eligibility.csv"
    eligibility = pl.read_csv(path, infer_schema=False)
    index = pl.int_range(pl.len()).cast(pl.String).str.zfill(4)
    eligibility.with_columns(
        first_name=pl.when(pl.col("first_name").is_not_null()).then("Qzfirst" + index),
        last_name=pl.when(pl.col("last_name").is_not_null()).then("Vxlast" + index),
    ).write_csv(path)
    return folder
