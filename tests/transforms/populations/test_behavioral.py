import datetime as dt

import pytest

from tests.transforms.populations.facts import (
    ADULT,
    AS_OF,
    CHILD,
    WINDOW,
    criteria,
    fact,
    members,
    qualified,
)
from transforms.populations.behavioral import smi_sud_adult, smi_sud_child

D = dt.date
SMI = fact("a", "smi_dx", D(2026, 2, 1), "F200")
CSF = fact(
    "a",
    "complex_social_factor_dx",
    D(2026, 3, 1),
    "Z590",
)


def adult(**fields):
    result = smi_sud_adult(
        "SMI_SUD_ADULT",
        members(("a", ADULT)),
        criteria(**fields),
        WINDOW,
        age_group="adult",
        min_acute_care_events=2,
        min_mh_sud_acute_events=2,
    )
    return qualified(result)


def ed(day):
    return fact("a", "ed_visit", day, "J069")


def office(day):
    return fact("a", "office_visit", day)


@pytest.mark.parametrize(
    "extra",
    [
        {"conditions": [fact("a", "overdose_dx", D(2026, 4, 1), "T401X1A")]},
        {"conditions": [fact("a", "suicidality_dx", D(2026, 4, 1), "R45851")]},
        {"psychiatric_stays": [fact("a", "psychiatric_stay", D(2026, 4, 1), "F200")]},
        {"procedures": [fact("a", "crisis_service", D(2026, 4, 1), "H2011")]},
        {
            "ed_visits": [ed(D(2026, 4, 1))],
            "urgent_care_visits": [fact("a", "urgent_care_visit", D(2026, 5, 1))],
            "office_visits": [office(D(2026, 6, 1))],
        },
        {
            "mh_sud_ed_visits": [
                fact("a", "ed_visit_mh_sud", D(2026, 4, 1), "F200"),
                fact("a", "ed_visit_mh_sud", D(2026, 5, 1), "F200"),
            ],
            "office_visits": [office(D(2026, 1, d)) for d in range(1, 9)],
        },
    ],
    ids=[
        "overdose",
        "suicidality",
        "psych_stay",
        "crisis",
        "acute_care_outnumbers_office",
        "two_mh_sud_ed_visits",
    ],
)
def test_adult_qualifies_on_each_branch(extra):
    conditions = [SMI, CSF, *extra.pop("conditions", [])]
    assert adult(conditions=conditions, complex_social_factors=[CSF], **extra) == {"a"}


@pytest.mark.parametrize(
    "extra",
    [
        {},
        {"ed_visits": [ed(D(2026, 4, 1))]},  # one acute-care event is not two
        {
            "ed_visits": [ed(D(2026, 4, 1)), ed(D(2026, 5, 1))],
            "office_visits": [office(D(2026, 6, 1)), office(D(2026, 7, 1))],
        },  # 2 vs 2: no
        {
            "mh_sud_ed_visits": [fact("a", "ed_visit_mh_sud", D(2026, 4, 1), "F200")],
            "office_visits": [office(D(2026, 6, 1))],
        },
    ],
    ids=["nothing", "one_ed_visit", "ties_office_visits", "one_mh_sud_ed_visit"],
)
def test_adult_misses_without_a_branch(extra):
    assert adult(conditions=[SMI, CSF], complex_social_factors=[CSF], **extra) == set()


def test_adult_needs_a_complex_social_factor():
    overdose = fact("a", "overdose_dx", D(2026, 4, 1), "T401X1A")
    assert adult(conditions=[SMI, overdose]) == set()


def test_adult_needs_smi_or_sud_in_the_lookback():
    old = fact("a", "smi_dx", D(2025, 10, 31), "F200")
    overdose = fact("a", "overdose_dx", D(2026, 4, 1), "T401X1A")
    assert adult(conditions=[old, overdose], complex_social_factors=[CSF]) == set()
    sud = fact("a", "sud_dx", D(2026, 2, 1), "F1020")
    assert adult(conditions=[sud, overdose], complex_social_factors=[CSF]) == {"a"}


def child(**fields):
    return smi_sud_child(
        "SMI_SUD_CHILD",
        members(("c", CHILD)),
        criteria(**fields),
        WINDOW,
        age_group="child_youth",
        min_mh_sud_dx_dates=2,
        min_mh_sud_acute_events=1,
    )


def test_child_two_distinct_dates_of_mh_sud_dx():
    two_dates = child(
        conditions=[
            fact("c", "mh_sud_dx", D(2026, 1, 1), "F329", key="1"),
            fact("c", "mh_sud_dx", D(2026, 3, 1), "F411", key="2"),
        ]
    )
    assert qualified(two_dates) == {"c"}
    assert two_dates.qualified.collect()["qualifying_date"][0] == D(2026, 3, 1)
    one_date = child(
        conditions=[
            fact("c", "mh_sud_dx", D(2026, 1, 1), "F329", key="1"),
            fact("c", "mh_sud_dx", D(2026, 1, 1), "F411", key="2"),
        ]
    )
    assert qualified(one_date) == set()


@pytest.mark.parametrize(
    "field", ["mh_sud_ed_visits", "mh_sud_acute_stays", "mh_sud_crisis_services"]
)
def test_child_one_mh_sud_acute_event(field):
    assert qualified(child(**{field: [fact("c", field, D(2026, 5, 5), "F329")]})) == {"c"}


def test_child_event_before_the_lookback_does_not_count():
    assert (
        qualified(child(mh_sud_ed_visits=[fact("c", "ed_visit_mh_sud", D(2025, 10, 31))])) == set()
    )


def test_adults_are_not_children():
    result = smi_sud_child(
        "SMI_SUD_CHILD",
        members(("a", ADULT)),
        criteria(mh_sud_ed_visits=[fact("a", "ed_visit_mh_sud", AS_OF)]),
        WINDOW,
        age_group="child_youth",
        min_mh_sud_dx_dates=2,
        min_mh_sud_acute_events=1,
    )
    assert qualified(result) == set()


@pytest.mark.parametrize(
    ("dx_days", "acute_day", "expected"),
    [
        # the 2nd dx date (2026-03-01) comes before the acute event (2026-05-05)
        ((D(2026, 1, 1), D(2026, 3, 1)), D(2026, 5, 5), D(2026, 3, 1)),
        # the acute event (2026-02-01) comes before the 2nd dx date (2026-06-01)
        ((D(2026, 1, 1), D(2026, 6, 1)), D(2026, 2, 1), D(2026, 2, 1)),
        # the 3rd dx date is after both: the count reached 2 on the 2nd
        ((D(2026, 1, 1), D(2026, 3, 1), D(2026, 9, 1)), D(2026, 8, 1), D(2026, 3, 1)),
        # both met the same day
        ((D(2026, 1, 1), D(2026, 4, 4)), D(2026, 4, 4), D(2026, 4, 4)),
    ],
    ids=["dx_first", "acute_first", "dx_beyond_threshold", "same_day"],
)
def test_child_meeting_both_branches_qualifies_on_the_earlier_date(dx_days, acute_day, expected):
    """populations.md, "What each assignment carries": each branch is a count rule dated
    by the event that reached its threshold; a member who meets both qualified when the
    first branch was met (docs/DECISIONS.md: the earlier of the two)."""
    result = child(
        conditions=[
            fact("c", "mh_sud_dx", day, "F329", key=str(i)) for i, day in enumerate(dx_days)
        ],
        mh_sud_ed_visits=[fact("c", "ed_visit_mh_sud", acute_day, "F329", key="ed")],
    )
    assert result.qualified.collect()["qualifying_date"].to_list() == [expected]
    # the evidence holds both branches' facts
    assert result.evidence.collect().height == len(dx_days) + 1
