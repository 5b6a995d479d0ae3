"""SMI_SUD_ADULT and SMI_SUD_CHILD: serious mental health and/or substance use disorder needs.

populations.md:
- adults: SMI or SUD dx AND ≥ 1 complex social factor AND one of (a) overdose, suicidal
  ideation or attempt, or a psychiatric stay; (b) ≥ 1 crisis service, or ≥ 2 ED visits,
  urgent care visits and acute stays together that outnumber office visits; (c) ≥ 2 ED
  visits and acute stays together with a MH/SUD primary or principal dx;
- children and youth: MH/SUD dx on ≥ 2 distinct dates, OR ≥ 1 ED visit, acute stay or
  crisis service with a MH/SUD primary dx.
All within the lookback.
"""

from __future__ import annotations

import polars as pl

from transforms.criteria import Criteria, facts_in
from transforms.populations import Population, PopulationResult, count_parts, qualify_by_facts
from transforms.populations.why_not import count_gap, met, threshold
from transforms.utilization import threshold_reached
from transforms.windows import Window


def _count(facts: pl.LazyFrame, name: str) -> pl.LazyFrame:
    return facts.group_by("member_id").agg(pl.len().alias(name))


def smi_sud_adult(
    pof_code: str,
    members: pl.LazyFrame,
    criteria: Criteria,
    window: Window,
    *,
    age_group: str,
    min_acute_care_events: int,
    min_mh_sud_acute_events: int,
) -> PopulationResult:
    adults = members.filter(pl.col("age_group") == age_group).select("member_id")
    diagnosis = facts_in(criteria.conditions, ["smi_dx", "sud_dx"], window)
    csf = criteria.complex_social_factors
    high_risk = pl.concat(
        [
            facts_in(criteria.conditions, ["overdose_dx", "suicidality_dx"], window),
            criteria.psychiatric_stays,
        ]
    )
    crisis = facts_in(criteria.procedures, ["crisis_service"], window)
    acute_care = pl.concat([criteria.ed_visits, criteria.urgent_care_visits, criteria.acute_stays])
    relies_on_acute_care = (
        _count(acute_care, "acute_care")
        .join(_count(criteria.office_visits, "office"), on="member_id", how="left")
        .filter(
            (pl.col("acute_care") >= min_acute_care_events)
            & (pl.col("acute_care") > pl.col("office").fill_null(0))
        )
        .select("member_id")
    )
    mh_sud_acute = pl.concat([criteria.mh_sud_ed_visits, criteria.mh_sud_acute_stays])
    repeated_mh_sud_acute = (
        _count(mh_sud_acute, "n").filter(pl.col("n") >= min_mh_sud_acute_events).select("member_id")
    )
    qualifying = (
        adults.join(diagnosis, on="member_id", how="semi")
        .join(csf, on="member_id", how="semi")
        .join(
            pl.concat(
                [
                    high_risk.select("member_id"),
                    crisis.select("member_id"),
                    relies_on_acute_care,
                    repeated_mh_sud_acute,
                ]
            ).unique(),
            on="member_id",
            how="semi",
        )
    )
    need = pl.concat(
        [
            high_risk,
            crisis,
            acute_care.join(relies_on_acute_care, on="member_id", how="semi"),
            mh_sud_acute.join(repeated_mh_sud_acute, on="member_id", how="semi"),
        ]
    ).unique()
    return qualify_by_facts(pof_code, qualifying, [diagnosis.unique(), csf.unique(), need])


def smi_sud_child(
    pof_code: str,
    members: pl.LazyFrame,
    criteria: Criteria,
    window: Window,
    *,
    age_group: str,
    min_mh_sud_dx_dates: int,
    min_mh_sud_acute_events: int,
) -> PopulationResult:
    """A count rule: qualifying_date is the date the count reached its threshold (the
    second distinct MH/SUD dx date, or the first MH/SUD ED visit / stay / crisis
    service), the earlier of the two when both are met."""
    children = members.filter(pl.col("age_group") == age_group).select("member_id")
    dx = facts_in(criteria.conditions, ["mh_sud_dx"], window).join(
        children, on="member_id", how="semi"
    )
    dx_dates = dx.select("member_id", "event_date").unique()
    acute = pl.concat(
        [criteria.mh_sud_ed_visits, criteria.mh_sud_acute_stays, criteria.mh_sud_crisis_services]
    ).join(children, on="member_id", how="semi")
    by_dates = threshold_reached(dx_dates, window, "event_date", min_mh_sud_dx_dates)
    by_acute = threshold_reached(acute, window, "event_date", min_mh_sud_acute_events)
    met = (
        by_dates.select("member_id", pl.col("qualifying_date").alias("d1"))
        .join(
            by_acute.select("member_id", pl.col("qualifying_date").alias("d2")),
            on="member_id",
            how="full",
            coalesce=True,
        )
        .select("member_id", pl.min_horizontal("d1", "d2").alias("qualifying_date"))
    )
    evidence = pl.concat(
        [
            dx.join(by_dates, on="member_id", how="semi"),
            acute.join(by_acute, on="member_id", how="semi"),
        ]
    ).with_columns(pl.lit(pof_code).alias("pof_code"))
    qualified = met.with_columns(pl.lit(pof_code).alias("pof_code"))
    parts = pl.concat(
        [
            count_parts(by_dates, pof_code, "mh_sud_dx_dates"),
            count_parts(by_acute, pof_code, "mh_sud_acute_event"),
        ]
    )
    return PopulationResult(qualified, evidence, parts)


# --- why not (ecm explain: how close a member who does not hold it came) ---------------


def why_not_smi_sud_adult(m, block, _rules) -> str:
    diagnosis = m.get("smi_dx_dates_12m", 0) + m.get("sud_dx_dates_12m", 0) > 0
    high_risk = (
        m.get("overdose_dx_dates_12m", 0)
        + m.get("suicidality_dx_dates_12m", 0)
        + m["psychiatric_stays_12m"]
        > 0
    )
    acute = m["ed_visits_12m"] + m["urgent_care_visits_12m"] + m["acute_stays_12m"]
    office = m["office_visits_12m"]
    mh_sud_acute = m["mh_sud_ed_visits_12m"] + m["mh_sud_acute_stays_12m"]
    min_acute = threshold(block, "min_acute_care_events")
    min_mh_sud = threshold(block, "min_mh_sud_acute_events")
    need = (
        high_risk
        or m.get("crisis_service_dates_12m", 0) > 0
        or (min_acute is not None and acute >= min_acute and acute > office)
        or (min_mh_sud is not None and mh_sud_acute >= min_mh_sud)
    )
    if need:
        need_text = "acute need yes"
    else:
        mh_sud = count_gap(
            mh_sud_acute, min_mh_sud, "MH/SUD ED visit or stay", "MH/SUD ED visits or stays"
        )
        need_text = (
            f"acute need: none (no overdose, suicidality, psychiatric stay or crisis service; "
            f"{acute} ED/urgent care visits and stays vs {office} office visits; {mh_sud})"
        )
    return "; ".join(
        [
            met(diagnosis, "SMI/SUD diagnosis"),
            met(m["has_csf"], "complex social factor"),
            need_text,
        ]
    )


def why_not_smi_sud_child(m, block, _rules) -> str:
    dates = count_gap(
        m.get("mh_sud_dx_dates_12m", 0),
        threshold(block, "min_mh_sud_dx_dates"),
        "date with a MH/SUD diagnosis",
        "dates with a MH/SUD diagnosis",
    )
    acute = count_gap(
        m["mh_sud_ed_visits_12m"] + m["mh_sud_acute_stays_12m"] + m["mh_sud_crisis_services_12m"],
        threshold(block, "min_mh_sud_acute_events"),
        "MH/SUD ED visit, stay or crisis service",
        "MH/SUD ED visits, stays or crisis services",
    )
    return f"{dates}; {acute}"


# --- declared populations (collected by transforms.populations.registry) ----------------

POPULATIONS = (
    Population(
        "SMI_SUD_ADULT",
        smi_sud_adult,
        reads=("members", "criteria", "window"),
        settings={
            "age_group": str,
            "min_acute_care_events": int,
            "min_mh_sud_acute_events": int,
        },
        # Complex social factors: custody episodes, homelessness, and claims' diagnoses.
        feeds=("eligibility", "medical_claim", "incarceration", "homelessness"),
        why_not=why_not_smi_sud_adult,
    ),
    Population(
        "SMI_SUD_CHILD",
        smi_sud_child,
        reads=("members", "criteria", "window"),
        settings={
            "age_group": str,
            "min_mh_sud_dx_dates": int,
            "min_mh_sud_acute_events": int,
        },
        feeds=("eligibility", "medical_claim"),
        why_not=why_not_smi_sud_child,
    ),
)
