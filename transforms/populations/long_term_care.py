"""LTC_RISK_ADULT and NF_TRANSITION_ADULT: nursing-facility level of care in the community.

populations.md:
- LTC_RISK_ADULT: ≥ 1 complex social factor AND either the latest assessment in the
  lookback has residence `community`, meets SNF level of care or needs lower-acuity
  skilled nursing, and able to reside in community not `N`; or a nursing facility stay
  that ended in the lookback with discharge to the community (disposition 01 or 06);
- NF_TRANSITION_ADULT: the latest assessment in the lookback has residence
  `nursing_facility`, interested in transition `Y`, able to reside in community `Y`.
Where several assessments share the latest date a member qualifies if any of them does.
The assessment vocabulary (`community`, `nursing_facility`, `Y`, `N`) is the feed
contract's (feeds.md, nursing_facility_assessment).
"""

from __future__ import annotations

import polars as pl

from transforms.criteria import Criteria, as_facts, latest_assessments, row_key
from transforms.populations import Population, PopulationResult, qualify_by_facts
from transforms.populations.why_not import met
from transforms.windows import Window

ASSESSMENT_FEED = "nursing_facility_assessment"


def _assessment_facts(assessments: pl.LazyFrame, criterion: str) -> pl.LazyFrame:
    return as_facts(
        assessments,
        criterion=criterion,
        source_feed=ASSESSMENT_FEED,
        source_key=row_key(),
        event_date="assessment_date",
        code="residence_setting",
    )


def ltc_risk_adult(
    pof_code: str,
    members: pl.LazyFrame,
    criteria: Criteria,
    nursing_facility_assessment: pl.LazyFrame,
    window: Window,
    *,
    age_group: str,
) -> PopulationResult:
    adults = members.filter(pl.col("age_group") == age_group).select("member_id")
    community = latest_assessments(nursing_facility_assessment, window).filter(
        (pl.col("residence_setting") == "community")
        & (
            (pl.col("meets_snf_level_of_care") == "Y")
            | (pl.col("needs_lower_acuity_skilled_nursing") == "Y")
        )
        & (pl.col("able_to_reside_in_community").fill_null("") != "N")
    )
    level_of_care = pl.concat(
        [
            _assessment_facts(community, "community_assessment_snf_level_of_care"),
            criteria.nursing_facility_discharges_home,
        ]
    )
    csf = criteria.complex_social_factors
    qualifying = adults.join(csf, on="member_id", how="semi").join(
        level_of_care, on="member_id", how="semi"
    )
    return qualify_by_facts(pof_code, qualifying, [level_of_care, csf])


def nf_transition_adult(
    pof_code: str,
    members: pl.LazyFrame,
    nursing_facility_assessment: pl.LazyFrame,
    window: Window,
    *,
    age_group: str,
) -> PopulationResult:
    adults = members.filter(pl.col("age_group") == age_group).select("member_id")
    ready = latest_assessments(nursing_facility_assessment, window).filter(
        (pl.col("residence_setting") == "nursing_facility")
        & (pl.col("interested_in_community_transition") == "Y")
        & (pl.col("able_to_reside_in_community") == "Y")
    )
    facts = _assessment_facts(ready, "nursing_facility_resident_ready_to_transition")
    return qualify_by_facts(pof_code, adults.join(facts, on="member_id", how="semi"), facts)


# --- why not (ecm explain: how close a member who does not hold it came) ---------------


def why_not_ltc_risk_adult(m, _block, _rules) -> str:
    discharged = m["nursing_facility_discharges_to_community_12m"] > 0
    if discharged:
        level = "nursing facility discharge home yes"
    elif m["has_csf"]:
        level = "no nursing facility discharge home and no qualifying community assessment"
    else:
        level = "no nursing facility discharge home in the lookback"
    return f"{met(m['has_csf'], 'complex social factor')}; {level}"


def why_not_nf_transition_adult(_m, _block, _rules) -> str:
    return "no assessment in the lookback of a nursing facility resident ready to transition"


# --- declared populations (collected by transforms.populations.registry) ----------------

POPULATIONS = (
    Population(
        "LTC_RISK_ADULT",
        ltc_risk_adult,
        reads=("members", "criteria", "nursing_facility_assessment", "window"),
        settings={"age_group": str},
        # Complex social factors (custody, homelessness, claims' diagnoses); nursing facility
        # stays from the claims.
        feeds=(
            "eligibility",
            "medical_claim",
            "incarceration",
            "homelessness",
            "nursing_facility_assessment",
        ),
        why_not=why_not_ltc_risk_adult,
    ),
    Population(
        "NF_TRANSITION_ADULT",
        nf_transition_adult,
        reads=("members", "nursing_facility_assessment", "window"),
        settings={"age_group": str},
        feeds=("eligibility", "nursing_facility_assessment"),
        why_not=why_not_nf_transition_adult,
    ),
)
