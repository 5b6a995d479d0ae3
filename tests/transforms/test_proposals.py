"""Proposals for members with no ECM provider (transforms.proposals) at the boundaries of
loop.md, section 4: the primary care provider's ties (latest visit, then smallest NPI), the
county fallback's ties (most room, then smallest NPI), capacity exactly reached, a primary
care provider not on the roster or not serving the member's populations, room reduced by
assignments and RTF enrollments, and member_id order."""

from __future__ import annotations

import datetime as dt

import polars as pl
import pytest

from transforms import proposals
from transforms.proposals import COUNTY_CAPACITY, PCP, ROSTER_SCHEMA
from transforms.windows import Window

D = dt.date
P, Q, R = "1111111111", "2222222222", "3333333333"
WINDOW = Window(D(2025, 11, 1), D(2026, 10, 31))
OFFICE = pl.DataFrame({"code": ["99213"], "match": ["exact"]})
ED_POS = pl.DataFrame({"code": ["23"], "match": ["exact"]})


def line(member: str, npi: str | None, day: dt.date, code="99213", pos="11", claim=None):
    return {
        "member_id": member,
        "claim_id": claim or f"{member}-{npi}-{day}",
        "claim_start_date": day,
        "claim_line_start_date": day,
        "hcpcs_code": code,
        "place_of_service_code": pos,
        "rendering_npi": npi,
    }


def pcp_of(*lines: dict) -> dict[str, str]:
    frame = pl.LazyFrame(list(lines))
    result = proposals.primary_care(frame, OFFICE, ED_POS, WINDOW).collect()
    return dict(result.select("member_id", "primary_care_npi").iter_rows())


def test_the_primary_care_provider_has_most_office_visits():
    assert pcp_of(
        line("A", Q, D(2026, 1, 1)),
        line("A", Q, D(2026, 2, 1)),
        line("A", P, D(2026, 9, 1)),
    ) == {"A": Q}


def test_a_tie_in_visits_goes_to_the_latest_visit():
    assert pcp_of(
        line("A", P, D(2026, 1, 1)),
        line("A", R, D(2026, 3, 1)),
        line("A", Q, D(2026, 2, 1)),
    ) == {"A": R}


def test_a_tie_in_visits_and_latest_visit_goes_to_the_smallest_npi():
    assert pcp_of(
        line("A", R, D(2026, 3, 1)),
        line("A", Q, D(2026, 3, 1)),
    ) == {"A": Q}


def test_visits_are_days_inside_the_lookback_not_lines_and_not_er_or_other_codes():
    # Q: two lines on one day (one visit); P: two days, one before the lookback.
    # R: an ED place of service and a non-E/M code do not count.
    assert pcp_of(
        line("A", Q, D(2026, 5, 1), claim="c1"),
        line("A", Q, D(2026, 5, 1), claim="c2"),
        line("A", P, D(2026, 4, 1)),
        line("A", P, D(2025, 10, 31)),
        line("A", R, D(2026, 6, 1), pos="23"),
        line("A", R, D(2026, 6, 2), code="99285"),
        line("B", None, D(2026, 6, 2)),
    ) == {"A": Q}


# --- proposals -------------------------------------------------------------------------


def roster(*rows: tuple) -> pl.DataFrame:
    """(npi, county, populations, capacity) rows."""
    return pl.DataFrame(
        [
            {"provider_npi": n, "provider_name": None, "county": c, "populations": p, "capacity": k}
            for n, c, p, k in rows
        ],
        schema=ROSTER_SCHEMA,
    )


def members(*rows: tuple) -> pl.DataFrame:
    """(member_id, pof_codes, county, primary_care_npi) rows."""
    return pl.DataFrame(
        [
            {"member_id": m, "pof_codes": codes, "county": c, "primary_care_npi": pcp}
            for m, codes, c, pcp in rows
        ],
        schema={
            "member_id": pl.String,
            "pof_codes": pl.List(pl.String),
            "county": pl.String,
            "primary_care_npi": pl.String,
        },
    )


NO_TAKEN = pl.DataFrame(schema={"provider_npi": pl.String, "taken": pl.Int64})


def proposed(frame, rost, taken=NO_TAKEN) -> dict[str, tuple]:
    result = proposals.propose(frame, rost, taken)
    return {m: (n, r) for m, n, r in result.iter_rows()}


SMI = ["SMI_SUD_ADULT"]


def test_the_pcp_is_proposed_when_on_the_roster_serving_and_with_room():
    result = proposed(
        members(("A", SMI, "Alameda", P)),
        roster((P, "Fresno", "SMI_SUD_ADULT", 1), (Q, "Alameda", "", 5)),
    )
    assert result == {"A": (P, PCP)}


def test_a_pcp_not_on_the_roster_falls_back_to_the_county():
    result = proposed(members(("A", SMI, "Alameda", R)), roster((Q, "Alameda", "", 5)))
    assert result == {"A": (Q, COUNTY_CAPACITY)}


def test_a_pcp_not_serving_the_members_populations_falls_back_to_the_county():
    result = proposed(
        members(("A", SMI, "Alameda", P)),
        roster((P, "Alameda", "HOMELESS_ADULT", 5), (Q, "Alameda", "", 1)),
    )
    assert result == {"A": (Q, COUNTY_CAPACITY)}


def test_a_provider_serving_one_of_several_populations_serves_the_member():
    result = proposed(
        members(("A", ["HOMELESS_ADULT", "SMI_SUD_ADULT"], "Alameda", P)),
        roster((P, "Alameda", "SMI_SUD_ADULT; JUSTICE_ADULT", 5)),
    )
    assert result == {"A": (P, PCP)}


def test_the_county_provider_with_most_room_is_proposed():
    result = proposed(
        members(("A", SMI, "Alameda", None)),
        roster((P, "Alameda", "", 2), (Q, "Alameda", "", 3), (R, "Fresno", "", 9)),
    )
    assert result == {"A": (Q, COUNTY_CAPACITY)}


def test_a_tie_in_room_goes_to_the_smallest_npi():
    result = proposed(
        members(("A", SMI, "Alameda", None)),
        roster((R, "Alameda", "", 3), (Q, "Alameda", "", 3)),
    )
    assert result == {"A": (Q, COUNTY_CAPACITY)}


def test_the_county_is_compared_trimmed_and_in_any_case():
    result = proposed(members(("A", SMI, " alameda ", None)), roster((Q, "ALAMEDA", "", 1)))
    assert result == {"A": (Q, COUNTY_CAPACITY)}


def test_no_provider_in_the_county_serving_the_population_proposes_none():
    result = proposed(
        members(("A", SMI, "Alameda", None), ("B", SMI, None, None)),
        roster((Q, "Alameda", "HOMELESS_ADULT", 5), (R, "Fresno", "", 5)),
    )
    assert result == {"A": (None, None), "B": (None, None)}


def test_capacity_exactly_reached_sends_the_next_member_to_the_fallback():
    # P has room for 2: A and B get their PCP, C (same PCP) goes to the county's Q,
    # and D, with Q then full too, gets none.
    result = proposed(
        members(
            ("D", SMI, "Alameda", P),
            ("C", SMI, "Alameda", P),
            ("A", SMI, "Alameda", P),
            ("B", SMI, "Alameda", P),
        ),
        roster((P, "Fresno", "", 2), (Q, "Alameda", "", 1)),
    )
    assert result == {
        "A": (P, PCP),
        "B": (P, PCP),
        "C": (Q, COUNTY_CAPACITY),
        "D": (None, None),
    }


def test_county_proposals_spread_by_room_left_in_member_id_order():
    # Q starts with 2 places, R with 1: A → Q (2 > 1), then 1 = 1 → the smaller NPI Q,
    # then R.
    result = proposed(
        members(*((m, SMI, "Alameda", None) for m in "CBA")),
        roster((R, "Alameda", "", 1), (Q, "Alameda", "", 2)),
    )
    assert result == {
        "A": (Q, COUNTY_CAPACITY),
        "B": (Q, COUNTY_CAPACITY),
        "C": (R, COUNTY_CAPACITY),
    }


def test_room_is_reduced_by_assignments_and_rtf_enrollments_each_member_once():
    spans = pl.LazyFrame({"member_id": ["X", "Y"], "provider_npi": [P, P]})
    enrolled = pl.LazyFrame({"member_id": ["Y", "Z"], "provider_npi": [P, P]})
    taken = proposals.taken_places(spans, enrolled).collect()
    assert taken.to_dicts() == [{"provider_npi": P, "taken": 3}]
    rost = roster((P, "Alameda", "", 4), (Q, "Alameda", "", 2))
    # P: 4 − 3 = 1 place: A gets it as their PCP; B falls back to Q.
    result = proposed(members(("A", SMI, "Alameda", P), ("B", SMI, "Alameda", P)), rost, taken)
    assert result == {"A": (P, PCP), "B": (Q, COUNTY_CAPACITY)}
    use = proposals.capacity_use(
        rost,
        taken,
        proposals.propose(members(("A", SMI, "Alameda", P), ("B", SMI, "Alameda", P)), rost, taken),
    )
    assert use.to_dicts() == [
        {"provider_npi": P, "capacity": 4, "taken": 3, "proposed": 1, "room_left": 0},
        {"provider_npi": Q, "capacity": 2, "taken": 0, "proposed": 1, "room_left": 1},
    ]


def test_a_provider_over_capacity_takes_nobody():
    taken = pl.DataFrame({"provider_npi": [P], "taken": [5]})
    result = proposed(members(("A", SMI, "Alameda", P)), roster((P, "Alameda", "", 3)), taken)
    assert result == {"A": (None, None)}


@pytest.mark.parametrize(
    "rows, expected",
    [
        ([("A", "SMI_SUD_ADULT", None, "")], ["A"]),
        ([("A", "SMI_SUD_ADULT", P, "")], []),
        ([("A", "SMI_SUD_ADULT", None, "hospice")], []),
        ([("A", "SMI_SUD_ADULT", None, ""), ("A", "HOMELESS_ADULT", None, "")], ["A"]),
    ],
    ids=["no_provider", "has_provider", "excluded", "two_populations"],
)
def test_candidates_hold_a_population_are_not_excluded_and_have_no_provider(rows, expected):
    frame = pl.LazyFrame(
        [
            {"member_id": m, "pof_code": c, "provider_npi": p, "excluded_by": e}
            for m, c, p, e in rows
        ]
    )
    assert proposals.candidates(frame).collect()["member_id"].to_list() == expected


def test_a_missing_excluded_by_column_is_no_exclusion():
    frame = pl.LazyFrame({"member_id": ["A"], "pof_code": ["X"], "provider_npi": [None]})
    result = proposals.candidates(frame.cast({"provider_npi": pl.String})).collect()
    assert result.to_dicts() == [{"member_id": "A", "pof_codes": ["X"]}]
