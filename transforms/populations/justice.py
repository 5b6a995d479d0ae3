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
from transforms.populations.why_not import met
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


# --- why not (ecm explain: how close a member who does not hold it came) ---------------


def why_not_justice_adult(m, block, _rules) -> str:
    needs = block.get("clinical_need_criteria", [])
    need = any(m.get(f"{c}_dates_24m", 0) > 0 for c in needs)
    release = (
        "release in the lookback yes"
        if m["incarceration_release_dates_12m"]
        else "no release in the lookback"
    )
    need_text = met(
        need,
        "diagnosis in the 24 months",
        "no MH/SUD, chronic, I/DD, TBI, HIV/AIDS or pregnancy diagnosis in the 24 months",
    )
    return f"{release}; {need_text}"


def why_not_justice_child(_m, _block, _rules) -> str:
    return "no release in the lookback"


# --- declared populations (collected by transforms.populations.registry) ----------------

POPULATIONS = (
    Population(
        "JUSTICE_ADULT",
        justice_adult,
        reads=("members", "criteria", "window", "long_window"),
        settings={"age_group": str, "clinical_need_criteria": list[str]},
        feeds=("eligibility", "medical_claim", "incarceration"),
        why_not=why_not_justice_adult,
    ),
    Population(
        "JUSTICE_CHILD",
        justice_child,
        reads=("members", "criteria", "window"),
        settings={"age_group": str},
        # Releases only: no claim is read.
        feeds=("eligibility", "incarceration"),
        why_not=why_not_justice_child,
    ),
)
