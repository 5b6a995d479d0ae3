"""The wiring between the warehouse, the rules file and the pure transforms.

No rule lives here: this module reads staged tables into lazy frames, hands each
transform the value sets and settings the rules file names, and collects the results.
The Prefect flow (flows/monthly.py) calls these functions as its tasks; tests call them
directly.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import duckdb
import polars as pl

from ecm.errors import RulesError
from ecm.reference import ReferenceData
from ecm.rules import Rules
from transforms import ed, metrics, stays
from transforms.assign import finalize_assignments
from transforms.members import enrolled_members, providers_on
from transforms.populations import PopulationResult
from transforms.populations.high_util import high_utilizer
from transforms.windows import lookback

CLAIM_EVENT_COLUMNS = (
    "member_id",
    "data_source",
    "claim_id",
    "claim_line_number",
    "claim_type",
    "bill_type_code",
    "claim_start_date",
    "claim_end_date",
    "claim_line_start_date",
    "admission_date",
    "discharge_date",
    "admit_type_code",
    "discharge_disposition_code",
    "drg_code",
    "revenue_center_code",
    "hcpcs_code",
    "place_of_service_code",
    "diagnosis_code_1",
)
ELIGIBILITY_COLUMNS = (
    "member_id",
    "person_id",
    "subscriber_id",
    "birth_date",
    "death_date",
    "gender",
    "race",
    "ethnicity",
    "enrollment_start_date",
    "enrollment_end_date",
    "dual_status_code",
    "first_name",
    "last_name",
    "address",
    "city",
    "state",
    "zip_code",
    "phone",
    "aid_code",
    "county",
    "preferred_language",
)
PROVIDER_COLUMNS = ("member_id", "provider_npi", "provider_name", "start_date", "end_date")


@dataclass(frozen=True)
class Inputs:
    """Staged feeds as lazy frames (claims: current versions only)."""

    eligibility: pl.LazyFrame
    claim_lines: pl.LazyFrame
    provider_assignment: pl.LazyFrame


def _select(con: duckdb.DuckDBPyConnection, table: str, columns: tuple[str, ...]) -> pl.LazyFrame:
    cols = ", ".join(f'"{c}"' for c in columns)
    return con.sql(f"select {cols} from {table}").pl().lazy()


def read_inputs(con: duckdb.DuckDBPyConnection) -> Inputs:
    """The staged tables the rules read, as lazy frames over in-memory Arrow data."""
    return Inputs(
        eligibility=_select(con, "stg__eligibility", ELIGIBILITY_COLUMNS),
        claim_lines=_select(con, "int__medical_claim_current", CLAIM_EVENT_COLUMNS),
        provider_assignment=_select(con, "stg__provider_assignment", PROVIDER_COLUMNS),
    )


@dataclass(frozen=True)
class Events:
    """The events every population rule reads, built once per run."""

    as_of: dt.date
    members: pl.DataFrame
    ed_visits: pl.DataFrame
    stays: pl.DataFrame


def build_events(inputs: Inputs, ref: ReferenceData, rules: Rules, as_of: dt.date) -> Events:
    """Members on the as-of date, ED visits (classified) and stays (classified)."""
    if rules.setting("methods.unplanned_stay") != "admit_type":
        raise RulesError(
            "The rules file asks for methods.unplanned_stay = 'cms_planned', which needs the "
            "CMS planned-admission crosswalks; this version supports only 'admit_type'."
        )
    members = enrolled_members(inputs.eligibility, as_of, rules.setting("time.adult_min_age"))

    gap = rules.setting("events.stays.merge_gap_days")
    acute_bill_types = ref.value_set(rules.setting("events.stays.acute_bill_types"))
    acute = stays.merge_stays(stays.stay_claims(inputs.claim_lines, acute_bill_types), gap)
    nursing = stays.merge_stays(
        stays.stay_claims(
            inputs.claim_lines,
            ref.value_set(rules.setting("events.stays.nursing_facility_bill_types")),
        ),
        gap,
    )
    all_stays = pl.concat(
        [
            acute.with_columns(pl.lit("acute").alias("stay_type")),
            nursing.with_columns(pl.lit("nursing_facility").alias("stay_type")),
        ]
    )
    classified = stays.classify_stays(
        all_stays,
        unplanned_admit_types=ref.value_set(
            rules.setting("methods.admit_type.unplanned_admit_types")
        ),
        newborn_admit_types=ref.value_set(rules.setting("methods.admit_type.newborn_admit_types")),
        missing_admit_type_codes=list(rules.setting("claims.admit_type_missing_codes")),
        empty_admit_type_is_unplanned=rules.setting(
            "methods.admit_type.empty_admit_type_is_unplanned"
        ),
        delivery_principal_dx=ref.value_set(rules.setting("methods.delivery.principal_dx")),
        delivery_drg=ref.value_set(rules.setting("methods.delivery.drg")),
    )
    with_avoidable = stays.mark_avoidable_stays(
        classified,
        members,
        method=rules.setting("methods.avoidable_stay"),
        pqi_principal_dx=ref.pqi_principal_dx(rules.setting("methods.pqi.numerator_value_sets")),
        pqi_age_group=rules.setting("methods.pqi.applies_to_age_group"),
    )

    visit_rules = "events.ed_visit"
    lines = ed.ed_lines(
        inputs.claim_lines,
        revenue_codes=ref.value_set(rules.setting(f"{visit_rules}.institutional_revenue_codes")),
        procedure_codes=ref.value_set(rules.setting(f"{visit_rules}.any_claim_procedure_codes")),
        place_of_service=ref.value_set(
            rules.setting(f"{visit_rules}.professional_place_of_service")
        ),
        inpatient_bill_types=acute_bill_types,
    )
    visits = ed.ed_visits(
        lines, acute, rules.setting(f"{visit_rules}.days_before_admission_belonging_to_stay")
    )
    classified_visits = ed.classify_ed_visits(
        visits,
        ref.nyu_icd10.lazy(),
        method=rules.setting("methods.avoidable_ed"),
        threshold=rules.setting("methods.nyu_avoidable_threshold"),
    )
    member_frame, visit_frame, stay_frame = pl.collect_all(
        [
            members,
            classified_visits.join(members.select("member_id"), on="member_id", how="semi"),
            with_avoidable,
        ]
    )
    return Events(as_of=as_of, members=member_frame, ed_visits=visit_frame, stays=stay_frame)


@dataclass(frozen=True)
class Assignment:
    """The run's results: assignments, evidence and member metrics (collected)."""

    assignments: pl.DataFrame
    evidence: pl.DataFrame
    member_metrics: pl.DataFrame


def assign_populations(events: Events, inputs: Inputs, rules: Rules) -> Assignment:
    """Apply every population rule of the rules file and finalise the outputs."""
    as_of = events.as_of
    window = lookback(as_of, rules.setting("time.lookback_months"))
    members = events.members.lazy()
    visits = events.ed_visits.lazy()
    all_stays = events.stays.lazy()
    results: list[PopulationResult] = []
    for code in ("HIGH_UTIL_ADULT", "HIGH_UTIL_CHILD"):
        settings = rules.population(code)
        results.append(
            high_utilizer(
                code,
                members,
                visits,
                all_stays,
                window,
                age_group=settings["age_group"],
                min_avoidable_ed_visits=settings["min_avoidable_ed_visits"],
                min_avoidable_unplanned_stays=settings["min_avoidable_unplanned_stays"],
            )
        )
    assignments, evidence = finalize_assignments(
        PopulationResult.concat(results),
        members,
        providers_on(inputs.provider_assignment, as_of),
        as_of,
        rules.version,
    )
    member_metrics = metrics.utilization_metrics(members, visits, all_stays, window).sort(
        "member_id"
    )
    frames = pl.collect_all([assignments, evidence, member_metrics])
    return Assignment(*frames)
