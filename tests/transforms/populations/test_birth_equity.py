import datetime as dt

import pytest

from tests.transforms.populations.facts import (
    ADULT,
    CHILD,
    DAY_BEFORE,
    WINDOW,
    criteria,
    fact,
    members,
    qualified,
)
from transforms.populations.birth_equity import birth_equity

D = dt.date
RACES = [
    "black or african american",
    "american indian or alaska native",
    "native hawaiian or other pacific islander",
]


def run(race, conditions=(), ends=(), birth=ADULT, age_group="adult"):
    c = criteria(conditions=list(conditions), pregnancy_end=list(ends))
    m = members(("p", birth, {"race": race}))
    return qualified(
        birth_equity(
            "BIRTH_EQUITY", m, c, WINDOW, age_group=age_group, races=RACES, carryover_months=9
        )
    ) == {"p"}


PREGNANT = fact("p", "pregnancy_postpartum_dx", D(2026, 3, 1), "Z3480")


@pytest.mark.parametrize("race", RACES)
def test_each_race_of_the_population(race):
    assert run(race, [PREGNANT])


@pytest.mark.parametrize("race", ["white", "asian", "other race", "unknown", None])
def test_races_outside_the_population(race):
    assert not run(race, [PREGNANT])


def test_child_and_adult_codes_by_age():
    assert run("black or african american", [PREGNANT], birth=CHILD, age_group="child_youth")
    assert not run("black or african american", [PREGNANT], birth=CHILD, age_group="adult")


def test_no_pregnancy_dx_no_population():
    assert not run("black or african american", [fact("p", "chronic_condition_dx", D(2026, 3, 1))])


BEFORE = fact("p", "pregnancy_postpartum_dx", DAY_BEFORE - dt.timedelta(days=30), "Z3A20")


def test_pregnancy_dx_just_before_the_lookback_without_an_end_counts():
    assert run("black or african american", [BEFORE])


def test_pregnancy_dx_just_before_the_lookback_with_a_delivery_after_it_does_not():
    delivery = fact("p", "pregnancy_end", DAY_BEFORE - dt.timedelta(days=5), "O80")
    assert not run("black or african american", [BEFORE], ends=[delivery])


def test_a_delivery_inside_the_lookback_does_not_undo_the_carry_over():
    delivery = fact("p", "pregnancy_end", D(2025, 12, 1), "O80")
    assert run("black or african american", [BEFORE], ends=[delivery])


def test_an_end_before_the_pregnancy_dx_is_an_earlier_pregnancy():
    old_end = fact("p", "pregnancy_end", BEFORE["event_date"] - dt.timedelta(days=200), "Z370")
    assert run("black or african american", [BEFORE], ends=[old_end])


def test_pregnancy_dx_more_than_nine_months_before_the_lookback_does_not_count():
    early = fact("p", "pregnancy_postpartum_dx", D(2025, 1, 31), "Z3480")  # 9 months + 1 day
    edge = fact("p", "pregnancy_postpartum_dx", D(2025, 2, 1), "Z3480")
    assert not run("black or african american", [early])
    assert run("black or african american", [edge])


def test_a_postpartum_code_after_a_delivery_before_the_lookback_does_not_carry_over():
    delivery_day = D(2025, 3, 1)
    delivered = fact("p", "pregnancy_postpartum_dx", delivery_day, "O80")
    postpartum = fact("p", "pregnancy_postpartum_dx", D(2025, 5, 1), "Z392")
    end = fact("p", "pregnancy_end", delivery_day, "O80")
    assert not run("black or african american", [delivered, postpartum], ends=[end])
