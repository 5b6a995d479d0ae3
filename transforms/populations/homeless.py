"""HOMELESS_ADULT and HOMELESS_FAMILY: individuals experiencing homelessness.

populations.md: adults with homelessness evidence AND a complex need in the lookback
(chronic condition, MH/SUD, I/DD, TBI, HIV/AIDS or pregnancy dx, or any ED visit or acute
stay); members under 21 with homelessness evidence, and everyone enrolled on the as-of
date who shares their `subscriber_id`.
"""

from __future__ import annotations

import polars as pl

from transforms.criteria import Criteria, as_facts, facts_in
from transforms.populations import PopulationResult, qualify_by_facts
from transforms.windows import Window


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
    return qualify_by_facts(pof_code, qualifying, pl.concat([homeless, need]))


def homeless_family(
    pof_code: str, members: pl.LazyFrame, criteria: Criteria, *, index_age_group: str
) -> PopulationResult:
    """Homeless members of `index_age_group` (under 21) and their enrolled household.

    A household member's evidence is one row, criterion `homeless_child_in_household`,
    keyed by the shared subscriber_id and dated by the latest homelessness fact of the
    household's children (it names no other member).
    """
    children = members.filter(pl.col("age_group") == index_age_group).select(
        "member_id", "subscriber_id"
    )
    homeless = criteria.homelessness
    index = children.join(homeless, on="member_id", how="semi")
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
        criterion="homeless_child_in_household",
        source_feed="eligibility",
        source_key="subscriber_id",
        event_date="event_date",
    )
    qualifying = pl.concat([index.select("member_id"), relatives.select("member_id")])
    return qualify_by_facts(pof_code, qualifying, pl.concat([homeless, household_facts]))


# --- declared populations (collected by transforms.populations.registry) ----------------
# The import sits here, not at the top, to keep this change to one block while
# HOMELESS_FAMILY is being reworked in parallel; it can move up once both are merged.
from transforms.populations import Population  # noqa: E402

POPULATIONS = (
    Population(
        "HOMELESS_ADULT",
        homeless_adult,
        reads=("members", "criteria", "window"),
        settings={"age_group": str, "complex_need_criteria": list[str]},
    ),
    Population(
        "HOMELESS_FAMILY",
        homeless_family,
        reads=("members", "criteria"),
        settings={"index_age_group": str},
    ),
)
