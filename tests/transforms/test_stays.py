import datetime as dt

import pytest

from tests.conftest import claims, eligibility, inpatient, nursing_stay
from transforms.members import enrolled_members
from transforms.stays import classify_stays, mark_avoidable_stays, merge_stays, stay_claims

D = dt.date


def acute_stays(ref, *rows, gap=1):
    return merge_stays(stay_claims(claims(*rows), ref.value_set("acute_inpatient_bill_type")), gap)


def classify(ref, rules, frame):
    return classify_stays(
        frame,
        unplanned_admit_types=ref.value_set("unplanned_admit_type"),
        newborn_admit_types=ref.value_set("newborn_admit_type"),
        missing_admit_type_codes=rules.setting("claims.admit_type_missing_codes"),
        empty_admit_type_is_unplanned=True,
        delivery_principal_dx=ref.value_set("delivery_principal_dx"),
        delivery_drg=ref.value_set("delivery_drg"),
    )


def test_overlapping_and_adjacent_claims_merge_a_two_day_gap_does_not(ref):
    got = acute_stays(
        ref,
        inpatient("m", D(2026, 1, 1), D(2026, 1, 5), "c1"),
        inpatient("m", D(2026, 1, 3), D(2026, 1, 8), "c2"),  # overlaps c1
        inpatient("m", D(2026, 1, 9), D(2026, 1, 10), "c3"),  # starts 1 day after: merges
        inpatient("m", D(2026, 1, 12), D(2026, 1, 14), "c4"),  # 2 days after: new stay
    ).collect()
    assert got.select("admission_date", "discharge_date", "claim_count").rows() == [
        (D(2026, 1, 1), D(2026, 1, 10), 3),
        (D(2026, 1, 12), D(2026, 1, 14), 1),
    ]


def test_transfer_chain_between_hospitals_is_one_stay(ref):
    got = acute_stays(
        ref,
        inpatient("m", D(2026, 3, 1), D(2026, 3, 4), "h1", facility_npi="1"),
        inpatient("m", D(2026, 3, 4), D(2026, 3, 9), "h2", facility_npi="2"),  # same-day transfer
        inpatient("m", D(2026, 3, 10), D(2026, 3, 20), "h3", facility_npi="3"),  # next day
    ).collect()
    assert got.height == 1
    assert got["source_key"][0] == "h1; h2; h3"


def test_claim_inside_a_long_stay_does_not_end_it(ref):
    # The running max end keeps the stay open past a short claim inside it.
    got = acute_stays(
        ref,
        inpatient("m", D(2026, 1, 1), D(2026, 1, 30), "long"),
        inpatient("m", D(2026, 1, 2), D(2026, 1, 3), "short"),
        inpatient("m", D(2026, 1, 20), D(2026, 2, 5), "tail"),
    ).collect()
    assert got.height == 1
    assert got["discharge_date"][0] == D(2026, 2, 5)


def test_principal_dx_and_admit_type_from_earliest_claim_ties_smallest_claim_id(ref):
    got = acute_stays(
        ref,
        inpatient("m", D(2026, 1, 1), D(2026, 1, 5), "20", dx="I509", admit_type="3"),
        inpatient("m", D(2026, 1, 1), D(2026, 1, 6), "100", dx="J189", admit_type="1"),
    ).collect()
    # "100" < "20" as text: the smaller claim id wins the tie on admission date.
    assert got.select("principal_dx", "admit_type_code").row(0) == ("J189", "1")


def test_claim_dates_stand_in_for_missing_admission_dates(ref):
    row = inpatient(
        "m", None, None, "c1", claim_start_date=D(2026, 4, 1), claim_end_date=D(2026, 4, 3)
    )
    got = acute_stays(ref, row).collect()
    assert got.select("admission_date", "discharge_date").row(0) == (D(2026, 4, 1), D(2026, 4, 3))


def test_members_never_merge_with_each_other(ref):
    got = acute_stays(
        ref,
        inpatient("a", D(2026, 1, 1), D(2026, 1, 5), "c1"),
        inpatient("b", D(2026, 1, 2), D(2026, 1, 5), "c2"),
    ).collect()
    assert got.height == 2


def test_bill_types_select_the_stay_type(ref):
    lines = claims(
        inpatient("m", D(2026, 1, 1), D(2026, 1, 5), "acute"),
        inpatient("m", D(2026, 1, 1), D(2026, 1, 5), "partb", bill_type="121"),
        nursing_stay("m", D(2026, 1, 6), D(2026, 2, 5), "snf"),
        inpatient("m", D(2026, 1, 6), D(2026, 2, 5), "swing", bill_type="181"),
        inpatient("m", D(2026, 1, 6), D(2026, 1, 6), "outpatient", bill_type="131"),
    )
    acute = stay_claims(lines, ref.value_set("acute_inpatient_bill_type")).collect()
    nursing = stay_claims(lines, ref.value_set("nursing_facility_bill_type")).collect()
    assert sorted(acute["claim_id"]) == ["acute", "partb"]
    assert sorted(nursing["claim_id"]) == ["snf", "swing"]


@pytest.mark.parametrize(
    ("admit_type", "dx", "drg", "unplanned", "newborn", "delivery"),
    [
        ("1", "J189", None, True, False, False),
        ("2", "J189", None, True, False, False),
        ("5", "S7200XA", None, True, False, False),
        (None, "J189", None, True, False, False),  # empty counts as unplanned
        ("9", "J189", None, True, False, False),  # 9 = information not available = empty
        ("3", "J189", None, False, False, False),  # elective: planned
        ("4", "Z3800", None, False, True, False),  # newborn: never
        ("1", "O80", None, False, False, True),  # delivery by principal dx
        ("1", "Z370", None, False, False, True),
        ("1", "O701", "807", False, False, True),  # delivery by MS-DRG
        ("1", "O701", "768", False, False, True),
        ("1", "O701", "789", True, False, False),  # 789 is a neonate DRG, not delivery
    ],
)
def test_unplanned_classification(ref, rules, admit_type, dx, drg, unplanned, newborn, delivery):
    stays = acute_stays(
        ref,
        inpatient(
            "m", D(2026, 1, 1), D(2026, 1, 3), "c", admit_type=admit_type, dx=dx, drg_code=drg
        ),
    )
    got = classify(ref, rules, stays).collect().row(0, named=True)
    assert (got["is_unplanned"], got["is_newborn"], got["is_delivery"]) == (
        unplanned,
        newborn,
        delivery,
    )


def test_pqi_method_limits_adults_but_not_children(ref, rules):
    members = enrolled_members(
        eligibility(
            {"member_id": "adult", "birth_date": D(1980, 1, 1)},
            {"member_id": "child", "birth_date": D(2015, 1, 1)},
        ),
        D(2026, 10, 31),
        21,
    )
    stays = classify(
        ref,
        rules,
        acute_stays(
            ref,
            inpatient(
                "adult", D(2026, 1, 1), D(2026, 1, 3), "a1", dx="I5021"
            ),  # heart failure: PQI 08
            inpatient(
                "adult", D(2026, 3, 1), D(2026, 3, 3), "a2", dx="S7200XA"
            ),  # hip fracture: not PQI
            inpatient("child", D(2026, 3, 1), D(2026, 3, 3), "c1", dx="S7200XA"),
        ),
    )
    pqi = ref.pqi_principal_dx(rules.setting("methods.pqi.numerator_value_sets"))
    got = mark_avoidable_stays(
        stays, members, method="pqi", pqi_principal_dx=pqi, pqi_age_group="adult"
    ).collect()
    assert dict(zip(got["source_key"], got["is_avoidable"], strict=True)) == {
        "a1": True,
        "a2": False,
        "c1": True,
    }
    every = mark_avoidable_stays(
        stays, members, method="unplanned", pqi_principal_dx=pqi, pqi_age_group="adult"
    ).collect()
    assert every["is_avoidable"].all()


def test_a_line_without_its_own_bill_type_stays_with_its_claim(ref):
    rows = [
        inpatient("m", D(2026, 3, 1), D(2026, 3, 5), "ip"),
        {
            **inpatient(
                "m",
                D(2026, 3, 1),
                D(2026, 3, 5),
                "ip",
                claim_line_number=2,
                revenue_center_code="0114",
            ),
            "bill_type_code": None,
        },
    ]
    got = acute_stays(ref, *rows).collect()
    assert got["revenue_codes"].to_list() == [["0114", "0120"]]
