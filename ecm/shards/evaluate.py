"""The wiring between the warehouse, the rules file and the pure transforms.

No rule lives here: this module reads staged tables into lazy frames, hands each
transform the value sets and settings the rules file names, and collects the results.
The Prefect flow (flows/monthly.py) calls these functions as its tasks; tests call them
directly.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace

import duckdb
import polars as pl

from ecm.config.dates import RunDates
from ecm.config.reference import ReferenceData
from ecm.config.rules import OWN_LOOKBACK_SETTING, Rules
from ecm.errors import RulesError
from ecm.warehouse.inputs import all_input_selects, input_selects
from ecm.warehouse.sql import install_macros
from transforms import ed, exclusions, metrics, proposals, stays
from transforms.assign import finalize_assignments
from transforms.claims import CLAIM_TYPE_OF_BILL, with_claim_type_of_bill
from transforms.cms_planned import mark_planned_cms
from transforms.criteria import Criteria, build_criteria, collect_criteria, condition_criteria
from transforms.members import enrolled_members, members_with_several_providers, providers_on
from transforms.populations import (
    Population,
    PopulationResult,
    homeless,
    with_evidence_summaries,
)
from transforms.populations.registry import POPULATIONS
from transforms.windows import Window


@dataclass(frozen=True)
class Inputs:
    """The run's inputs as lazy frames, by name: one per select of
    ecm.warehouse.inputs (a contract's `read_columns`; the claims' lines, diagnoses and,
    when a method needs them, procedure codes), so a new feed's input needs no field here.
    Claims are current versions only. `inputs["incarceration"]` is a frame.

    `present_feeds` names the feeds the feed directory held; an absent optional feed is an
    empty frame here and its populations are reported not (or partially) evaluated.
    """

    frames: Mapping[str, pl.LazyFrame]
    present_feeds: frozenset[str]

    def __getitem__(self, name: str) -> pl.LazyFrame:
        return self.frames[name]

    def get(self, name: str) -> pl.LazyFrame | None:
        """The input `name`, or None when it was not read (read on demand only)."""
        return self.frames.get(name)

    def replaced(self, name: str, frame: pl.LazyFrame) -> Inputs:
        """These inputs with `name` read as `frame`."""
        return replace(self, frames={**self.frames, name: frame})


# Inputs read only when a method of the rules file needs them: (setting, value) -> inputs.
METHOD_INPUTS: dict[tuple[str, str], tuple[str, ...]] = {
    ("methods.unplanned_stay", "cms_planned"): ("procedures",),
}


def inputs_needed(rules: Rules) -> frozenset[str]:
    """The inputs read on demand (ecm.warehouse.inputs) that the rules file's methods
    need: the claims' procedure codes for method cms_planned."""
    return frozenset(
        name
        for (dotted, value), names in METHOD_INPUTS.items()
        if rules.setting(dotted) == value
        for name in names
    )


def read_inputs(
    con: duckdb.DuckDBPyConnection,
    present_feeds: frozenset[str],
    since: dt.date,
    *,
    rules: Rules | None = None,
) -> Inputs:
    """The inputs the rules read (ecm.warehouse.inputs), as lazy frames over in-memory
    Arrow data.

    Diagnoses are read in long form from `since` on (sql int__claim_diagnosis); procedure
    codes (sql int__claim_procedure) only when a method of `rules` needs them
    (`inputs_needed`: method cms_planned). Without `rules`, no optional input is read.
    """
    needed = inputs_needed(rules) if rules is not None else frozenset()
    install_macros(con)
    return Inputs(
        {
            name: con.sql(select.sql, params=select.params(since)).pl().lazy()
            for name, select in input_selects(needed).items()
        },
        present_feeds,
    )


def scan_inputs(
    files: dict[str, str], present_feeds: frozenset[str], since: dt.date | None = None
) -> Inputs:
    """The inputs `read_inputs` reads, as lazy scans of Parquet files (one shard's, written
    by ecm.shards.inputs): `files` maps each input's name to a path or glob. The files of
    an input read from a date (the diagnoses) hold all of its history, so that they serve
    runs of any as-of date: `since` bounds them here as `read_inputs` bounds its select."""
    dated = {
        name: select.dated_by
        for name, select in all_input_selects().items()
        if select.dated_by is not None
    }
    frames = {}
    for name, path in files.items():
        frame = pl.scan_parquet(path, hive_partitioning=False)
        if since is not None and name in dated:
            frame = frame.filter(pl.col(dated[name]) >= since)
        frames[name] = frame
    return Inputs(frames, present_feeds)


@dataclass(frozen=True)
class Events:
    """The events and shared criteria every population rule reads, built once per run."""

    dates: RunDates
    members: pl.DataFrame
    ed_visits: pl.DataFrame
    stays: pl.DataFrame
    criteria: Criteria
    # Members in eligibility, not on the as-of date, under 21 on it (member_id,
    # subscriber_id): HOMELESS_FAMILY's index children who are not enrolled.
    unenrolled_children: pl.DataFrame
    # Each enrolled member's primary care provider (transforms.proposals.primary_care).
    primary_care: pl.DataFrame
    # What no population block changes, computed with the events so that a rerun or both
    # sides of `ecm diff` read them instead of computing them again: member_metrics.parquet
    # (sorted by member_id) and the exclusions of the enrolled members (`find_exclusions`).
    member_metrics: pl.DataFrame
    exclusions: pl.DataFrame


# The names by which a population's rule may read the events (Population.reads); the
# inputs' names are the selects' of ecm.warehouse.inputs.
EVENT_FIELDS = tuple(f.name for f in fields(Events))


def _stays(inputs: Inputs, ref: ReferenceData, rules: Rules, members: pl.LazyFrame):
    """Acute and nursing facility stays, classified; and the acute stays unclassified."""
    gap = rules.setting("events.stays.merge_gap_days")

    def built(bill_types: str) -> pl.LazyFrame:
        claims = stays.stay_claims(inputs["claim_lines"], ref.value_set(rules.setting(bill_types)))
        return stays.merge_stays(claims, gap)

    acute = built("events.stays.acute_bill_types")
    nursing = built("events.stays.nursing_facility_bill_types")
    all_stays = pl.concat(
        [
            acute.with_columns(pl.lit("acute").alias("stay_type")),
            nursing.with_columns(pl.lit("nursing_facility").alias("stay_type")),
        ]
    )
    method = rules.setting("methods.unplanned_stay")
    if method == "cms_planned":
        procedures = inputs.get("procedures")
        if procedures is None:
            raise RulesError(
                "The cms_planned method needs the claims' procedure codes; read the inputs "
                "with read_inputs(..., rules=rules)."
            )
        all_stays = mark_planned_cms(all_stays, procedures, ref.cms_planned_tables)
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
        method=method,
    )
    with_avoidable = stays.mark_avoidable_stays(
        classified,
        members,
        method=rules.setting("methods.avoidable_stay"),
        pqi_principal_dx=ref.pqi_principal_dx(rules.setting("methods.pqi.numerator_value_sets")),
        pqi_age_group=rules.setting("methods.pqi.applies_to_age_group"),
    )
    return with_avoidable, acute


def _ed_visits(inputs: Inputs, ref: ReferenceData, rules: Rules, acute: pl.LazyFrame):
    visit_rules = "events.ed_visit"
    lines = ed.ed_lines(
        inputs["claim_lines"],
        revenue_codes=ref.value_set(rules.setting(f"{visit_rules}.institutional_revenue_codes")),
        procedure_codes=ref.value_set(rules.setting(f"{visit_rules}.any_claim_procedure_codes")),
        place_of_service=ref.value_set(
            rules.setting(f"{visit_rules}.professional_place_of_service")
        ),
        inpatient_bill_types=ref.value_set(rules.setting("events.stays.acute_bill_types")),
    )
    visits = ed.ed_visits(
        lines, acute, rules.setting(f"{visit_rules}.days_before_admission_belonging_to_stay")
    )
    return ed.classify_ed_visits(
        visits,
        ref.nyu_icd10.lazy(),
        method=rules.setting("methods.avoidable_ed"),
        threshold=rules.setting("methods.nyu_avoidable_threshold"),
        min_prefix_length=rules.setting("methods.nyu_min_prefix_length"),
    )


def _unenrolled_children(
    inputs: Inputs, members: pl.LazyFrame, rules: Rules, as_of: dt.date
) -> pl.LazyFrame:
    """Children in eligibility but not among the members: HOMELESS_FAMILY's other index."""
    return homeless.unenrolled_children(
        inputs["eligibility"], members, as_of, max_age_exclusive=rules.setting("time.adult_min_age")
    )


def build_events(inputs: Inputs, ref: ReferenceData, rules: Rules, dates: RunDates) -> Events:
    """Members on the as-of date, ED visits and stays (classified), every shared
    criterion, and what no population block changes (the member metrics and the
    exclusions), collected together."""
    as_of = dates.as_of
    members = enrolled_members(inputs["eligibility"], as_of, rules.setting("time.adult_min_age"))
    enrolled = members.select("member_id")
    # The claims' type of bill is read by ED visits and both kinds of stay: add it once.
    inputs = inputs.replaced(
        "claim_lines", with_claim_type_of_bill(inputs["claim_lines"]).collect().lazy()
    )
    all_stays, acute = _stays(inputs, ref, rules, members)
    visits = _ed_visits(inputs, ref, rules, acute).join(enrolled, on="member_id", how="semi")
    member_frame, visit_frame, stay_frame = pl.collect_all([members, visits, all_stays])

    # From here on the members are read from memory, and the enrolled members' claim
    # lines (read by the criteria and the primary care) are filtered once: before, each
    # of three collects semi-joined the claim lines to the members' plan again.
    members = member_frame.lazy()
    enrolled_ids = member_frame["member_id"].implode()
    enrolled_lines = inputs["claim_lines"].filter(pl.col("member_id").is_in(enrolled_ids))
    setting = rules.setting
    index_children = _unenrolled_children(inputs, members, rules, as_of).collect()
    criteria = build_criteria(
        window=dates.window,
        diagnoses=inputs["diagnoses"].filter(pl.col("member_id").is_in(enrolled_ids)),
        index_child_diagnoses=inputs["diagnoses"].filter(
            pl.col("member_id").is_in(index_children["member_id"].implode())
        ),
        claim_lines=enrolled_lines,
        ed_visits=visit_frame.lazy(),
        stays=stay_frame.lazy(),
        incarceration=inputs["incarceration"],
        homelessness=inputs["homelessness"],
        condition_value_sets=ref.value_sets(setting("criteria.condition_value_sets")),
        procedure_value_sets=ref.value_sets(setting("criteria.procedure_value_sets")),
        mh_sud=ref.value_set(setting("criteria.mh_sud")),
        psychiatric_revenue=ref.value_set(setting("criteria.psychiatric_revenue_codes")),
        urgent_care_pos=ref.value_set(setting("criteria.urgent_care_place_of_service")),
        office_codes=ref.value_set(setting("criteria.office_visit_codes")),
        ed_pos=ref.value_set(setting("events.ed_visit.professional_place_of_service")),
        delivery_drg=ref.value_set(setting("methods.delivery.drg")),
        community_discharge=ref.value_set(setting("criteria.community_discharge_dispositions")),
    )
    criteria = collect_criteria(criteria)
    primary_care = proposals.primary_care(
        enrolled_lines,
        ref.value_set(setting("criteria.office_visit_codes")),
        ref.value_set(setting("events.ed_visit.professional_place_of_service")),
        dates.window,
    ).collect()
    # The member metrics and the exclusions read no population block (only the events,
    # the criteria and exclusions settings and the dates): built here, once per set of
    # events. The exclusions read the claim lines from memory without the type of bill
    # added above: hospice finds each claim's own among its institutional lines.
    member_metrics, excluding = pl.collect_all(
        [
            metrics.member_metrics(
                members,
                visit_frame.lazy(),
                stay_frame.lazy(),
                criteria,
                dates.window,
                counted_criteria=metric_criteria(rules),
                long_window=dates.long_window,
            ).sort("member_id"),
            find_exclusions(
                inputs.replaced("claim_lines", inputs["claim_lines"].drop(CLAIM_TYPE_OF_BILL)),
                members,
                rules,
                ref,
                as_of,
            ),
        ]
    )
    return Events(
        dates=dates,
        members=member_frame,
        ed_visits=visit_frame,
        stays=stay_frame,
        criteria=criteria,
        unenrolled_children=index_children,
        primary_care=primary_care,
        member_metrics=member_metrics,
        exclusions=excluding,
    )


@dataclass(frozen=True)
class PopulationStatus:
    """Whether a population could be evaluated with the feeds present."""

    status: str  # evaluated | partially_evaluated | not_evaluated
    missing_feeds: tuple[str, ...]

    def as_dict(self) -> dict[str, object]:
        return {"status": self.status, "missing_feeds": list(self.missing_feeds)}


def population_status(settings: dict, present_feeds: frozenset[str]) -> PopulationStatus:
    """Not evaluated when a required feed is absent; partially when a partial one is."""
    missing_required = tuple(
        f for f in settings.get("required_feeds", []) if f not in present_feeds
    )
    if missing_required:
        return PopulationStatus("not_evaluated", missing_required)
    missing_partial = tuple(f for f in settings.get("partial_feeds", []) if f not in present_feeds)
    if missing_partial:
        return PopulationStatus("partially_evaluated", missing_partial)
    return PopulationStatus("evaluated", ())


def evaluated_populations(rules: Rules, present_feeds: frozenset[str]) -> frozenset[str]:
    """The population codes evaluated (in whole or in part) with the feeds present."""
    return frozenset(
        code
        for code in rules.population_codes
        if population_status(rules.population(code), present_feeds).status != "not_evaluated"
    )


def exclusion_status(present_feeds: frozenset[str]) -> PopulationStatus:
    """The exclusions' evaluation status: partially evaluated (claims only) without the
    program_enrollment feed (docs/POPULATIONS.md, "Exclusions"), never silently none."""
    return population_status({"partial_feeds": [exclusions.PROGRAM_FEED]}, present_feeds)


def find_exclusions(
    inputs: Inputs,
    members: pl.LazyFrame,
    rules: Rules,
    reference: ReferenceData,
    as_of: dt.date,
) -> pl.LazyFrame:
    """The exclusions of `members` (those enrolled on `as_of`: transforms.exclusions),
    with the programs in force, the hospice bill types and days of the rules file."""
    setting = rules.setting
    return exclusions.exclusions(
        program_enrollment=inputs[exclusions.PROGRAM_FEED],
        claim_lines=inputs["claim_lines"],
        members=members,
        programs=setting("exclusions.programs"),
        hospice_bill_types=reference.value_set(setting("exclusions.hospice_bill_types")),
        hospice_claim_days=setting("exclusions.hospice_claim_days"),
        as_of=as_of,
    )


def programs_not_excluding(program_enrollment: pl.LazyFrame, rules: Rules) -> dict[str, int]:
    """The program_enrollment rows of programs that never exclude (outside the exclusion
    table, or not in force: loop.md, section 1), counted by program, whatever their dates."""
    rows = (
        program_enrollment.filter(~pl.col("program").is_in(rules.setting("exclusions.programs")))
        .group_by("program")
        .len()
        .sort("program")
        .collect()
    )
    return dict(rows.iter_rows())


@dataclass(frozen=True)
class Evaluation:
    """The populations evaluated over a set of members (a shard, or all): assignments
    (with `excluded_by`), evidence, member metrics and exclusions (collected), every
    population's evaluation status and the exclusions'."""

    assignments: pl.DataFrame
    evidence: pl.DataFrame
    member_metrics: pl.DataFrame
    # One row per member enrolled on the as-of date × program × source that excludes
    # them (transforms.exclusions), whether or not they hold a population.
    exclusions: pl.DataFrame
    population_status: dict[str, PopulationStatus]
    exclusion_status: PopulationStatus
    # The members holding a population: county and primary care provider
    # (transforms.proposals.PRIMARY_CARE_SCHEMA), read by the proposals after the merge.
    primary_care: pl.DataFrame = field(
        default_factory=lambda: pl.DataFrame(schema=proposals.PRIMARY_CARE_SCHEMA)
    )
    # Members with spans of more than one ECM provider covering the as-of date.
    members_with_several_providers: int = 0
    # program_enrollment rows of programs that never exclude, by program.
    programs_not_excluding: dict[str, int] = field(default_factory=dict)


def population_window(population: Population, rules: Rules, dates: RunDates) -> Window:
    """The lookback a population's rule counts over: its own `lookback_months` when its
    block names one (populations.md, "Time"), else the run's lookback."""
    if population.has_own_lookback:
        months = rules.population(population.code).get(OWN_LOOKBACK_SETTING)
        if months is not None:
            return dates.months(months)
    return dates.window


def rule_inputs(
    population: Population, events: Events, inputs: Inputs, rules: Rules
) -> dict[str, object]:
    """The inputs a population's rule reads, by the names its declaration gives (`reads`):
    `as_of`, `window` (its lookback), `long_window`, the fields of `Events` and the
    inputs by name (frames as lazy frames)."""
    dates = events.dates
    windows: dict[str, object] = {
        "as_of": dates.as_of,
        "window": population_window(population, rules, dates),
        "long_window": dates.long_window,
    }
    provided = {
        **inputs.frames,
        **{name: getattr(events, name) for name in EVENT_FIELDS},
        **windows,
    }
    unknown = [name for name in population.reads if name not in provided]
    if unknown:
        raise RulesError(
            f"Population {population.code} reads {unknown}, which the run does not provide "
            f"(it provides: {', '.join(sorted(provided))})."
        )
    return {
        name: value.lazy() if isinstance(value, pl.DataFrame) else value
        for name, value in provided.items()
        if name in population.reads
    }


def rule_settings(population: Population, rules: Rules) -> dict[str, object]:
    """The settings a population's rule takes, from its block and the shared settings it
    names (load_rules has checked they are there, of their types)."""
    block = f"populations.{population.code}"
    return {
        **{name: rules.setting(f"{block}.{name}") for name in population.settings},
        **{name: rules.setting(dotted) for name, (dotted, _) in population.shared_settings.items()},
    }


def apply_rule(
    population: Population, events: Events, inputs: Inputs, rules: Rules
) -> PopulationResult:
    """Call one population's rule with the inputs and settings it declares."""
    return population.rule(
        population.code,
        **rule_inputs(population, events, inputs, rules),
        **rule_settings(population, rules),
    )


def rule_key(population: Population, rules: Rules, dates: RunDates) -> str:
    """What a population's rule is given besides the events and inputs: its code and
    function, its settings (`rule_settings`) and its dates (`as_of`, its window, the long
    window), as the sha256 of them. Over the same events and inputs, one key is one result:
    kept with the events (ecm.shards.events.write_population_rows), a rerun or `ecm diff`
    reads the rows of a population whose key its rules file gives again."""
    rule = population.rule
    given = {
        "code": population.code,
        "rule": f"{rule.__module__}.{rule.__qualname__}",
        "settings": rule_settings(population, rules),
        "as_of": dates.as_of,
        "window": population_window(population, rules, dates),
        "long_window": dates.long_window,
    }
    return hashlib.sha256(json.dumps(given, default=str, sort_keys=True).encode()).hexdigest()


# A population's collected qualified members, evidence and summary parts (PopulationResult).
PopulationRows = tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame]


def evaluate_populations(
    populations: list[Population],
    events: Events,
    inputs: Inputs,
    rules: Rules,
    known: dict[str, PopulationRows] | None = None,
) -> PopulationResult:
    """Every population's qualified members, evidence and summary parts, collected
    together (`populations`' order). `known`: the populations' rows already collected over
    the same events and inputs, by `rule_key`; a population found there is not evaluated
    again, and those evaluated are added to it (`ecm diff`'s two rules files share the
    populations whose blocks they do not change: ecm.shards.run.run_shard_each)."""
    keys = {p.code: rule_key(p, rules, events.dates) for p in populations}
    missing = [p for p in populations if known is None or keys[p.code] not in known]
    combined = PopulationResult.concat([apply_rule(p, events, inputs, rules) for p in missing])
    qualified, facts, parts = pl.collect_all(
        [combined.qualified, combined.evidence, combined.parts()]
    )
    if known is None:
        return PopulationResult(qualified.lazy(), facts.lazy(), parts.lazy())
    for population in missing:
        code = pl.col("pof_code") == population.code
        known[keys[population.code]] = (
            qualified.filter(code),
            facts.filter(code),
            parts.filter(code),
        )
    rows = [known[keys[p.code]] for p in populations]
    if not rows:
        return PopulationResult.concat([])
    return PopulationResult(*(pl.concat(frames).lazy() for frames in zip(*rows, strict=True)))


def metric_criteria(rules: Rules) -> list[str]:
    """The criteria member_metrics counts: every tagged diagnosis and procedure set."""
    dx = condition_criteria(rules.setting("criteria.condition_value_sets"))
    return dx + list(rules.setting("criteria.procedure_value_sets"))


def assign_populations(
    events: Events,
    inputs: Inputs,
    rules: Rules,
    populations: Mapping[str, Population] = POPULATIONS,
    phrases: pl.DataFrame | None = None,
    known: dict[str, PopulationRows] | None = None,
) -> Evaluation:
    """Apply every registered population's rule the feeds allow and finalise the outputs,
    each assignment with the exclusions of its member; the member metrics and the
    exclusions are the events' (`build_events`: no population block changes them), so
    `rules` must differ from the events' rules file in population blocks alone.

    `phrases`: the evidence summaries' phrases (default the packaged
    reference/evidence_phrases.toml); `known`: populations' rows collected over the same
    events and inputs by an earlier call (`evaluate_populations`), read instead of
    evaluating those populations again, and added to."""
    phrases = ReferenceData().evidence_phrases if phrases is None else phrases
    dates = events.dates
    as_of = dates.as_of
    statuses = {
        code: population_status(rules.population(code), inputs.present_feeds)
        for code in populations
    }
    members = events.members.lazy()
    # Every population's qualified members, evidence and summary parts, computed once:
    # the assignments and the evidence below both read them, and Polars does not find
    # the populations' plans shared between two collected frames (300k members: assign
    # 10.2 s with the rules run for each output, 2.7 s so).
    combined = evaluate_populations(
        [p for code, p in populations.items() if statuses[code].status != "not_evaluated"],
        events,
        inputs,
        rules,
        known,
    )
    assignments, evidence = finalize_assignments(
        PopulationResult(with_evidence_summaries(combined, phrases), combined.evidence),
        members,
        providers_on(inputs["provider_assignment"], as_of),
        as_of,
        rules.version,
    )
    assignments = exclusions.with_excluded_by(assignments, events.exclusions.lazy())
    care = (
        members.join(assignments.select("member_id").unique(), on="member_id", how="semi")
        .select("member_id", "county")
        .join(events.primary_care.lazy(), on="member_id", how="left")
        .select(list(proposals.PRIMARY_CARE_SCHEMA))
        .cast(proposals.PRIMARY_CARE_SCHEMA)
        .sort("member_id")
    )
    assignments, evidence, primary_care = pl.collect_all([assignments, evidence, care])
    return Evaluation(
        assignments,
        evidence,
        events.member_metrics,
        events.exclusions,
        population_status=statuses,
        exclusion_status=exclusion_status(inputs.present_feeds),
        primary_care=primary_care,
        members_with_several_providers=members_with_several_providers(
            inputs["provider_assignment"], as_of
        ),
        programs_not_excluding=programs_not_excluding(inputs[exclusions.PROGRAM_FEED], rules),
    )
