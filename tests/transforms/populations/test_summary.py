"""evidence_summary: one short line per assignment in a care manager's words, from the
phrases of reference/evidence_phrases.toml (one per criterion)."""

import datetime as dt
import tomllib

import duckdb
import polars as pl
import pytest

from ecm.config.dates import RunDates
from ecm.config.paths import REFERENCE_DIR
from ecm.ingest import ingest
from ecm.shards.evaluate import (
    assign_populations,
    build_events,
    metric_criteria,
    read_inputs,
)
from tests.story_pof import AS_OF, write_story
from tests.transforms.populations.facts import PHRASES
from transforms.populations import (
    SUMMARY_PART_SCHEMA,
    evidence_summaries,
    fact_parts,
    qualify_by_facts,
)

D = dt.date
SUMMARY_MAX_CHARS = 125


def part(member, criterion, n, first, last=None, code=None, slot=0, pof="P"):
    return {
        "member_id": member,
        "pof_code": pof,
        "slot": slot,
        "criterion": criterion,
        "n": float(n),
        "first_date": first,
        "last_date": last or first,
        "code": code,
    }


def render(*parts, phrases=PHRASES) -> str:
    frame = pl.LazyFrame(list(parts), schema=SUMMARY_PART_SCHEMA)
    rows = evidence_summaries(frame, phrases).collect()
    assert rows.height == 1
    return rows["evidence_summary"][0]


def test_a_count_shows_its_count_and_date_range():
    assert render(part("a", "avoidable_ed_visit", 5, D(2025, 11, 3), D(2026, 8, 8))) == (
        "5 avoidable ED visits 2025-11-03..2026-08-08"
    )


def test_one_event_is_singular_with_its_date():
    assert render(part("a", "avoidable_unplanned_stay", 1, D(2026, 1, 5))) == (
        "1 avoidable unplanned stay 2026-01-05"
    )


def test_a_fractional_count_has_two_decimals():
    summary = render(part("a", "avoidable_ed_visit", 5.256, D(2026, 1, 1), D(2026, 2, 1)))
    assert summary.startswith("5.26 avoidable ED visits")


def test_a_release_names_its_facility_then_the_diagnosis():
    # the phrases' order: a release before a diagnosis, whatever the criterion names
    assert render(
        part("a", "sud_dx", 3, D(2026, 1, 1), D(2026, 5, 1), slot=1),
        part("a", "incarceration_release", 1, D(2026, 4, 2), code="county_jail"),
    ) == ("released from county jail 2026-04-02; SUD diagnosis")


def test_every_part_of_a_rule_is_named_before_a_second_fact_of_one():
    # SMI_SUD_ADULT: a diagnosis, a complex social factor, an acute need (slots 0, 1, 2)
    summary = render(
        part("a", "smi_dx", 4, D(2026, 1, 1), D(2026, 3, 1)),
        part("a", "sud_dx", 2, D(2026, 1, 1), D(2026, 3, 1)),
        part("a", "homelessness_feed", 1, D(2026, 3, 1), code="emergency shelter", slot=1),
        part("a", "complex_social_factor_dx", 1, D(2026, 5, 1), slot=1),
        part("a", "psychiatric_stay", 2, D(2026, 2, 1), D(2026, 6, 1), slot=2),
    )
    assert summary == (
        "SMI diagnosis; homeless (emergency shelter 2026-03-01); "
        "2 psychiatric stays 2026-02-01..2026-06-01"
    )


def test_at_most_three_parts_and_a_fact_of_two_parts_once():
    summary = render(
        part("a", "homelessness_feed", 1, D(2026, 3, 1), code="HMIS"),
        part("a", "crisis_service", 2, D(2026, 4, 1), D(2026, 5, 1), slot=1),
        part("a", "crisis_service", 2, D(2026, 4, 1), D(2026, 5, 1), slot=2),
        part("a", "chronic_condition_dx", 1, D(2026, 4, 1), slot=1),
        part("a", "hiv_aids_dx", 1, D(2026, 4, 1), slot=1),
    )
    assert summary == (
        "homeless (HMIS 2026-03-01); 2 crisis services 2026-04-01..2026-05-01; chronic condition"
    )


def test_a_criterion_without_a_phrase_reads_as_its_name():
    assert render(part("a", "new_criterion", 2, D(2026, 1, 1)), phrases=PHRASES.clear()) == (
        "new_criterion 2 2026-01-01"
    )


def test_parts_from_facts_count_distinct_facts_and_keep_the_latest_code():
    facts = pl.LazyFrame(
        [
            ("a", "P", "incarceration_release", "f:2", D(2026, 1, 1), "state_prison"),
            ("a", "P", "incarceration_release", "f:3", D(2026, 4, 2), "county_jail"),
            ("a", "P", "incarceration_release", "f:3", D(2026, 4, 2), "county_jail"),
        ],
        schema=["member_id", "pof_code", "criterion", "source_key", "event_date", "code"],
        orient="row",
    )
    row = fact_parts(facts).collect().row(0, named=True)
    assert (row["n"], row["first_date"], row["last_date"], row["code"]) == (
        2,
        D(2026, 1, 1),
        D(2026, 4, 2),
        "county_jail",
    )


def test_qualify_by_facts_names_each_part_of_the_rule():
    facts = pl.LazyFrame(
        [
            {"member_id": "a", "criterion": "ccs_enrollment", "event_date": D(2024, 1, 1)},
            {"member_id": "a", "criterion": "complex_social_factor_dx", "event_date": AS_OF},
        ],
        schema={"member_id": pl.String, "criterion": pl.String, "event_date": pl.Date},
    ).with_columns(
        pl.lit("x").alias("source_feed"),
        pl.lit("k").alias("source_key"),
        pl.when(pl.col("criterion") == "ccs_enrollment").then(pl.lit("CCS")).alias("code"),
    )
    result = qualify_by_facts(
        "CCS_CHILD",
        pl.LazyFrame({"member_id": ["a"]}),
        [
            facts.filter(pl.col("criterion") == "ccs_enrollment"),
            facts.filter(pl.col("criterion") != "ccs_enrollment"),
        ],
    )
    rows = evidence_summaries(result.parts(), PHRASES).collect()
    assert rows["evidence_summary"].to_list() == ["CCS enrolled; complex social factor 2026-10-31"]


# --- every criterion has a phrase, every population a short summary -----------------------


@pytest.fixture(scope="module")
def pof_result(rules, ref, tmp_path_factory):
    folder = write_story(tmp_path_factory.mktemp("pof") / "feeds")
    with duckdb.connect() as con:
        found = ingest(con, folder, rules, tmp_path_factory.mktemp("work"))
        inputs = read_inputs(con, frozenset(found.feeds), RunDates.of(rules, AS_OF).history_start)
    return assign_populations(
        build_events(inputs, ref, rules, RunDates.of(rules, AS_OF)), inputs, rules
    )


def test_the_phrases_file_gives_every_phrase_one_and_many():
    phrases = tomllib.loads((REFERENCE_DIR / "evidence_phrases.toml").read_text())["phrases"]
    assert all(set(p) == {"one", "many"} for p in phrases.values())
    assert PHRASES.height == len(phrases)


def test_every_criterion_a_rule_emits_has_a_phrase(pof_result, rules):
    # child_welfare_<status>: every status the feed contract allows
    contract = tomllib.loads(
        (REFERENCE_DIR.parent / "data_contracts" / "child_welfare.toml").read_text()
    )
    welfare = {f"child_welfare_{v}" for v in contract["columns"]["status"]["values"]}
    assert welfare
    emitted = (
        set(pof_result.evidence["criterion"])
        | set(metric_criteria(rules))
        | welfare
        | {f"avoidable_unplanned_{t}_stay" for t in ("acute", "nursing_facility")}
        | {"avoidable_ed_visit", "avoidable_unplanned_stay"}  # high_util's counts
        | {"mh_sud_dx_dates", "mh_sud_acute_event"}  # smi_sud_child's counts
    )
    assert emitted - set(PHRASES["criterion"]) == set()


def test_every_population_reads_in_words_and_is_short(pof_result):
    a = pof_result.assignments
    assert a["evidence_summary"].null_count() == 0
    assert a["evidence_summary"].str.len_chars().max() <= SUMMARY_MAX_CHARS
    # no column names: criterion names have underscores, phrases none
    assert not a["evidence_summary"].str.contains("_").any()
    by = {(r["member_id"], r["pof_code"]): r["evidence_summary"] for r in a.to_dicts()}
    assert by[("JA", "JUSTICE_ADULT")].startswith("released from ")
    assert by[("FAM_MOM", "HOMELESS_FAMILY")].startswith("homeless child in household (")
    assert by[("CCS", "CCS_CHILD")].startswith("CCS")
