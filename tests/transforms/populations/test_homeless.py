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
from transforms.populations.homeless import homeless_adult, homeless_family

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
    result = homeless_family("HOMELESS_FAMILY", m, c, index_age_group="child_youth")
    assert qualified(result) == {"kid", "mom", "sibling", "lone_kid"}
    evidence = result.evidence.collect()
    mom = evidence.filter(evidence["member_id"] == "mom").to_dicts()
    assert [(e["criterion"], e["source_key"]) for e in mom] == [
        ("homeless_child_in_household", "S1")
    ]
