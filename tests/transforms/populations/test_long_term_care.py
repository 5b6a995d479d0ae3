import datetime as dt

import polars as pl
import pytest

from tests.transforms.populations.facts import (
    ADULT,
    AS_OF,
    DAY_BEFORE,
    WINDOW,
    criteria,
    fact,
    members,
    qualified,
)
from transforms.populations.long_term_care import ltc_risk_adult, nf_transition_adult

D = dt.date
CSF = fact("a", "complex_social_factor_dx", D(2026, 3, 1), "Z590")


def assessments(*rows):
    full = []
    for i, r in enumerate(rows):
        full.append(
            {
                "member_id": "a",
                "assessment_date": r[0],
                "residence_setting": r[1],
                "meets_snf_level_of_care": r[2],
                "needs_lower_acuity_skilled_nursing": r[3],
                "interested_in_community_transition": r[4],
                "able_to_reside_in_community": r[5],
                "_source_file": "nursing_facility_assessment.csv",
                "_line": i + 2,
            }
        )
    schema = {
        "member_id": pl.String,
        "assessment_date": pl.Date,
        "residence_setting": pl.String,
        "meets_snf_level_of_care": pl.String,
        "needs_lower_acuity_skilled_nursing": pl.String,
        "interested_in_community_transition": pl.String,
        "able_to_reside_in_community": pl.String,
        "_source_file": pl.String,
        "_line": pl.Int64,
    }
    return pl.LazyFrame(full, schema=schema)


def ltc(rows, csf=True, discharges=()):
    c = criteria(
        complex_social_factors=[CSF] if csf else [],
        nursing_facility_discharges_home=list(discharges),
    )
    return qualified(
        ltc_risk_adult(
            "LTC_RISK_ADULT",
            members(("a", ADULT)),
            c,
            assessments(*rows),
            WINDOW,
            age_group="adult",
        )
    )


@pytest.mark.parametrize(
    ("rows", "qualifies"),
    [
        ([(D(2026, 5, 1), "community", "Y", "N", "N", None)], True),  # able empty: not N
        ([(D(2026, 5, 1), "community", "N", "Y", "N", "Y")], True),  # lower-acuity nursing
        ([(D(2026, 5, 1), "community", "Y", "N", "N", "N")], False),  # cannot reside
        ([(D(2026, 5, 1), "community", "N", "N", "N", "Y")], False),  # no level of care
        ([(D(2026, 5, 1), "nursing_facility", "Y", "N", "N", "Y")], False),
        # the latest assessment decides: a later one in a nursing facility
        (
            [
                (D(2026, 5, 1), "community", "Y", "N", "N", "Y"),
                (D(2026, 7, 1), "nursing_facility", "Y", "N", "N", "Y"),
            ],
            False,
        ),
        # several on the latest date: any of them
        (
            [
                (D(2026, 7, 1), "nursing_facility", "Y", "N", "N", "Y"),
                (D(2026, 7, 1), "community", "Y", "N", "N", "Y"),
            ],
            True,
        ),
        # outside the lookback
        ([(DAY_BEFORE, "community", "Y", "N", "N", "Y")], False),
    ],
)
def test_ltc_by_assessment(rows, qualifies):
    assert (ltc(rows) == {"a"}) is qualifies


def test_ltc_needs_a_complex_social_factor():
    assert ltc([(D(2026, 5, 1), "community", "Y", "N", "N", "Y")], csf=False) == set()


def test_ltc_by_nursing_facility_discharge_home():
    home = fact("a", "nursing_facility_discharge_to_community", D(2026, 6, 1), "01")
    assert ltc([], discharges=[home]) == {"a"}
    assert ltc([], csf=False, discharges=[home]) == set()


def nf(rows):
    return qualified(
        nf_transition_adult(
            "NF_TRANSITION_ADULT",
            members(("a", ADULT)),
            assessments(*rows),
            WINDOW,
            age_group="adult",
        )
    )


@pytest.mark.parametrize(
    ("rows", "qualifies"),
    [
        ([(AS_OF, "nursing_facility", "Y", "N", "Y", "Y")], True),
        ([(AS_OF, "nursing_facility", "Y", "N", "N", "Y")], False),
        ([(AS_OF, "nursing_facility", "Y", "N", "Y", None)], False),
        ([(AS_OF, "community", "Y", "N", "Y", "Y")], False),
        (
            [
                (D(2026, 1, 1), "nursing_facility", "Y", "N", "Y", "Y"),
                (D(2026, 9, 1), "nursing_facility", "Y", "N", "N", "Y"),
            ],
            False,
        ),
        ([(DAY_BEFORE, "nursing_facility", "Y", "N", "Y", "Y")], False),
    ],
)
def test_nf_transition(rows, qualifies):
    assert (nf(rows) == {"a"}) is qualifies
