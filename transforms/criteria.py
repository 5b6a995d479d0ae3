"""Shared criteria, built once per run and composed by every population rule.

populations.md, "Shared criteria". Each criterion is a frame of *facts* in one shape,
the shape of an evidence row without the population:

    member_id, criterion, source_feed, source_key, event_date, code

so a rule picks the members it needs from the facts and keeps the same rows as its
evidence. No rule re-scans the claims: diagnoses are tagged with every condition value
set once (`condition_facts`), procedures once (`procedure_facts`).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, fields

import polars as pl

from transforms.codes import in_value_set, tag_codes
from transforms.windows import Window

FACT_COLUMNS = ["member_id", "criterion", "source_feed", "source_key", "event_date", "code"]
FACT_SCHEMA = {
    "member_id": pl.String,
    "criterion": pl.String,
    "source_feed": pl.String,
    "source_key": pl.String,
    "event_date": pl.Date,
    "code": pl.String,
}

CLAIMS = "medical_claim"


def as_facts(
    frame: pl.LazyFrame,
    *,
    criterion: str | pl.Expr,
    source_feed: str,
    source_key: str | pl.Expr,
    event_date: str | pl.Expr,
    code: str | pl.Expr | None = None,
) -> pl.LazyFrame:
    """Any frame with member_id as fact rows."""

    def expr(value):
        return pl.col(value) if isinstance(value, str) else value

    return frame.select(
        "member_id",
        (pl.lit(criterion) if isinstance(criterion, str) else criterion).alias("criterion"),
        pl.lit(source_feed).alias("source_feed"),
        expr(source_key).cast(pl.String).alias("source_key"),
        expr(event_date).alias("event_date"),
        (pl.lit(None, dtype=pl.String) if code is None else expr(code)).alias("code"),
    ).cast(FACT_SCHEMA)


def facts_in(facts: pl.LazyFrame, criteria: list[str], window: Window) -> pl.LazyFrame:
    """Facts of the named criteria dated inside the window."""
    return facts.filter(pl.col("criterion").is_in(criteria) & window.contains(pl.col("event_date")))


def row_key() -> pl.Expr:
    """A feed row's key: the file it came from and its line (`_source_file:_line`)."""
    return pl.format("{}:{}", pl.col("_source_file"), pl.col("_line"))


# --- claims ----------------------------------------------------------------------------

DX_SUFFIX = "_dx"


def condition_criteria(value_set_names: list[str]) -> list[str]:
    """The criterion each condition value set tags: its name ending in `_dx` (`smi` →
    `smi_dx`, `homelessness_dx` stays); `condition_facts` names its facts so."""
    return [n if n.endswith(DX_SUFFIX) else f"{n}{DX_SUFFIX}" for n in value_set_names]


def condition_facts(diagnoses: pl.LazyFrame, value_sets: pl.DataFrame) -> pl.LazyFrame:
    """Every diagnosis in any position tagged with each condition value set it is in.

    `diagnoses`: one row per claim × service date × code (sql int__claim_diagnosis).
    `value_sets`: the condition value sets stacked; the criterion is the value set's name
    ending in `_dx` (`smi` → `smi_dx`, `homelessness_dx` stays).
    Codes are matched once per distinct code, then joined back.
    """
    tagged_codes = tag_codes(diagnoses.select("code").unique(), "code", value_sets)
    return as_facts(
        diagnoses.join(tagged_codes, on="code", how="inner"),
        criterion=pl.when(pl.col("value_set").str.ends_with(DX_SUFFIX))
        .then(pl.col("value_set"))
        .otherwise(pl.col("value_set") + DX_SUFFIX),
        source_feed=CLAIMS,
        source_key="claim_id",
        event_date="service_date",
        code="code",
    ).unique()


def procedure_facts(claim_lines: pl.LazyFrame, value_sets: pl.DataFrame) -> pl.LazyFrame:
    """Claim lines whose HCPCS/CPT code is in a procedure value set (criterion = the set).

    Also carries the claim's first diagnosis as `primary_dx` (crisis services with a
    MH/SUD primary diagnosis, SMI_SUD_CHILD). Grain: one row per claim × date × code × set.
    """
    lines = claim_lines.select(
        "member_id",
        "claim_id",
        pl.coalesce("claim_line_start_date", "claim_start_date").alias("service_date"),
        pl.col("hcpcs_code").alias("code"),
        pl.col("diagnosis_code_1").alias("primary_dx"),
    ).filter(pl.col("code").is_not_null())
    tagged_codes = tag_codes(lines.select("code").unique(), "code", value_sets)
    return lines.join(tagged_codes, on="code", how="inner").unique()


def visit_days(lines: pl.LazyFrame) -> pl.LazyFrame:
    """One row per member × service date of the given lines (a visit count unit)."""
    return (
        lines.select(
            "member_id",
            pl.coalesce("claim_line_start_date", "claim_start_date").alias("event_date"),
            "claim_id",
        )
        .group_by("member_id", "event_date")
        .agg(pl.col("claim_id").unique().sort().str.join("; ").alias("source_key"))
    )


def urgent_care_facts(claim_lines: pl.LazyFrame, urgent_care_pos: pl.DataFrame) -> pl.LazyFrame:
    """Urgent care visits: member-dates with a line at place of service 20."""
    lines = claim_lines.filter(in_value_set(pl.col("place_of_service_code"), urgent_care_pos))
    return as_facts(
        visit_days(lines),
        criterion="urgent_care_visit",
        source_feed=CLAIMS,
        source_key="source_key",
        event_date="event_date",
    )


def office_visit_lines(
    claim_lines: pl.LazyFrame, office_codes: pl.DataFrame, ed_pos: pl.DataFrame
) -> pl.LazyFrame:
    """The claim lines of office visits: an E/M 99202–99215 code (`office_codes`), a place
    of service other than 23 (`ed_pos`)."""
    return claim_lines.filter(
        in_value_set(pl.col("hcpcs_code"), office_codes)
        & ~in_value_set(pl.col("place_of_service_code"), ed_pos)
    )


def office_visit_facts(
    claim_lines: pl.LazyFrame, office_codes: pl.DataFrame, ed_pos: pl.DataFrame
) -> pl.LazyFrame:
    """Office visits: member-dates with an E/M 99202–99215 line not at place of service 23."""
    return as_facts(
        visit_days(office_visit_lines(claim_lines, office_codes, ed_pos)),
        criterion="office_visit",
        source_feed=CLAIMS,
        source_key="source_key",
        event_date="event_date",
    )


def ed_visit_facts(ed_visits: pl.LazyFrame) -> pl.LazyFrame:
    """Every ED visit (avoidable or not), coded with its primary diagnosis."""
    return as_facts(
        ed_visits,
        criterion="ed_visit",
        source_feed=CLAIMS,
        source_key="source_key",
        event_date="visit_date",
        code="primary_dx",
    )


def stay_facts(stays: pl.LazyFrame, criterion: str) -> pl.LazyFrame:
    """Stays as facts dated by admission, coded with the principal diagnosis."""
    return as_facts(
        stays,
        criterion=criterion,
        source_feed=CLAIMS,
        source_key="source_key",
        event_date="admission_date",
        code="principal_dx",
    )


def psychiatric_stays(
    acute_stays: pl.LazyFrame, mh_sud: pl.DataFrame, psychiatric_revenue: pl.DataFrame
) -> pl.LazyFrame:
    """Acute stays with a MH/SUD principal diagnosis or a psychiatric revenue code."""
    return acute_stays.filter(
        in_value_set(pl.col("principal_dx"), mh_sud)
        | pl.col("revenue_codes")
        .list.eval(in_value_set(pl.element(), psychiatric_revenue))
        .list.any()
        .fill_null(False)
    )


def pregnancy_end_facts(
    conditions: pl.LazyFrame, claim_lines: pl.LazyFrame, delivery_drg: pl.DataFrame
) -> pl.LazyFrame:
    """Pregnancy ends: a pregnancy-end diagnosis, or a claim with a delivery MS-DRG."""
    by_drg = claim_lines.filter(in_value_set(pl.col("drg_code"), delivery_drg)).select(
        "member_id", "claim_id", "drg_code", "claim_start_date"
    )
    return pl.concat(
        [
            conditions.filter(pl.col("criterion") == "pregnancy_end_dx").with_columns(
                pl.lit("pregnancy_end").alias("criterion")
            ),
            as_facts(
                by_drg.unique(),
                criterion="pregnancy_end",
                source_feed=CLAIMS,
                source_key="claim_id",
                event_date="claim_start_date",
                code="drg_code",
            ),
        ]
    )


# --- partner feeds -----------------------------------------------------------------------


def incarceration_facts(incarceration: pl.LazyFrame) -> pl.LazyFrame:
    """Bookings and releases, each a fact dated by its own date (facility type as code)."""
    key = row_key()
    return pl.concat(
        [
            as_facts(
                incarceration.filter(pl.col("booking_date").is_not_null()),
                criterion="incarceration_booking",
                source_feed="incarceration",
                source_key=key,
                event_date="booking_date",
                code="facility_type",
            ),
            as_facts(
                incarceration.filter(pl.col("release_date").is_not_null()),
                criterion="incarceration_release",
                source_feed="incarceration",
                source_key=key,
                event_date="release_date",
                code="facility_type",
            ),
        ]
    )


def homelessness_feed_facts(homelessness: pl.LazyFrame, window: Window) -> pl.LazyFrame:
    """HMIS / street-medicine spans that touch the window (open entries included).
    Like every span fact, dated by its start (the entry date)."""
    touching = homelessness.filter(window.touches(pl.col("entry_date"), pl.col("exit_date")))
    return as_facts(
        touching,
        criterion="homelessness_feed",
        source_feed="homelessness",
        source_key=row_key(),
        event_date="entry_date",
        code="project_type",
    )


# --- composed criteria ---------------------------------------------------------------------


def complex_social_factor_facts(
    conditions: pl.LazyFrame,
    procedures: pl.LazyFrame,
    incarceration: pl.LazyFrame,
    homelessness_spans: pl.LazyFrame,
    window: Window,
) -> pl.LazyFrame:
    """Complex social factor facts in the window: a Z55–Z65 diagnosis, ACE screening
    G9919, an incarceration booking or release, a crisis service, or a homelessness span."""
    return pl.concat(
        [
            facts_in(conditions, ["complex_social_factor_dx"], window),
            facts_in(procedures, ["ace_screening", "crisis_service"], window),
            facts_in(incarceration, ["incarceration_booking", "incarceration_release"], window),
            homelessness_spans,
        ]
    )


def homelessness_evidence_facts(
    conditions: pl.LazyFrame, homelessness_spans: pl.LazyFrame, window: Window
) -> pl.LazyFrame:
    """Homelessness evidence in the window: a feed span, or Z59.0x / Z59.81x diagnoses."""
    return pl.concat([facts_in(conditions, ["homelessness_dx"], window), homelessness_spans])


def procedure_fact_rows(procedures: pl.LazyFrame) -> pl.LazyFrame:
    """Procedure lines as facts (criterion = the value set)."""
    return as_facts(
        procedures,
        criterion=pl.col("value_set"),
        source_feed=CLAIMS,
        source_key="claim_id",
        event_date="service_date",
        code="code",
    )


def latest_assessments(assessments: pl.LazyFrame, window: Window) -> pl.LazyFrame:
    """Each member's assessments on the latest assessment date inside the window (several
    when they share the date)."""
    inside = assessments.filter(window.contains(pl.col("assessment_date")))
    return inside.filter(
        pl.col("assessment_date") == pl.col("assessment_date").max().over("member_id")
    )


def span_covers(start: pl.Expr, end: pl.Expr, day: dt.date) -> pl.Expr:
    """True where [start, end] (end null = open) covers `day`."""
    return ((start <= pl.lit(day)) & (end.is_null() | (end >= pl.lit(day)))).fill_null(False)


# --- the criteria of a run, built once ------------------------------------------------------


@dataclass(frozen=True)
class Criteria:
    """Every shared criterion of a run as facts (see the module docstring).

    `conditions`, `procedures`, `incarceration`, `pregnancy_end` hold all the history read
    (a rule picks its window); the rest are already limited to the lookback.
    `homelessness` also holds facts of members not enrolled on the as-of date (feed spans,
    and the diagnoses of children; see `build_criteria`): rules join it to their members.
    """

    conditions: pl.LazyFrame
    procedures: pl.LazyFrame
    incarceration: pl.LazyFrame
    pregnancy_end: pl.LazyFrame
    ed_visits: pl.LazyFrame
    acute_stays: pl.LazyFrame
    mh_sud_ed_visits: pl.LazyFrame
    mh_sud_acute_stays: pl.LazyFrame
    mh_sud_crisis_services: pl.LazyFrame
    psychiatric_stays: pl.LazyFrame
    urgent_care_visits: pl.LazyFrame
    office_visits: pl.LazyFrame
    nursing_facility_discharges_home: pl.LazyFrame
    homelessness: pl.LazyFrame
    complex_social_factors: pl.LazyFrame


def build_criteria(
    *,
    window: Window,
    diagnoses: pl.LazyFrame,
    claim_lines: pl.LazyFrame,
    ed_visits: pl.LazyFrame,
    stays: pl.LazyFrame,
    incarceration: pl.LazyFrame,
    homelessness: pl.LazyFrame,
    condition_value_sets: pl.DataFrame,
    procedure_value_sets: pl.DataFrame,
    mh_sud: pl.DataFrame,
    psychiatric_revenue: pl.DataFrame,
    urgent_care_pos: pl.DataFrame,
    office_codes: pl.DataFrame,
    ed_pos: pl.DataFrame,
    delivery_drg: pl.DataFrame,
    community_discharge: pl.DataFrame,
    index_child_diagnoses: pl.LazyFrame | None = None,
) -> Criteria:
    """Build every shared criterion once from the run's events and feeds.

    `diagnoses` and `claim_lines` are the members' (enrolled on the as-of date);
    `index_child_diagnoses`, the diagnoses of children who are not, add only their
    homelessness evidence (HOMELESS_FAMILY's index need not be enrolled). The homelessness
    feed is read whole.
    """
    conditions = condition_facts(diagnoses, condition_value_sets)
    index_child_conditions = (
        conditions.clear()
        if index_child_diagnoses is None
        else condition_facts(index_child_diagnoses, condition_value_sets)
    )
    procedure_lines = procedure_facts(claim_lines, procedure_value_sets)
    # The facts several criteria read are computed once, here: Polars does not find the
    # shared sub-plans of fifteen criteria built apart (300k members: the criteria took
    # 28 s in one collect_all, of which conditions alone 1.4 s).
    conditions, index_child_conditions, procedure_lines = (
        frame.lazy()
        for frame in pl.collect_all([conditions, index_child_conditions, procedure_lines])
    )
    procedures = procedure_fact_rows(procedure_lines)
    custody = incarceration_facts(incarceration)
    homeless_spans = homelessness_feed_facts(homelessness, window)
    acute = stays.filter(pl.col("stay_type") == "acute")
    nursing = stays.filter(pl.col("stay_type") == "nursing_facility")
    in_window_visits = ed_visits.filter(window.contains(pl.col("visit_date")))
    in_window_acute = acute.filter(window.contains(pl.col("admission_date")))
    crisis_mh_sud = procedure_lines.filter(
        (pl.col("value_set") == "crisis_service") & in_value_set(pl.col("primary_dx"), mh_sud)
    )
    discharged_home = nursing.filter(
        window.contains(pl.col("discharge_date"))
        & in_value_set(pl.col("discharge_disposition_code"), community_discharge)
    )
    return Criteria(
        conditions=conditions,
        procedures=procedures,
        incarceration=custody,
        pregnancy_end=pregnancy_end_facts(conditions, claim_lines, delivery_drg),
        ed_visits=ed_visit_facts(in_window_visits),
        acute_stays=stay_facts(in_window_acute, "acute_stay"),
        mh_sud_ed_visits=ed_visit_facts(
            in_window_visits.filter(in_value_set(pl.col("primary_dx"), mh_sud))
        ).with_columns(pl.lit("ed_visit_mh_sud").alias("criterion")),
        mh_sud_acute_stays=stay_facts(
            in_window_acute.filter(in_value_set(pl.col("principal_dx"), mh_sud)),
            "acute_stay_mh_sud",
        ),
        mh_sud_crisis_services=facts_in(
            procedure_fact_rows(crisis_mh_sud), ["crisis_service"], window
        ).with_columns(pl.lit("crisis_service_mh_sud").alias("criterion")),
        psychiatric_stays=stay_facts(
            psychiatric_stays(in_window_acute, mh_sud, psychiatric_revenue), "psychiatric_stay"
        ),
        urgent_care_visits=facts_in(
            urgent_care_facts(claim_lines, urgent_care_pos), ["urgent_care_visit"], window
        ),
        office_visits=facts_in(
            office_visit_facts(claim_lines, office_codes, ed_pos), ["office_visit"], window
        ),
        nursing_facility_discharges_home=as_facts(
            discharged_home,
            criterion="nursing_facility_discharge_to_community",
            source_feed=CLAIMS,
            source_key="source_key",
            event_date="discharge_date",
            code="discharge_disposition_code",
        ),
        homelessness=homelessness_evidence_facts(
            pl.concat([conditions, index_child_conditions]), homeless_spans, window
        ),
        complex_social_factors=complex_social_factor_facts(
            conditions, procedures, custody, homeless_spans, window
        ),
    )


def collect_criteria(criteria: Criteria) -> Criteria:
    """Compute every criterion in one pass (shared sub-plans run once) and keep the
    results as lazy frames over memory."""
    names = [f.name for f in fields(Criteria)]
    frames = pl.collect_all([getattr(criteria, n) for n in names])
    return Criteria(**{n: f.lazy() for n, f in zip(names, frames, strict=True)})
