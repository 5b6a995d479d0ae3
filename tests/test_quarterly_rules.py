"""The DHCS quarterly member file's pure rules (transforms/quarterly.py, loop.md §5)."""

from __future__ import annotations

import datetime as dt

import polars as pl
import pytest

from transforms import quarterly as q

D = dt.date
Q3 = (D(2026, 7, 1), D(2026, 9, 30))


def _spans(*rows) -> pl.LazyFrame:
    return pl.LazyFrame(
        [dict(zip(q.SPAN_SCHEMA, r, strict=True)) for r in rows], schema=q.SPAN_SCHEMA
    )


@pytest.mark.parametrize(
    ("text", "expected"),
    [("2026Q3", (2026, 3)), ("2026q1", (2026, 1)), ("2026Q5", None), ("2026-Q3", None), ("", None)],
)
def test_parse_quarter(text, expected):
    assert q.parse_quarter(text) == expected


def test_quarter_bounds():
    assert q.quarter_bounds(2026, 3) == Q3
    assert q.quarter_bounds(2026, 4) == (D(2026, 10, 1), D(2026, 12, 31))
    assert q.quarter_bounds(2024, 1) == (D(2024, 1, 1), D(2024, 3, 31))


def test_spans_14_days_apart_are_chained_15_are_not():
    chained = _spans(
        ("A", "1111111111", D(2026, 5, 1), D(2026, 7, 10), "DP"),
        ("A", "2222222222", D(2026, 7, 24), None, None),
    )
    merged = q.merge_spans(chained, 14).collect()
    assert merged.rows() == [("A", "2222222222", D(2026, 5, 1), None, None)]
    apart = _spans(
        ("A", "1111111111", D(2026, 5, 1), D(2026, 7, 10), "DP"),
        ("A", "2222222222", D(2026, 7, 25), None, None),
    )
    merged = q.merge_spans(apart, 14).collect()
    assert merged.rows() == [
        ("A", "1111111111", D(2026, 5, 1), D(2026, 7, 10), "DP"),
        ("A", "2222222222", D(2026, 7, 25), None, None),
    ]


def test_a_span_inside_a_longer_one_does_not_end_the_chain():
    spans = _spans(
        ("A", "1111111111", D(2026, 1, 1), D(2026, 8, 31), "WM"),
        ("A", "1111111111", D(2026, 2, 1), D(2026, 2, 28), "OTH"),
        ("A", "1111111111", D(2026, 9, 10), D(2026, 9, 20), "SC"),
    )
    merged = q.merge_spans(spans, 14).collect()
    assert merged.rows() == [("A", "1111111111", D(2026, 1, 1), D(2026, 9, 20), "SC")]


def test_the_end_is_shown_only_inside_the_quarter_and_the_reason_only_with_it():
    spans = _spans(
        ("A", "1", D(2026, 5, 1), D(2026, 8, 15), "DP"),  # ends inside
        ("B", "1", D(2026, 5, 1), D(2026, 10, 15), "DP"),  # ends after the quarter
        ("C", "1", D(2026, 5, 1), None, None),  # open
        ("D", "1", D(2026, 1, 1), D(2026, 6, 30), "WM"),  # ends before: not touching
        ("E", "1", D(2026, 10, 1), None, None),  # starts after: not touching
        ("F", "1", D(2026, 9, 30), D(2026, 9, 30), "SC"),  # the last day
    )
    shown = q.quarter_spans(spans, *Q3).collect()
    assert shown.select("member_id", "shown_end", "shown_reason").rows() == [
        ("A", D(2026, 8, 15), "DP"),
        ("B", None, None),
        ("C", None, None),
        ("F", D(2026, 9, 30), "SC"),
    ]


def test_enrollment_spans_take_the_latest_row_of_a_span():
    rows = [
        # period, production date, status, start, end, discontinuation date, reason
        ("2026-07-01", None, "enrolled", "2026-05-01", None, None, None),
        ("2026-08-01", None, "discontinued", "2026-05-01", None, "2026-08-20", "UE"),
        ("2026-08-01", None, "pending", None, None, None, None),
        ("2026-10-01", None, "discontinued", "2026-05-01", None, "2026-10-02", "DP"),
    ]
    rtf = pl.LazyFrame(
        [
            {
                "member_id": "A",
                "provider_npi": "1",
                "reporting_period": D.fromisoformat(p),
                "file_production_date": f,
                "ecm_status": s,
                "enrollment_start_date": D.fromisoformat(st) if st else None,
                "enrollment_end_date": e,
                "discontinuation_date": D.fromisoformat(dd) if dd else None,
                "discontinuation_reason_code": r,
                "in_person_encounters": None,
                "telephonic_encounters": None,
                "_source_file": "f.csv",
                "_line": i,
            }
            for i, (p, f, s, st, e, dd, r) in enumerate(rows)
        ],
        schema=q.QUARTERLY_RTF_SCHEMA,
    )
    spans = q.enrollment_spans(rtf, D(2026, 9, 30)).collect()
    # The October row is after the quarter: the August row speaks.
    assert spans.rows() == [("A", "1", D(2026, 5, 1), D(2026, 8, 20), "UE")]


def _rtf(rows) -> pl.LazyFrame:
    return pl.LazyFrame(
        [
            {
                "member_id": m,
                "provider_npi": "1",
                "reporting_period": p,
                "ecm_status": "enrolled",
                "enrollment_start_date": D(2026, 1, 1),
                "in_person_encounters": ip,
                "telephonic_encounters": tel,
                "_source_file": "f.csv",
                "_line": i,
            }
            for i, (m, p, ip, tel) in enumerate(rows)
        ],
        schema=q.QUARTERLY_RTF_SCHEMA,
    )


def _otf(rows) -> pl.LazyFrame:
    return pl.LazyFrame(
        [
            {
                "member_id": m,
                "provider_npi": "1",
                "attempt_date": d,
                "method": method,
                "successful": ok,
            }
            for m, d, method, ok in rows
        ],
        schema=q.QUARTERLY_OTF_SCHEMA,
    )


def test_encounters_from_the_otf_else_the_rtf():
    spans = _spans(
        ("A", "1", D(2026, 1, 1), None, None),
        ("B", "1", D(2026, 1, 1), D(2026, 8, 31), "DP"),
    ).pipe(q.quarter_spans, *Q3)
    otf = _otf(
        [
            ("A", D(2026, 7, 2), "phone", "Y"),
            ("A", D(2026, 7, 2), "video", "Y"),  # same date: once
            ("A", D(2026, 7, 3), "video", "Y"),
            ("A", D(2026, 7, 4), "in_person", "Y"),
            ("A", D(2026, 7, 4), "in_person", "Y"),
            ("A", D(2026, 7, 5), "in_person", "N"),  # not successful
            ("A", D(2026, 7, 6), "text", "Y"),  # neither
            ("A", D(2026, 6, 30), "in_person", "Y"),  # before the quarter
        ]
    )
    rtf = _rtf(
        [
            ("A", D(2026, 7, 1), 9, 9),  # A has OTF rows: ignored
            ("B", D(2026, 6, 1), 5, 5),  # before the quarter
            ("B", D(2026, 7, 1), 2, 1),
            ("B", D(2026, 8, 1), 1, 3),
            ("B", D(2026, 9, 1), 4, 4),  # after B's span
        ]
    )
    counts = q.encounters(spans, otf, rtf, *Q3).collect()
    assert counts.rows() == [("A", D(2026, 1, 1), 1, 2), ("B", D(2026, 1, 1), 3, 4)]


def test_otf_attempts_outside_the_span_are_not_counted():
    spans = _spans(("A", "1", D(2026, 8, 1), None, None)).pipe(q.quarter_spans, *Q3)
    otf = _otf([("A", D(2026, 7, 20), "in_person", "Y"), ("A", D(2026, 8, 1), "phone", "Y")])
    counts = q.encounters(spans, otf, _rtf([]), *Q3).collect()
    assert counts.rows() == [("A", D(2026, 8, 1), 0, 1)]


def test_flags_by_code_age_group_and_index_child():
    assignments = pl.LazyFrame(
        [
            ("A", "HOMELESS_FAMILY", "adult", True),
            ("C", "HOMELESS_FAMILY", "child_youth", True),
            ("K", "HOMELESS_FAMILY", "child_youth", False),
            ("K", "HIGH_UTIL_CHILD", "child_youth", False),
        ],
        schema=q.ASSIGNMENT_SCHEMA,
        orient="row",
    )
    index = pl.LazyFrame(
        {"member_id": ["K"], "pof_code": ["HOMELESS_FAMILY"]},
    )
    flags = {
        "Adult Homeless Families": "HOMELESS_FAMILY:adult",
        "Child Homeless Families": "HOMELESS_FAMILY:child_youth",
        "Child Homeless Individuals": "HOMELESS_FAMILY:index",
        "Child High Utilizers": "HIGH_UTIL_CHILD",
    }
    wide = q.flag_columns(assignments, index, flags).collect()
    assert wide.rows() == [
        ("A", "1", "0", "0", "0"),
        ("C", "0", "1", "0", "0"),
        ("K", "0", "1", "1", "1"),
    ]


def test_the_index_is_who_holds_it_without_the_households_evidence():
    """A recorded run says it (has_household_evidence false); a run recorded before the
    warehouse kept it (empty) is read by a child's homelessness row of their own."""
    assignments = pl.LazyFrame(
        [
            # recorded: the index child, on a Z59 diagnosis alone (no homelessness row)
            ("DX", "HOMELESS_FAMILY", "child_youth", False),
            # recorded: a child of the household, with an old homelessness row: not it
            ("OLD", "HOMELESS_FAMILY", "child_youth", True),
            ("MOM", "HOMELESS_FAMILY", "adult", True),
            ("HU", "HIGH_UTIL_CHILD", "child_youth", False),
            # before the column: a child with a homelessness row is; without one, is not;
            # an adult is not, row or none
            ("ROW", "HOMELESS_FAMILY", "child_youth", None),
            ("NOROW", "HOMELESS_FAMILY", "child_youth", None),
            ("ADULT", "HOMELESS_FAMILY", "adult", None),
        ],
        schema=q.ASSIGNMENT_SCHEMA,
        orient="row",
    )
    homeless = pl.LazyFrame({"member_id": ["OLD", "ROW", "ADULT"]})
    assert q.index_holders(assignments, homeless).collect().rows() == [
        ("DX", "HOMELESS_FAMILY"),
        ("HU", "HIGH_UTIL_CHILD"),
        ("ROW", "HOMELESS_FAMILY"),
    ]
