import datetime as dt

import duckdb
import polars as pl

from ecm.config.dates import RunDates
from ecm.ingest import ingest
from ecm.shards.evaluate import assign_populations, build_events, read_inputs
from tests.conftest import D, eligibility
from tests.feeds import line, member, write_feed
from tests.transforms.populations.facts import (
    ADULT,
    AS_OF,
    CHILD,
    FIRST_DAY,
    WINDOW,
    criteria,
    fact,
    members,
    qualified,
)
from transforms.members import enrolled_members
from transforms.populations.homeless import homeless_adult, homeless_family, unenrolled_children

ADULT_RULE = {
    "age_group": "adult",
    "complex_need_criteria": [
        "chronic_condition_dx",
        "mh_sud_dx",
        "idd_dx",
        "tbi_dx",
        "hiv_aids_dx",
        "pregnancy_postpartum_dx",
    ],
}
FAMILY_RULE = {"index_age_group": "child_youth"}
NOBODY_AWAY = pl.LazyFrame(schema={"member_id": pl.String, "subscriber_id": pl.String})
HOMELESS = fact("a", "homelessness_feed", AS_OF, source_feed="homelessness")


def test_adult_needs_homelessness_and_a_complex_need():
    c = criteria(
        homelessness=[
            HOMELESS,
            fact("b", "homelessness_dx", AS_OF, "Z5900"),
            fact("c", "homelessness_feed", AS_OF, source_feed="homelessness"),
            fact("kid", "homelessness_dx", AS_OF, "Z5900"),
        ],
        conditions=[
            fact("a", "chronic_condition_dx", AS_OF, "E119"),
            fact("kid", "chronic_condition_dx", AS_OF, "E119"),
            fact("d", "chronic_condition_dx", AS_OF, "E119"),
        ],
        ed_visits=[fact("b", "ed_visit", AS_OF, "J069")],
    )
    m = members(("a", ADULT), ("b", ADULT), ("c", ADULT), ("d", ADULT), ("kid", CHILD))
    got = qualified(homeless_adult("HOMELESS_ADULT", m, c, WINDOW, **ADULT_RULE))
    # c: homeless without a complex need; d: a need without homelessness; kid: under 21
    assert got == {"a", "b"}


def test_complex_need_diagnosis_outside_the_lookback_does_not_count():
    c = criteria(
        homelessness=[HOMELESS],
        conditions=[
            fact("a", "chronic_condition_dx", WINDOW.start.replace(year=2025, month=10, day=31))
        ],
    )
    m = members(("a", ADULT))
    assert qualified(homeless_adult("HOMELESS_ADULT", m, c, WINDOW, **ADULT_RULE)) == set()


def test_family_reaches_everyone_enrolled_sharing_the_subscriber():
    m = members(
        ("kid", CHILD, {"subscriber_id": "S1"}),
        ("mom", ADULT, {"subscriber_id": "S1"}),
        ("sibling", CHILD, {"subscriber_id": "S1"}),
        ("neighbour", ADULT, {"subscriber_id": "S2"}),
        ("lone_kid", CHILD),  # homeless, no subscriber: qualifies alone
        ("homeless_adult", ADULT, {"subscriber_id": "S3"}),
        ("adult_child", ADULT, {"subscriber_id": "S3"}),
    )
    c = criteria(
        homelessness=[
            fact("kid", "homelessness_feed", AS_OF, source_feed="homelessness"),
            fact("lone_kid", "homelessness_dx", AS_OF, "Z5901"),
            fact("homeless_adult", "homelessness_dx", AS_OF, "Z5901"),
        ]
    )
    result = homeless_family("HOMELESS_FAMILY", m, c, NOBODY_AWAY, **FAMILY_RULE)
    assert qualified(result) == {"kid", "mom", "sibling", "lone_kid"}
    evidence = result.evidence.collect()
    mom = evidence.filter(evidence["member_id"] == "mom").to_dicts()
    assert [(e["criterion"], e["source_key"]) for e in mom] == [
        ("homeless_child_in_household", "S1")
    ]


# --- the index child need not be enrolled on the as-of date (populations.md, updated) -----


def roster(*rows: tuple) -> pl.LazyFrame:
    """Eligibility rows (member_id, birth_date, {extra}) with spans the tests choose."""
    return eligibility(
        *({"member_id": r[0], "birth_date": r[1], **(r[2] if len(r) > 2 else {})} for r in rows)
    )


ENDED = {"enrollment_end_date": AS_OF.replace(month=6, day=30)}  # lapsed before the as-of date


def test_a_lapsed_homeless_child_brings_in_the_enrolled_household():
    elig = roster(
        ("mom", ADULT, {"subscriber_id": "S1"}),
        ("sibling", CHILD, {"subscriber_id": "S1"}),
        ("kid", CHILD, {"subscriber_id": "S1", **ENDED}),
    )
    m = enrolled_members(elig, AS_OF, 21)
    away = unenrolled_children(elig, m, AS_OF, max_age_exclusive=21)
    c = criteria(homelessness=[fact("kid", "homelessness_dx", FIRST_DAY, "Z5901")])
    result = homeless_family("HOMELESS_FAMILY", m, c, away, **FAMILY_RULE)
    # the child is not enrolled on the as-of date, so is not assigned; the household is
    assert qualified(result) == {"mom", "sibling"}
    evidence = result.evidence.collect()
    assert set(evidence["criterion"]) == {"homeless_child_in_household"}
    assert set(evidence["source_key"]) == {"S1"}
    assert set(evidence["event_date"]) == {FIRST_DAY}


def test_a_lapsed_member_aged_21_on_the_as_of_date_is_no_index():
    turns_21 = AS_OF.replace(year=AS_OF.year - 21)  # 21st birthday on the as-of date
    just_under = turns_21 + dt.timedelta(days=1)  # still 20 on the as-of date
    elig = roster(
        ("mom", ADULT, {"subscriber_id": "S1"}),
        ("kid21", turns_21, {"subscriber_id": "S1", **ENDED}),
        ("dad", ADULT, {"subscriber_id": "S2"}),
        ("kid20", just_under, {"subscriber_id": "S2", **ENDED}),
    )
    m = enrolled_members(elig, AS_OF, 21)
    away = unenrolled_children(elig, m, AS_OF, max_age_exclusive=21)
    assert set(away.collect()["member_id"]) == {"kid20"}
    c = criteria(
        homelessness=[
            fact("kid21", "homelessness_feed", AS_OF, source_feed="homelessness"),
            fact("kid20", "homelessness_feed", AS_OF, source_feed="homelessness"),
        ]
    )
    result = homeless_family("HOMELESS_FAMILY", m, c, away, **FAMILY_RULE)
    assert qualified(result) == {"dad"}


def test_a_homeless_child_who_died_still_makes_the_household_qualify():
    """Decision (docs/DECISIONS.md): death, like lapsed enrolment, only keeps the child
    out of the assignments; the child's homelessness evidence still marks the household."""
    died = {"subscriber_id": "S1", "death_date": AS_OF.replace(month=9, day=1)}
    elig = roster(("mom", ADULT, {"subscriber_id": "S1"}), ("kid", CHILD, died))
    m = enrolled_members(elig, AS_OF, 21)
    away = unenrolled_children(elig, m, AS_OF, max_age_exclusive=21)
    c = criteria(homelessness=[fact("kid", "homelessness_dx", FIRST_DAY, "Z5901")])
    assert qualified(homeless_family("HOMELESS_FAMILY", m, c, away, **FAMILY_RULE)) == {"mom"}


def test_unenrolled_children_takes_the_latest_span_and_skips_the_enrolled():
    elig = roster(
        ("kid", CHILD, {"subscriber_id": "OLD", "enrollment_end_date": D(2021, 12, 31)}),
        (
            "kid",
            CHILD,
            {"subscriber_id": "NEW", "enrollment_start_date": D(2022, 1, 1), **ENDED},
        ),
        ("enrolled_kid", CHILD, {"subscriber_id": "S9"}),
        ("lapsed_adult", ADULT, {"subscriber_id": "S9", **ENDED}),
    )
    m = enrolled_members(elig, AS_OF, 21)
    away = unenrolled_children(elig, m, AS_OF, max_age_exclusive=21).collect()
    assert away.select("member_id", "subscriber_id").rows() == [("kid", "NEW")]


def test_a_lapsed_child_s_homelessness_diagnosis_reaches_the_rule(tmp_path, rules, ref):
    """End to end: a Z59.01 on the claim of a child whose enrolment lapsed survives the
    criteria (only members' claims are read otherwise) and marks the enrolled household."""
    feeds = tmp_path / "feeds"
    write_feed(
        feeds,
        "eligibility",
        [
            member("MOM", "1985-01-01", subscriber_id="H1"),
            member("KID", "2015-03-03", subscriber_id="H1", enrollment_end_date="2026-06-30"),
            member("OLD", "2004-01-01", subscriber_id="H2", enrollment_end_date="2026-06-30"),
            member("DAD", "1980-01-01", subscriber_id="H2"),
        ],
    )
    write_feed(
        feeds,
        "medical_claim",
        [
            line("c-kid", "KID", "2026-05-01", diagnosis_code_1="Z59.01"),
            line("c-old", "OLD", "2026-05-01", diagnosis_code_1="Z59.01"),  # 22 on D
        ],
    )
    as_of = AS_OF
    with duckdb.connect() as con:
        staged = ingest(con, feeds, rules, tmp_path / "work")
        inputs = read_inputs(con, frozenset(staged.feeds), RunDates.of(rules, as_of).history_start)
    result = assign_populations(
        build_events(inputs, ref, rules, RunDates.of(rules, as_of)), inputs, rules
    )
    family = result.assignments.filter(pl.col("pof_code") == "HOMELESS_FAMILY")
    assert family["member_id"].to_list() == ["MOM"]
    assert family["qualifying_date"].to_list() == [D(2026, 5, 1)]
    metrics = result.member_metrics
    assert set(metrics["member_id"]) == {"MOM", "DAD"}  # still one row per enrolled member
