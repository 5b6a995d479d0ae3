"""HOMELESS_ADULT and HOMELESS_FAMILY: individuals experiencing homelessness.

populations.md: adults with homelessness evidence AND a complex need in the lookback
(chronic condition, MH/SUD, I/DD, TBI, HIV/AIDS or pregnancy dx, or any ED visit or acute
stay); members under 21 with homelessness evidence, and everyone enrolled on the as-of
date who shares their `subscriber_id`. The child whose homelessness marks the household
(the index) need not be enrolled on the as-of date; only enrolled members are assigned.
"""

from __future__ import annotations

import datetime as dt

import polars as pl

from transforms.criteria import Criteria, as_facts, facts_in
from transforms.order import sort_fully
from transforms.populations import Population, PopulationResult, qualify_by_facts
from transforms.populations.why_not import met
from transforms.windows import Window, age_on

HOUSEHOLD_CRITERION = "homeless_child_in_household"
"""The evidence of a HOMELESS_FAMILY relative: they hold it through the household's index
child, never on evidence of their own (the warehouse's history records it: the quarterly
file's index child flag)."""


def homeless_adult(
    pof_code: str,
    members: pl.LazyFrame,
    criteria: Criteria,
    window: Window,
    *,
    age_group: str,
    complex_need_criteria: list[str],
) -> PopulationResult:
    """`complex_need_criteria` names the diagnosis criteria of a complex need (rules file);
    any ED visit or acute stay in the lookback is one too."""
    adults = members.filter(pl.col("age_group") == age_group).select("member_id")
    need = pl.concat(
        [
            facts_in(criteria.conditions, complex_need_criteria, window),
            criteria.ed_visits,
            criteria.acute_stays,
        ]
    )
    homeless = criteria.homelessness
    qualifying = adults.join(homeless, on="member_id", how="semi").join(
        need, on="member_id", how="semi"
    )
    return qualify_by_facts(pof_code, qualifying, [homeless, need])


def unenrolled_children(
    eligibility: pl.LazyFrame,
    members: pl.LazyFrame,
    as_of: dt.date,
    *,
    max_age_exclusive: int,
) -> pl.LazyFrame:
    """Members of the eligibility feed who are not among `members` (not enrolled on the
    as-of date, or dead by it) and younger than `max_age_exclusive` on it: the children
    who can mark a household for HOMELESS_FAMILY without being assigned themselves.

    Grain: one row per member (member_id, subscriber_id). Birth date and subscriber come
    from the member's latest span (latest start, then latest end; an open end is latest).
    """
    latest = sort_fully(
        eligibility.select(
            "member_id",
            "subscriber_id",
            "birth_date",
            "enrollment_start_date",
            pl.col("enrollment_end_date").fill_null(dt.date.max),
        ),
        ["member_id", "enrollment_start_date", "enrollment_end_date"],
        [False, True, True],
    ).unique(subset="member_id", keep="first", maintain_order=True)
    return (
        latest.join(members.select("member_id"), on="member_id", how="anti")
        .filter(age_on(pl.col("birth_date"), as_of) < max_age_exclusive)
        .select("member_id", "subscriber_id")
    )


def homeless_family(
    pof_code: str,
    members: pl.LazyFrame,
    criteria: Criteria,
    unenrolled_children: pl.LazyFrame,
    *,
    index_age_group: str,
) -> PopulationResult:
    """Homeless members of `index_age_group` (under 21) and their enrolled household.

    The index is any child with homelessness evidence: an enrolled member of
    `index_age_group`, or one of `unenrolled_children` (member_id, subscriber_id; see
    `unenrolled_children`), who is never assigned. A household member's evidence is one
    row, criterion `homeless_child_in_household` (HOUSEHOLD_CRITERION), keyed by the
    shared subscriber_id and dated by the latest homelessness fact of the household's
    children (it names no other member).
    """
    children = members.filter(pl.col("age_group") == index_age_group).select(
        "member_id", "subscriber_id"
    )
    homeless = criteria.homelessness
    enrolled_index = children.join(homeless, on="member_id", how="semi")
    index = pl.concat(
        [enrolled_index, unenrolled_children.select("member_id", "subscriber_id")]
    ).join(homeless, on="member_id", how="semi")
    households = (
        index.filter(pl.col("subscriber_id").is_not_null())
        .join(homeless, on="member_id", how="inner")
        .group_by("subscriber_id")
        .agg(pl.col("event_date").max().alias("event_date"))
    )
    relatives = (
        members.select("member_id", "subscriber_id")
        .join(households, on="subscriber_id", how="inner")
        .join(index, on="member_id", how="anti")
    )
    household_facts = as_facts(
        relatives,
        criterion=HOUSEHOLD_CRITERION,
        source_feed="eligibility",
        source_key="subscriber_id",
        event_date="event_date",
    )
    qualifying = pl.concat([enrolled_index.select("member_id"), relatives.select("member_id")])
    return qualify_by_facts(pof_code, qualifying, pl.concat([homeless, household_facts]))


# --- why not (ecm explain: how close a member who does not hold it came) ---------------


def why_not_homeless_adult(m, block, _rules) -> str:
    needs = block.get("complex_need_criteria", [])
    need = (
        any(m.get(f"{c}_dates_12m", 0) > 0 for c in needs)
        or m["ed_visits_12m"] + m["acute_stays_12m"] > 0
    )
    return "; ".join(
        [
            met(m["has_homelessness_evidence"], "homelessness evidence"),
            met(
                need,
                "complex need",
                "complex need (diagnosis, ED visit or stay): none in the lookback",
            ),
        ]
    )


def why_not_homeless_family(m, _block, _rules) -> str:
    if m["age_group"] == "adult":
        return "no child under 21 in the household (subscriber_id) with homelessness evidence"
    return "no homelessness evidence of the member or a child in the household in the lookback"


# --- declared populations (collected by transforms.populations.registry) ----------------
POPULATIONS = (
    Population(
        "HOMELESS_ADULT",
        homeless_adult,
        reads=("members", "criteria", "window"),
        settings={"age_group": str, "complex_need_criteria": list[str]},
        # Homelessness: the feed's spans and claims' Z59 diagnoses.
        feeds=("eligibility", "medical_claim", "homelessness"),
        why_not=why_not_homeless_adult,
    ),
    Population(
        "HOMELESS_FAMILY",
        homeless_family,
        reads=("members", "criteria", "unenrolled_children"),
        settings={"index_age_group": str},
        feeds=("eligibility", "medical_claim", "homelessness"),
        why_not=why_not_homeless_family,
    ),
)
