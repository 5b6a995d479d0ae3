"""JUSTICE_ADULT and JUSTICE_CHILD: individuals transitioning from incarceration.

populations.md: adults released from any facility in the lookback AND, in the 24 months,
a dx of MH/SUD, chronic condition, I/DD, TBI, HIV/AIDS or pregnancy/postpartum; children
and youth released from any facility in the lookback (feeds.md: every facility type
counts as a release).
"""

from __future__ import annotations

import polars as pl

from transforms.criteria import Criteria, facts_in
from transforms.populations import Population, PopulationResult, qualify_by_facts
from transforms.windows import Window


def justice_adult(
    pof_code: str,
    members: pl.LazyFrame,
    criteria: Criteria,
    window: Window,
    long_window: Window,
    *,
    age_group: str,
    clinical_need_criteria: list[str],
) -> PopulationResult:
    """`clinical_need_criteria` names the diagnosis criteria (rules file) looked for in
    `long_window` (24 months)."""
    adults = members.filter(pl.col("age_group") == age_group).select("member_id")
    releases = facts_in(criteria.incarceration, ["incarceration_release"], window)
    need = facts_in(criteria.conditions, clinical_need_criteria, long_window)
    qualifying = adults.join(releases, on="member_id", how="semi").join(
        need, on="member_id", how="semi"
    )
    return qualify_by_facts(pof_code, qualifying, [releases, need])


def justice_child(
    pof_code: str, members: pl.LazyFrame, criteria: Criteria, window: Window, *, age_group: str
) -> PopulationResult:
    children = members.filter(pl.col("age_group") == age_group).select("member_id")
    releases = facts_in(criteria.incarceration, ["incarceration_release"], window)
    return qualify_by_facts(pof_code, children.join(releases, on="member_id", how="semi"), releases)


# --- declared populations (collected by transforms.populations.registry) ----------------

POPULATIONS = (
    Population(
        "JUSTICE_ADULT",
        justice_adult,
        reads=("members", "criteria", "window", "long_window"),
        settings={"age_group": str, "clinical_need_criteria": list[str]},
    ),
    Population(
        "JUSTICE_CHILD",
        justice_child,
        reads=("members", "criteria", "window"),
        settings={"age_group": str},
    ),
)
