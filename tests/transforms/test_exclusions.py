"""transforms/exclusions.py at its boundaries (docs/POPULATIONS.md, "Exclusions"): a span
covering D (start = D, end = D, end = D − 1, open end), a program not in force, smhs_tcm
never, hospice claims touching the last 60 days (D − 59 against D − 60), 81x and 82x
against 83x, professional claims, members not enrolled, and excluded_by."""

from __future__ import annotations

import datetime as dt

import polars as pl
import pytest

from tests.conftest import claim_line, claims
from transforms.exclusions import (
    EXCLUSION_SCHEMA,
    enrollment_exclusions,
    excluded_by,
    exclusions,
    hospice_claim_exclusions,
    with_excluded_by,
)

D = dt.date(2026, 11, 30)
DAY = dt.timedelta(days=1)
ALL_PROGRAMS = ("hospice", "pace", "ccm", "cct", "dsnp")
PE_SCHEMA = {
    "member_id": pl.String,
    "program": pl.String,
    "start_date": pl.Date,
    "end_date": pl.Date,
    "_source_file": pl.String,
    "_line": pl.Int64,
}


def enrollment(*rows: tuple) -> pl.LazyFrame:
    """program_enrollment rows (member, program, start, end), lines 2, 3, ..."""
    return pl.LazyFrame(
        [(*row, "program_enrollment.csv", line) for line, row in enumerate(rows, start=2)],
        schema=PE_SCHEMA,
        orient="row",
    )


def members(*ids: str) -> pl.LazyFrame:
    return pl.LazyFrame({"member_id": list(ids)}, schema={"member_id": pl.String})


def excluded(frame: pl.LazyFrame) -> list[tuple]:
    return frame.select("member_id", "program", "source_key").collect().rows()


@pytest.mark.parametrize(
    ("start", "end", "excludes"),
    [
        (D, None, True),  # starts on D, open
        (D + DAY, None, False),  # starts the day after D
        (D - 400 * DAY, D, True),  # ends on D
        (D - 400 * DAY, D - DAY, False),  # ended the day before D
        (D - 400 * DAY, None, True),  # open end
        (D - 400 * DAY, D + 400 * DAY, True),
    ],
)
def test_a_span_excludes_when_it_covers_the_as_of_date(start, end, excludes):
    got = enrollment_exclusions(
        enrollment(("A", "hospice", start, end)), members("A"), ALL_PROGRAMS, D
    )
    assert excluded(got) == ([("A", "hospice", "program_enrollment.csv:2")] if excludes else [])


def test_a_program_not_in_force_and_one_outside_the_table_never_exclude():
    rows = enrollment(
        ("A", "pace", D - DAY, None),
        ("A", "smhs_tcm", D - DAY, None),  # SMHS targeted case management runs alongside ECM
        ("A", "yoga_club", D - DAY, None),
        ("A", "dsnp", D - DAY, None),
    )
    assert excluded(enrollment_exclusions(rows, members("A"), ["dsnp"], D)) == [
        ("A", "dsnp", "program_enrollment.csv:5")
    ]
    every_code = (*ALL_PROGRAMS, "waiver_mcwp")
    assert [
        p for _, p, _ in excluded(enrollment_exclusions(rows, members("A"), every_code, D))
    ] == [
        "pace",
        "dsnp",
    ]


def test_only_members_given_are_excluded():
    rows = enrollment(("A", "ccm", D, None), ("B", "ccm", D, None))
    assert excluded(enrollment_exclusions(rows, members("B"), ALL_PROGRAMS, D)) == [
        ("B", "ccm", "program_enrollment.csv:3")
    ]


def hospice(member: str, claim_id: str, start, end=None, bill="811", **extra) -> dict:
    values = {
        "member_id": member,
        "claim_id": claim_id,
        "claim_type": "institutional",
        "bill_type_code": bill,
        "claim_start_date": start,
        "claim_end_date": end or start,
        "revenue_center_code": "0651",
        **extra,
    }
    return claim_line(**values)


def hospice_claims(ref, *rows, days=60) -> list[tuple]:
    got = hospice_claim_exclusions(
        claims(*rows), members("A", "B"), ref.value_set("hospice_bill_type"), D, days
    )
    return got.select("member_id", "source_key", "start_date", "end_date").collect().rows()


@pytest.mark.parametrize(
    ("start", "end", "excludes"),
    [
        (D - 59 * DAY, D - 59 * DAY, True),  # the first day of the 60
        (D - 60 * DAY, D - 60 * DAY, False),  # the day before them
        (D - 90 * DAY, D - 59 * DAY, True),  # a span ending on the first day
        (D - 90 * DAY, D - 60 * DAY, False),
        (D, D, True),
        (D + DAY, D + 5 * DAY, False),  # after D
        (D - 90 * DAY, D + 30 * DAY, True),  # across the whole window
    ],
)
def test_a_hospice_claim_excludes_when_its_service_dates_touch_the_last_60_days(
    ref, start, end, excludes
):
    got = hospice_claims(ref, hospice("A", "h1", start, end))
    assert got == ([("A", "h1", start, end)] if excludes else [])


def test_the_claim_days_come_from_the_rules(ref):
    row = hospice("A", "h1", D - 10 * DAY)
    assert hospice_claims(ref, row, days=11) != []
    assert hospice_claims(ref, row, days=10) == []


@pytest.mark.parametrize(
    ("bill", "excludes"),
    [
        ("811", True),
        ("812", True),
        ("0813", True),  # as delivered in 4 characters, staged in 3
        ("822", True),
        ("831", False),  # ambulatory surgery center
        ("211", False),
        ("131", False),
        (None, False),
    ],
)
def test_bill_types_81x_and_82x_are_hospice_83x_is_not(ref, bill, excludes):
    staged = bill[-3:] if bill else None
    assert bool(hospice_claims(ref, hospice("A", "h1", D, bill=staged))) is excludes


def test_a_professional_claim_of_a_hospice_bill_type_is_not_hospice(ref):
    assert hospice_claims(ref, hospice("A", "h1", D, claim_type="professional")) == []


def test_the_claims_bill_type_is_read_from_its_first_line_with_one(ref):
    """A line that leaves the bill type empty belongs to its claim's type."""
    got = hospice_claims(
        ref,
        hospice("A", "h1", D - 5 * DAY, bill=None, claim_line_number=2),
        hospice("A", "h1", D - 80 * DAY, D - 70 * DAY, bill="812", claim_line_number=1),
    )
    assert got == [("A", "h1", D - 80 * DAY, D - 5 * DAY)]


def test_line_service_dates_come_before_the_claims(ref):
    # The claim spans 90 days back to D, but its one line was served 70 days before D.
    line = hospice(
        "A",
        "h1",
        D - 90 * DAY,
        D,
        claim_line_start_date=D - 70 * DAY,
        claim_line_end_date=D - 65 * DAY,
    )
    assert hospice_claims(ref, line) == []
    assert hospice_claims(ref, {**line, "claim_line_end_date": D - 59 * DAY}) == [
        ("A", "h1", D - 70 * DAY, D - 59 * DAY)
    ]


def test_several_lines_of_a_claim_are_one_exclusion_with_its_service_span(ref):
    got = hospice_claims(
        ref,
        hospice("A", "h1", D - 80 * DAY, D, claim_line_start_date=D - 80 * DAY,
                claim_line_end_date=D - 61 * DAY),
        hospice("A", "h1", D - 80 * DAY, D, claim_line_start_date=D - 60 * DAY,
                claim_line_end_date=D, claim_line_number=2),
        hospice("B", "h2", D - 200 * DAY, D - 100 * DAY),
    )  # fmt: skip
    assert got == [("A", "h1", D - 80 * DAY, D)]


def test_exclusions_of_both_sources_one_row_per_member_program_and_source(ref):
    got = exclusions(
        program_enrollment=enrollment(
            ("A", "hospice", D - 30 * DAY, None),
            ("A", "dsnp", D - 900 * DAY, None),
            ("B", "smhs_tcm", D - 30 * DAY, None),
            ("C", "ccm", D - 30 * DAY, None),  # not enrolled on D
        ),
        claim_lines=claims(hospice("A", "h9", D - 3 * DAY), hospice("B", "h8", D - 3 * DAY)),
        members=members("A", "B"),
        programs=ALL_PROGRAMS,
        hospice_bill_types=ref.value_set("hospice_bill_type"),
        hospice_claim_days=60,
        as_of=D,
    ).collect()
    assert got.schema == pl.Schema(EXCLUSION_SCHEMA)
    assert got.select("member_id", "program", "source_feed", "source_key").rows() == [
        ("A", "dsnp", "program_enrollment", "program_enrollment.csv:3"),
        ("A", "hospice", "medical_claim", "h9"),
        ("A", "hospice", "program_enrollment", "program_enrollment.csv:2"),
        ("B", "hospice", "medical_claim", "h8"),
    ]
    assert excluded_by(got.lazy()).collect().rows() == [("A", "dsnp;hospice"), ("B", "hospice")]


def test_hospice_claims_exclude_only_while_hospice_is_in_force(ref):
    got = exclusions(
        program_enrollment=enrollment(),
        claim_lines=claims(hospice("A", "h9", D)),
        members=members("A"),
        programs=["dsnp"],
        hospice_bill_types=ref.value_set("hospice_bill_type"),
        hospice_claim_days=60,
        as_of=D,
    )
    assert got.collect().height == 0


def test_excluded_by_is_empty_never_null_and_members_keep_every_population():
    assignments = pl.LazyFrame(
        {"member_id": ["A", "A", "B"], "pof_code": ["HIGH_UTIL_ADULT", "SMI_SUD_ADULT", "X"]}
    )
    found = enrollment(("A", "pace", D, None), ("A", "ccm", D, None), ("C", "ccm", D, None))
    excl = enrollment_exclusions(found, members("A", "B", "C"), ALL_PROGRAMS, D)
    got = with_excluded_by(assignments, excl).collect()
    assert got.rows() == [
        ("A", "HIGH_UTIL_ADULT", "ccm;pace"),
        ("A", "SMI_SUD_ADULT", "ccm;pace"),
        ("B", "X", ""),
    ]
