"""The optional program_enrollment feed (docs/FEEDS.md): read like every partner feed,
its member key checked against eligibility, its span's date order checked, the program
staged trimmed and lower case whatever it is (a program outside the exclusion table is
staged and counted, never quarantined), an empty end date an ongoing span; duplicates of
the grain (member × program × start) warned, the rows kept."""

from __future__ import annotations

import datetime as dt

import duckdb
import pytest

from data_contracts import load_contract
from ecm.ingest import ingest
from tests.feeds import line, member, write_feed

FEED = "program_enrollment"


@pytest.fixture
def con():
    with duckdb.connect() as connection:
        yield connection


def ingested(tmp_path, con, rules, rows, suffix=".csv"):
    feeds = tmp_path / "feeds"
    write_feed(feeds, "eligibility", [member("A"), member("B")])
    write_feed(feeds, "medical_claim", [line("c1", "A", "2026-01-05")])
    write_feed(feeds, FEED, rows, suffix=suffix)
    return ingest(con, feeds, rules, tmp_path / "work")


def quarantined(con) -> dict[int, tuple[str, str]]:
    rows = con.sql(f"select line, rule, detail from quarantine where feed = '{FEED}'").fetchall()
    return {line_no: (rule, detail) for line_no, rule, detail in rows}


def test_rows_are_staged_with_the_program_lower_case_and_an_empty_end_ongoing(tmp_path, con, rules):
    result = ingested(
        tmp_path,
        con,
        rules,
        [
            {"member_id": "A", "program": " Hospice ", "start_date": "2026-10-01", "source": "x"},
            {"member_id": "A", "program": "SMHS_TCM", "start_date": "10/01/2026"},
            {"member_id": "B", "program": "dsnp", "start_date": "2025-01-01",
             "end_date": "20261130"},
            {"member_id": "B", "program": "yoga_club", "start_date": "2025-01-01"},
        ],
    )  # fmt: skip
    counts = result.feeds[FEED]
    assert (counts.read, counts.staged, counts.quarantined) == (4, 4, 0)
    staged = con.sql(
        f"select member_id, program, start_date, end_date, source, _line from stg__{FEED} "
        "order by _line"
    ).fetchall()
    assert staged == [
        ("A", "hospice", dt.date(2026, 10, 1), None, "x", 2),
        ("A", "smhs_tcm", dt.date(2026, 10, 1), None, None, 3),
        ("B", "dsnp", dt.date(2025, 1, 1), dt.date(2026, 11, 30), None, 4),
        ("B", "yoga_club", dt.date(2025, 1, 1), None, None, 5),
    ]


def test_an_unknown_member_an_empty_program_and_a_span_ending_before_it_starts_are_quarantined(
    tmp_path, con, rules
):
    result = ingested(
        tmp_path,
        con,
        rules,
        [
            {"member_id": "Z", "program": "hospice", "start_date": "2026-10-01"},
            {"member_id": "A", "program": "", "start_date": "2026-10-01"},
            {"member_id": "A", "program": "pace", "start_date": "2026-10-01",
             "end_date": "2026-09-30"},
            {"member_id": "A", "program": "pace", "start_date": "someday"},
            {"member_id": "A", "program": "pace", "start_date": "2026-10-01",
             "end_date": "2026-10-01"},
        ],
    )  # fmt: skip
    assert result.feeds[FEED].staged == 1
    rules_broken = {n: rule for n, (rule, _) in quarantined(con).items()}
    assert rules_broken == {
        2: "unknown_member",
        3: "missing_value",
        4: "end_before_start",
        5: "unparseable_date",
    }


def test_a_repeated_member_program_and_start_is_kept(tmp_path, con, rules):
    """The grain is member × program × start; a repeat is reported by the grain suite
    (data_contracts.gx_suites, as for every feed) and kept."""
    contract = load_contract(FEED)
    assert (contract.grain_key, contract.grain_severity) == (
        ("member_id", "program", "start_date"),
        "warn",
    )
    row = {"member_id": "A", "program": "ccm", "start_date": "2026-01-01"}
    result = ingested(tmp_path, con, rules, [row, {**row, "program": "CCM"}])
    assert result.feeds[FEED].staged == 2


def test_the_rules_files_program_aliases_are_applied_before_staging(tmp_path, con, rules):
    """[loop.aliases.program]: a plan's spelling stands for the code ("D-SNP" = "dsnp"),
    compared trimmed and in any case; a value no alias names is staged as delivered."""
    assert rules.setting("loop.aliases.program")["D-SNP"] == "dsnp"
    ingested(
        tmp_path,
        con,
        rules,
        [
            {"member_id": "A", "program": "D-SNP", "start_date": "2026-01-01"},
            {"member_id": "A", "program": " smhs tcm ", "start_date": "2026-01-01"},
            {"member_id": "B", "program": "Complex Care Management", "start_date": "2026-01-01"},
            {"member_id": "B", "program": "DSNP plan", "start_date": "2026-01-01"},
        ],
    )
    staged = con.sql(f"select program from stg__{FEED} order by _line").fetchall()
    assert [p for (p,) in staged] == ["dsnp", "smhs_tcm", "ccm", "dsnp plan"]
