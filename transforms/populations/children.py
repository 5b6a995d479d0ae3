"""CCS_CHILD and CHILD_WELFARE.

populations.md:
- CCS_CHILD: children and youth with a CCS or CCS_WCM span covering the as-of date AND
  ≥ 1 complex social factor;
- CHILD_WELFARE: under 21 with foster care covering the as-of date or ending in the
  lookback, adoption assistance covering the as-of date, or family maintenance touching
  the lookback; or aged out of foster care at any time and younger than 26.
Span facts are dated by their start date. Status names are the feed contract's.
"""

from __future__ import annotations

import datetime as dt

import polars as pl

from transforms.criteria import Criteria, as_facts, row_key, span_covers
from transforms.populations import Population, PopulationResult, qualify_by_facts
from transforms.windows import Window


def ccs_child(
    pof_code: str,
    members: pl.LazyFrame,
    criteria: Criteria,
    ccs_enrollment: pl.LazyFrame,
    as_of: dt.date,
    *,
    age_group: str,
) -> PopulationResult:
    children = members.filter(pl.col("age_group") == age_group).select("member_id")
    spans = ccs_enrollment.filter(span_covers(pl.col("start_date"), pl.col("end_date"), as_of))
    ccs = as_facts(
        spans,
        criterion="ccs_enrollment",
        source_feed="ccs_enrollment",
        source_key=row_key(),
        event_date="start_date",
        code="program",
    )
    csf = criteria.complex_social_factors
    qualifying = children.join(ccs, on="member_id", how="semi").join(
        csf, on="member_id", how="semi"
    )
    return qualify_by_facts(pof_code, qualifying, [ccs, csf])


def child_welfare(
    pof_code: str,
    members: pl.LazyFrame,
    child_welfare: pl.LazyFrame,
    window: Window,
    *,
    max_age_exclusive: int,
    aged_out_max_age_exclusive: int,
) -> PopulationResult:
    as_of = window.end
    status = pl.col("status")
    covers = span_covers(pl.col("start_date"), pl.col("end_date"), as_of)
    ends_in_window = window.contains(pl.col("end_date"))
    touches = window.touches(pl.col("start_date"), pl.col("end_date"))
    young = pl.col("age") < max_age_exclusive
    spans = child_welfare.join(members.select("member_id", "age"), on="member_id", how="inner")
    meets = spans.filter(
        (young & (status == "foster_care") & (covers | ends_in_window))
        | (young & (status == "adoption_assistance") & covers)
        | (young & (status == "family_maintenance") & touches)
        | (
            (status == "aged_out_foster_care")
            & (pl.col("start_date") <= pl.lit(as_of))
            & (pl.col("age") < aged_out_max_age_exclusive)
        )
    )
    facts = as_facts(
        meets,
        criterion=pl.format("child_welfare_{}", status),
        source_feed="child_welfare",
        source_key=row_key(),
        event_date="start_date",
        code="status",
    )
    return qualify_by_facts(pof_code, facts.select("member_id"), facts)


# --- why not (ecm explain: how close a member who does not hold it came) ---------------


def why_not_ccs_child(m, _block, _rules) -> str:
    if not m["has_csf"]:
        return "complex social factor: none in the lookback"
    return "complex social factor yes; no CCS or CCS WCM span covering the as-of date"


def why_not_child_welfare(m, _block, rules) -> str:
    aged_out = (rules or {}).get("time", {}).get("aged_out_max_age_exclusive", 26)
    if m["age"] >= aged_out:
        return f"not under {aged_out} (age {m['age']})"
    return (
        "no foster care, adoption assistance, family maintenance or aged-out record that qualifies"
    )


# --- declared populations (collected by transforms.populations.registry) ----------------

POPULATIONS = (
    Population(
        "CCS_CHILD",
        ccs_child,
        reads=("members", "criteria", "ccs_enrollment", "as_of"),
        settings={"age_group": str},
        # Complex social factors: custody episodes, homelessness, and claims' diagnoses.
        feeds=("eligibility", "medical_claim", "incarceration", "homelessness", "ccs_enrollment"),
        why_not=why_not_ccs_child,
    ),
    Population(
        "CHILD_WELFARE",
        child_welfare,
        reads=("members", "child_welfare", "window"),
        shared_settings={
            # Under 21 for foster care, adoption assistance and family maintenance.
            "max_age_exclusive": ("time.adult_min_age", int),
            "aged_out_max_age_exclusive": ("time.aged_out_max_age_exclusive", int),
        },
        feeds=("eligibility", "child_welfare"),
        why_not=why_not_child_welfare,
    ),
)
