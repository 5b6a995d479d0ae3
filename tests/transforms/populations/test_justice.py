import datetime as dt

import pytest

from tests.transforms.populations.facts import (
    ADULT,
    AS_OF,
    CHILD,
    DAY_BEFORE,
    FIRST_DAY,
    LONG_WINDOW,
    WINDOW,
    criteria,
    fact,
    members,
    qualified,
)
from transforms.populations.justice import justice_adult, justice_child

D = dt.date
CLINICAL = [
    "mh_sud_dx",
    "chronic_condition_dx",
    "idd_dx",
    "tbi_dx",
    "hiv_aids_dx",
    "pregnancy_postpartum_dx",
]


def release(member, day, facility="county_jail"):
    return fact(member, "incarceration_release", day, facility, source_feed="incarceration")


def adult(*facts):
    c = criteria(
        incarceration=[f for f in facts if f["criterion"].startswith("incarceration")],
        conditions=[f for f in facts if f["criterion"].endswith("_dx")],
    )
    return qualified(
        justice_adult(
            "JUSTICE_ADULT",
            members(("a", ADULT)),
            c,
            WINDOW,
            LONG_WINDOW,
            age_group="adult",
            clinical_need_criteria=CLINICAL,
        )
    )


@pytest.mark.parametrize(
    ("release_day", "qualifies"),
    [(FIRST_DAY, True), (DAY_BEFORE, False), (AS_OF, True), (AS_OF + dt.timedelta(days=1), False)],
    ids=["first_day_of_lookback", "day_before_lookback", "as_of_date", "after_as_of"],
)
def test_adult_release_in_the_lookback(release_day, qualifies):
    dx = fact("a", "chronic_condition_dx", D(2026, 1, 1), "E119")
    assert (adult(release("a", release_day), dx) == {"a"}) is qualifies


@pytest.mark.parametrize(
    ("criterion", "day", "qualifies"),
    [
        ("mh_sud_dx", D(2025, 1, 1), True),  # 22 months back: inside the 24
        ("tbi_dx", LONG_WINDOW.start, True),
        ("hiv_aids_dx", LONG_WINDOW.start - dt.timedelta(days=1), False),
        ("smi_dx", D(2026, 1, 1), False),  # SMI alone is a subset of MH/SUD, tagged as mh_sud_dx
        ("pregnancy_postpartum_dx", D(2026, 1, 1), True),
        ("idd_dx", D(2026, 1, 1), True),
    ],
)
def test_adult_needs_a_clinical_dx_in_24_months(criterion, day, qualifies):
    assert (adult(release("a", D(2026, 6, 1)), fact("a", criterion, day)) == {"a"}) is qualifies


def test_adult_release_without_a_diagnosis_does_not_qualify():
    assert adult(release("a", D(2026, 6, 1))) == set()


def test_a_booking_is_not_a_release():
    assert (
        adult(
            fact("a", "incarceration_booking", D(2026, 6, 1)), fact("a", "mh_sud_dx", D(2026, 1, 1))
        )
        == set()
    )


def test_a_19_year_old_released_from_jail_is_justice_child():
    m = members(("y", D(2007, 3, 3)), ("a", ADULT), ("c", CHILD))
    c = criteria(
        incarceration=[
            release("y", D(2026, 9, 1), "county_jail"),
            release("a", D(2026, 9, 1)),
            release("c", DAY_BEFORE, "youth_correctional"),
        ]
    )
    assert qualified(justice_child("JUSTICE_CHILD", m, c, WINDOW, age_group="child_youth")) == {"y"}
