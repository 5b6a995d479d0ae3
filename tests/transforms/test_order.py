"""Results do not depend on the order rows arrive in (the warehouse does not keep it)."""

import datetime as dt

import polars as pl

from tests.conftest import claims, eligibility, inpatient
from transforms.members import enrolled_members
from transforms.order import sort_fully
from transforms.stays import stay_claims

D = dt.date


def test_sort_fully_breaks_ties_on_every_column():
    rows = pl.LazyFrame({"k": [1, 1, 1], "v": ["b", None, "a"]})
    for frame in (rows, rows.reverse()):
        assert sort_fully(frame, ["k"]).collect()["v"].to_list() == [None, "a", "b"]


def test_duplicate_covering_spans_pick_the_same_row_in_any_order():
    spans = [
        {"member_id": "m", "birth_date": D(1990, 1, 1), "race": "white"},
        {"member_id": "m", "birth_date": D(1990, 1, 1), "race": "asian"},
    ]
    first = enrolled_members(eligibility(*spans), D(2026, 10, 31), 21).collect()
    second = enrolled_members(eligibility(*reversed(spans)), D(2026, 10, 31), 21).collect()
    assert first["race"].to_list() == second["race"].to_list() == ["asian"]


def test_duplicate_line_numbers_give_the_same_claim_in_any_order(ref):
    lines = [
        inpatient("m", D(2026, 1, 1), D(2026, 1, 3), "c", dx="J189"),
        inpatient("m", D(2026, 1, 1), D(2026, 1, 3), "c", dx="I509"),
    ]
    bill_types = ref.value_set("acute_inpatient_bill_type")
    got = [
        stay_claims(claims(*order), bill_types).collect()["principal_dx"].to_list()
        for order in (lines, lines[::-1])
    ]
    assert got[0] == got[1] == ["I509"]
