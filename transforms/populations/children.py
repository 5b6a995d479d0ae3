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


# --- declared populations (collected by transforms.populations.registry) ----------------

POPULATIONS = (
    Population(
        "CCS_CHILD",
        ccs_child,
        reads=("members", "criteria", "ccs_enrollment", "as_of"),
        settings={"age_group": str},
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
    ),
)
