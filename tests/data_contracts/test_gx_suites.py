"""The Great Expectations suites built from the contracts find what they should, and say
nothing about any member."""

from __future__ import annotations

import json

import duckdb
import pytest

from data_contracts import load_contract
from data_contracts.fill_rates import FillRateRules
from data_contracts.gx_suites import run_data_quality, table_expectations
from ecm.config.reference import ReferenceData
from ecm.ingest import ingest
from tests.feeds import line, member, write_feed

SECRET = "M-SECRET-7"


@pytest.fixture(scope="module")
def quality(tmp_path_factory, rules):
    feeds = tmp_path_factory.mktemp("feeds")
    write_feed(
        feeds,
        "eligibility",
        [member(SECRET, race="martian"), *(member(f"B{i}", race="white") for i in range(20))],
    )
    claims = [line(f"c{i}", f"B{i % 20}", "2026-01-05", diagnosis_code_1="") for i in range(3)]
    claims += [line(f"d{i}", f"B{i % 20}", "2026-01-05") for i in range(50)]
    # the same line delivered twice: a duplicate at the grain key (reported, kept)
    claims += [line("dup", SECRET, "2026-01-05")] * 2
    write_feed(feeds, "medical_claim", claims)
    write_feed(feeds, "homelessness", [])  # header only: present, flagged
    with duckdb.connect() as con:
        ingested = ingest(con, feeds, rules, tmp_path_factory.mktemp("work"))
        yield run_data_quality(
            con, ingested, FillRateRules(rules.setting, ReferenceData().value_set)
        )


def failed(quality, feed):
    return {e["expectation"]: e for e in quality.expectations[feed] if not e["success"]}


def test_duplicates_at_the_grain_key_are_found(quality):
    dup = failed(quality, "medical_claim")["expect_compound_columns_to_be_unique"]
    assert dup["column"] == ["data_source", "claim_id", "claim_line_number", "file_date"]
    assert dup["unexpected_count"] == 2
    assert dup["element_count"] == 55
    assert dup["unexpected_percent"] == pytest.approx(100 * 2 / 55)


def test_only_professional_claims_are_found(quality):
    got = failed(quality, "medical_claim")
    assert "expect_column_distinct_values_to_contain_set" in got
    assert "expect_column_values_to_be_between" not in got


def test_fill_rates_are_measured_beside_the_suites(quality):
    """The first diagnosis's share is a fill rate (its threshold in the rules file), not
    an expectation: 3 of 55 lines without one is 94.5%, above the 90% default; no line
    has a HCPCS code, which is below."""
    assert "expect_column_values_to_not_be_null" not in failed(quality, "medical_claim")
    rates = {f["check"]: f for f in quality.as_summary()["fill_rates"]}
    dx = rates["diagnosis_code_1_on_claim_lines"]
    assert (dx["rows_in_scope"], dx["rows_filled"], dx["status"]) == (55, 52, "ok")
    assert rates["hcpcs_code_on_professional_lines"]["status"] == "below"
    assert rates["admit_type_code_on_inpatient_claims"]["status"] == "no_rows"
    thin = [w for w in quality.warnings if w["rule"] == "fill_rate"]
    assert [w["check"] for w in thin] == [
        "hcpcs_code_on_professional_lines",
        "place_of_service_code_on_professional_lines",
    ]


def test_value_sets_and_empty_feeds_are_found(quality):
    race = failed(quality, "eligibility")["expect_column_values_to_be_in_set"]
    assert (race["column"], race["unexpected_count"]) == ("race", 1)
    assert (
        failed(quality, "homelessness")["expect_table_row_count_to_be_between"]["observed_value"]
        == 0
    )
    assert "pharmacy_claim" not in quality.expectations  # absent: no suite


def test_failed_expectations_and_row_warnings_are_the_warnings(quality):
    rules = {(w["feed"], w["rule"]) for w in quality.warnings}
    assert ("eligibility", "unknown_value") in rules  # the warn-severity row check
    assert ("medical_claim", "expect_compound_columns_to_be_unique") in rules
    assert ("homelessness", "expect_table_row_count_to_be_between") in rules


def test_no_member_data_in_the_results(quality):
    assert SECRET not in json.dumps(quality.as_summary(), default=str)
    assert "martian" not in json.dumps(quality.as_summary(), default=str)
    for results in quality.results.values():
        for result in results:
            assert SECRET not in json.dumps(result.to_json_dict(), default=str)


def test_contract_dates_reach_gx_as_day_numbers():
    between = [
        s
        for s in table_expectations(load_contract("medical_claim"))
        if s.type == "expect_column_values_to_be_between"
    ]
    assert between[0].kwargs["min_value"] == 20000101


def test_large_tables_sample_column_expectations_but_count_every_row(
    tmp_path, rules, ref, monkeypatch
):
    import data_contracts.gx_suites as suites

    monkeypatch.setattr(suites, "SAMPLE_ROWS", 20)
    feeds = tmp_path / "feeds"
    write_feed(feeds, "eligibility", [member(f"B{i}") for i in range(5)])
    claims = [line(f"d{i}", f"B{i % 5}", "2026-01-05") for i in range(50)]
    write_feed(feeds, "medical_claim", [*claims, claims[0], claims[0]])
    with duckdb.connect() as con:
        ingested = ingest(con, feeds, rules, tmp_path / "work")
        quality = run_data_quality(con, ingested, FillRateRules(rules.setting, ref.value_set))
    entries = {e["expectation"]: e for e in quality.expectations["medical_claim"]}
    assert entries["expect_table_row_count_to_be_between"]["observed_value"] == 52
    assert "sample_rows" not in entries["expect_table_row_count_to_be_between"]
    in_set = entries["expect_column_values_to_be_in_set"]
    assert in_set["sample_rows"] == in_set["element_count"] <= 52
    assert entries["expect_compound_columns_to_be_unique"]["unexpected_count"] == 3
