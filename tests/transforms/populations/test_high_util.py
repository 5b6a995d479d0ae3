import datetime as dt

import polars as pl
import pytest

from tests.conftest import eligibility
from tests.transforms.populations.facts import PHRASES
from transforms.members import enrolled_members
from transforms.populations import with_evidence_summaries
from transforms.populations.high_util import high_utilizer
from transforms.windows import lookback

D = dt.date
AS_OF = D(2026, 10, 31)
WINDOW = lookback(AS_OF, 12)
THRESHOLDS = {
    "HIGH_UTIL_ADULT": ("adult", 5, 3),
    "HIGH_UTIL_CHILD": ("child_youth", 3, 2),
}


def members(*pairs):
    return enrolled_members(
        eligibility(*[{"member_id": m, "birth_date": b} for m, b in pairs]), AS_OF, 21
    )


def ed_visits(member, n, start=D(2026, 1, 1), avoidable=True):
    dates = [start + dt.timedelta(days=7 * i) for i in range(n)]
    return pl.DataFrame(
        {
            "member_id": [member] * n,
            "visit_date": dates,
            "primary_dx": ["J069"] * n,
            "source_key": [f"{member}-ed{i}" for i in range(n)],
            "avoidable_weight": [1.0 if avoidable else 0.0] * n,
            "is_avoidable": [avoidable] * n,
        },
        schema={
            "member_id": pl.String,
            "visit_date": pl.Date,
            "primary_dx": pl.String,
            "source_key": pl.String,
            "avoidable_weight": pl.Float64,
            "is_avoidable": pl.Boolean,
        },
    )


def stays(member, n, start=D(2026, 1, 1), stay_type="acute"):
    dates = [start + dt.timedelta(days=30 * i) for i in range(n)]
    return pl.DataFrame(
        {
            "member_id": [member] * n,
            "admission_date": dates,
            "principal_dx": ["J189"] * n,
            "source_key": [f"{member}-ip{i}" for i in range(n)],
            "is_avoidable": [True] * n,
            "stay_type": [stay_type] * n,
        },
        schema={
            "member_id": pl.String,
            "admission_date": pl.Date,
            "principal_dx": pl.String,
            "source_key": pl.String,
            "is_avoidable": pl.Boolean,
            "stay_type": pl.String,
        },
    )


def run(code, member_frame, visit_frames=(), stay_frames=()):
    group, min_ed, min_stays = THRESHOLDS[code]
    visits = pl.concat([ed_visits("x", 0), *visit_frames]).lazy()
    all_stays = pl.concat([stays("x", 0), *stay_frames]).lazy()
    result = high_utilizer(
        code,
        member_frame,
        visits,
        all_stays,
        WINDOW,
        age_group=group,
        min_avoidable_ed_visits=min_ed,
        min_avoidable_unplanned_stays=min_stays,
    )
    return with_evidence_summaries(result, PHRASES).collect(), result.evidence.collect()


ADULT_BIRTH = D(1980, 5, 5)
CHILD_BIRTH = D(2012, 5, 5)


@pytest.mark.parametrize(("n", "qualifies"), [(4, False), (5, True)])
def test_adult_five_avoidable_ed_visits(n, qualifies):
    q, ev = run("HIGH_UTIL_ADULT", members(("a", ADULT_BIRTH)), [ed_visits("a", n)])
    assert (q.height == 1) is qualifies
    if qualifies:
        assert q["qualifying_date"][0] == D(2026, 1, 29)  # the 5th visit
        assert q["evidence_summary"][0] == "5 avoidable ED visits 2026-01-01..2026-01-29"
        assert ev.height == 5
        assert set(ev["criterion"]) == {"avoidable_ed_visit"}


@pytest.mark.parametrize(("n", "qualifies"), [(2, False), (3, True)])
def test_child_three_avoidable_ed_visits(n, qualifies):
    q, _ = run("HIGH_UTIL_CHILD", members(("c", CHILD_BIRTH)), [ed_visits("c", n)])
    assert (q.height == 1) is qualifies


@pytest.mark.parametrize(("n", "qualifies"), [(2, False), (3, True)])
def test_adult_three_avoidable_unplanned_stays(n, qualifies):
    q, ev = run("HIGH_UTIL_ADULT", members(("a", ADULT_BIRTH)), stay_frames=[stays("a", n)])
    assert (q.height == 1) is qualifies
    if qualifies:
        assert set(ev["criterion"]) == {"avoidable_unplanned_acute_stay"}


@pytest.mark.parametrize(("n", "qualifies"), [(1, False), (2, True)])
def test_child_two_avoidable_unplanned_stays(n, qualifies):
    q, _ = run("HIGH_UTIL_CHILD", members(("c", CHILD_BIRTH)), stay_frames=[stays("c", n)])
    assert (q.height == 1) is qualifies


def test_hospital_and_nursing_facility_stays_both_count():
    q, ev = run(
        "HIGH_UTIL_ADULT",
        members(("a", ADULT_BIRTH)),
        stay_frames=[
            stays("a", 2),
            stays("a", 1, start=D(2026, 6, 1), stay_type="nursing_facility"),
        ],
    )
    assert q.height == 1
    assert sorted(set(ev["criterion"])) == [
        "avoidable_unplanned_acute_stay",
        "avoidable_unplanned_nursing_facility_stay",
    ]


def test_age_20_uses_child_thresholds_and_21_adult_thresholds():
    # Three avoidable ED visits: enough for a 20-year-old, not for a 21-year-old.
    group = members(("twenty", D(2005, 11, 1)), ("twenty_one", D(2005, 10, 31)))
    visits = [ed_visits("twenty", 3), ed_visits("twenty_one", 3)]
    child, _ = run("HIGH_UTIL_CHILD", group, visits)
    adult, _ = run("HIGH_UTIL_ADULT", group, visits)
    assert child["member_id"].to_list() == ["twenty"]
    assert adult.height == 0


def test_not_avoidable_visits_do_not_count():
    q, _ = run(
        "HIGH_UTIL_ADULT",
        members(("a", ADULT_BIRTH)),
        [ed_visits("a", 4), ed_visits("a", 3, start=D(2026, 6, 1), avoidable=False)],
    )
    assert q.height == 0


def test_both_criteria_met_the_earlier_date_and_both_summaries():
    q, ev = run(
        "HIGH_UTIL_ADULT",
        members(("a", ADULT_BIRTH)),
        [ed_visits("a", 5, start=D(2026, 3, 1))],
        [stays("a", 3, start=D(2025, 12, 1))],
    )
    assert q["qualifying_date"][0] == D(2026, 1, 30)  # the 3rd stay, before the 5th visit
    assert q["evidence_summary"][0] == (
        "5 avoidable ED visits 2026-03-01..2026-03-29; "
        "3 avoidable unplanned stays 2025-12-01..2026-01-30"
    )
    assert ev.height == 8


def test_visits_before_the_lookback_do_not_count():
    q, _ = run(
        "HIGH_UTIL_ADULT", members(("a", ADULT_BIRTH)), [ed_visits("a", 5, start=D(2025, 10, 4))]
    )  # the 5th on 2025-11-01: 1 inside
    assert q.height == 0
