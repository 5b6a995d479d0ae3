"""The current claim lines (sql/intermediate/int__medical_claim_current.sql) are exactly
the staged lines of each claim's current, unvoided version: the view, which looks up only
the claims with a void or more than one version, equals the semi-join of the lines with
the current versions (their definition), over any mix of versions, voids, file dates
(missing ones too), ties and data sources."""

import duckdb
from hypothesis import given, settings
from hypothesis import strategies as st

from ecm.warehouse.sql import install_macros, load_sql

DEFINITION = """
select lines.*
from stg__medical_claim as lines
semi join int__medical_claim_version as v
    on lines.data_source = v.data_source
    and lines.claim_id = v.claim_id
    and lines.file_date is not distinct from v.file_date
    and not v.is_void
"""

claim_lines = st.lists(
    st.tuples(
        st.sampled_from(["ffs", "encounter", None]),  # data_source
        st.sampled_from(["c1", "c2", "c3", None]),  # claim_id
        st.sampled_from([None, "2026-02-01", "2026-03-01", "2026-04-01"]),  # file_date
        st.sampled_from(["131", "137", "138", None]),  # bill type: 8 is a void
    ),
    max_size=30,
)


def _current(rows) -> tuple[list, list]:
    con = duckdb.connect()
    install_macros(con)
    con.execute(
        "create table stg__medical_claim (line integer, data_source varchar, "
        "claim_id varchar, file_date date, bill_type_code varchar)"
    )
    if rows:
        con.executemany(
            "insert into stg__medical_claim values (?, ?, ?, ?, ?)",
            [(i, *row) for i, row in enumerate(rows)],
        )
    con.execute(
        "create table int__medical_claim_version as "
        + load_sql("intermediate/int__medical_claim_version"),
        {"void_frequency": "8"},
    )
    view = load_sql("intermediate/int__medical_claim_current")
    got = con.execute(f"select line from ({view}) order by line").fetchall()
    want = con.execute(f"select line from ({DEFINITION}) order by line").fetchall()
    return got, want


@settings(max_examples=100, deadline=None)
@given(claim_lines)
def test_the_current_lines_are_the_lines_of_the_current_unvoided_versions(rows):
    got, want = _current(rows)
    assert got == want


def test_a_replaced_version_a_void_and_a_missing_file_date():
    rows = [
        ("ffs", "c1", "2026-02-01", "131"),  # 0: replaced by the March version
        ("ffs", "c1", "2026-03-01", "131"),  # 1: current
        ("ffs", "c2", "2026-02-01", "131"),  # 2: voided in March
        ("ffs", "c2", "2026-03-01", "138"),  # 3
        ("ffs", "c3", None, "131"),  # 4: a version without a file date loses to a dated one
        ("ffs", "c3", "2026-02-01", "131"),  # 5: current
        ("encounter", "c1", None, "131"),  # 6: its only version, undated: current
    ]
    got, want = _current(rows)
    assert got == want == [(1,), (5,), (6,)]
