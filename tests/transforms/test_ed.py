import datetime as dt

import polars as pl
import pytest

from tests.conftest import claim_line, claims, ed_facility, ed_professional, inpatient
from transforms import ed
from transforms.stays import merge_stays, stay_claims

D = dt.date
DAY = D(2026, 5, 10)


def lines(ref, *rows):
    return ed.ed_lines(
        claims(*rows),
        revenue_codes=ref.value_set("ed_revenue_code"),
        procedure_codes=ref.value_set("ed_procedure"),
        place_of_service=ref.value_set("ed_place_of_service"),
        inpatient_bill_types=ref.value_set("acute_inpatient_bill_type"),
    )


def visits(ref, *rows):
    frame = claims(*rows)
    acute = merge_stays(stay_claims(frame, ref.value_set("acute_inpatient_bill_type")), 1)
    return ed.ed_visits(lines(ref, *rows), acute, 1).collect().sort("member_id", "visit_date")


@pytest.mark.parametrize(
    ("row", "is_ed"),
    [
        (claim_line(claim_type="institutional", revenue_center_code="0450"), True),
        (claim_line(claim_type="institutional", revenue_center_code="0459"), True),
        (claim_line(claim_type="institutional", revenue_center_code="0981"), True),
        (claim_line(claim_type="institutional", revenue_center_code="0460"), False),
        (claim_line(claim_type="professional", revenue_center_code="0450"), False),
        (claim_line(claim_type="professional", hcpcs_code="99281"), True),
        (claim_line(claim_type="institutional", hcpcs_code="99285"), True),
        (claim_line(claim_type="professional", hcpcs_code="99286"), False),
        (claim_line(claim_type="professional", hcpcs_code="G0384"), True),
        (claim_line(claim_type="professional", hcpcs_code="G0385"), False),
        (claim_line(claim_type="professional", place_of_service_code="23"), True),
        (claim_line(claim_type="institutional", place_of_service_code="23"), False),
        (claim_line(claim_type="professional", place_of_service_code="22"), False),
        # ED lines on an inpatient claim belong to the stay
        (
            claim_line(
                claim_type="institutional", bill_type_code="111", revenue_center_code="0450"
            ),
            False,
        ),
    ],
)
def test_ed_line_definition(ref, row, is_ed):
    row = {**row, "member_id": "m", "claim_id": "c", "claim_start_date": DAY}
    assert lines(ref, row).collect().height == (1 if is_ed else 0)


def test_line_service_date_wins_over_claim_start(ref):
    row = ed_facility("m", D(2026, 5, 1), "c", claim_line_start_date=D(2026, 5, 2))
    assert lines(ref, row).collect()["visit_date"].to_list() == [D(2026, 5, 2)]


def test_two_claims_one_day_are_one_visit_with_the_institutional_dx(ref):
    got = visits(
        ref,
        ed_professional("m", DAY, "1", dx="R51"),
        ed_facility("m", DAY, "2", dx="J069"),
        ed_facility("m", DAY, "2", dx="J069", claim_line_number=2, revenue_center_code="0300"),
    )
    assert got.height == 1
    assert got.select("primary_dx", "source_key").row(0) == ("J069", "1; 2")


def test_professional_dx_when_no_institutional_claim(ref):
    got = visits(ref, ed_professional("m", DAY, "9", dx="R51"))
    assert got["primary_dx"].to_list() == ["R51"]


def test_dx_ties_go_to_the_smallest_claim_id_as_text(ref):
    got = visits(
        ref,
        ed_facility("m", DAY, "9", dx="R51"),
        ed_facility("m", DAY, "10", dx="J069"),  # "10" < "9" as text
    )
    assert got["primary_dx"].to_list() == ["J069"]


def test_claims_without_a_first_diagnosis_are_passed_over(ref):
    got = visits(ref, ed_facility("m", DAY, "1", dx=None), ed_professional("m", DAY, "2", dx="R51"))
    assert got["primary_dx"].to_list() == ["R51"]


def test_visits_on_different_days_and_members_are_separate(ref):
    got = visits(
        ref,
        ed_facility("m", DAY, "1"),
        ed_facility("m", DAY + dt.timedelta(days=1), "2"),
        ed_facility("n", DAY, "3"),
    )
    assert got.height == 3


@pytest.mark.parametrize(
    ("days_before_admission", "kept"),
    [(0, False), (1, False), (2, True), (-1, True)],
)
def test_visit_on_admission_day_or_the_day_before_belongs_to_the_stay(
    ref, days_before_admission, kept
):
    admit = D(2026, 6, 10)
    visit_day = admit - dt.timedelta(days=days_before_admission)
    got = visits(
        ref,
        ed_facility("m", visit_day, "ed"),
        inpatient("m", admit, admit + dt.timedelta(days=3), "ip"),
    )
    # -1: the day after admission is not "the admission date or the day before"
    assert (got.height == 1) is kept


def test_a_planned_stay_still_absorbs_its_ed_visit(ref):
    admit = D(2026, 6, 10)
    got = visits(
        ref, ed_facility("m", admit, "ed"), inpatient("m", admit, admit, "ip", admit_type="3")
    )
    assert got.height == 0


def classify(ref, codes, method="nyu_threshold"):
    frame = pl.LazyFrame(
        {"member_id": ["m"] * len(codes), "visit_date": [DAY] * len(codes), "primary_dx": codes}
    )
    got = ed.classify_ed_visits(
        frame, ref.nyu_icd10.lazy(), method=method, threshold=0.5, min_prefix_length=3
    ).collect()
    # joins do not keep row order: return rows in the order the codes were given
    order = {code: i for i, code in enumerate(codes)}
    return got.sort(pl.col("primary_dx").replace_strict(order, default=len(codes)))


def test_nyu_exact_then_longest_prefix_of_three_or_more(ref):
    got = classify(ref, ["J069", "R519", "U071", "R5", None])
    assert got["nyu_code"].to_list() == ["J069", "R51", None, None, None]
    assert got["nyu_group"].to_list() == [
        "classified",
        "classified",
        "unclassified",
        "unclassified",
        "unclassified",
    ]


def test_special_categories_are_never_avoidable(ref):
    got = classify(ref, ["T401X1A", "F329", "F1020", "S72001A"], method="nyu_expected")
    assert got["nyu_group"].to_list() == ["injury", "psych", "alcohol", "injury"]
    assert got["avoidable_weight"].to_list() == [0.0, 0.0, 0.0, 0.0]


@pytest.mark.parametrize(
    ("method", "code", "weight"),
    [
        ("nyu_threshold", "J069", 1.0),  # 0.18 + 0.82 = 1.0 > 0.5
        ("nyu_threshold", "A6000", 0.0),  # exactly 0.5 is not more than 0.5
        ("nyu_threshold", "R0789", 0.61111111),  # epct 0.61 > 0.5
        ("nyu_max", "A6000", 0.0),  # edcnnpa 0.5 ties epct 0.5: not avoidable
        ("nyu_max", "R0789", 1.0),
        ("nyu_expected", "A6000", 0.5),
        ("nyu_expected", "K529", 1.0),
        ("all_ed", "F329", 1.0),
        ("all_ed", "U071", 1.0),
    ],
)
def test_avoidable_methods(ref, method, code, weight):
    got = classify(ref, [code], method=method)
    expected = 1.0 if (method == "nyu_threshold" and weight > 0) else weight
    assert got["avoidable_weight"][0] == pytest.approx(expected)
    assert got["is_avoidable"][0] == (expected > 0)


def test_an_ed_line_without_a_bill_type_on_an_inpatient_claim_belongs_to_the_stay(ref):
    # The claim is inpatient (its first line says 111); its second line, billed a day
    # later with ED revenue and no bill type of its own, is not an ED visit.
    got = lines(
        ref,
        inpatient("m", D(2026, 3, 1), D(2026, 3, 5), "ip"),
        claim_line(
            member_id="m",
            claim_id="ip",
            claim_line_number=2,
            claim_type="institutional",
            revenue_center_code="0450",
            claim_start_date=D(2026, 3, 1),
            claim_line_start_date=D(2026, 3, 3),
        ),
    )
    assert got.collect().height == 0
