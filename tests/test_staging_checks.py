"""Row checks generated from the contracts, and the staging fixes of issue #6."""

from __future__ import annotations

import datetime as dt
import re

import duckdb
import polars as pl
import pytest

from data_contracts import feed_order
from ecm.ingest import ingest
from ecm.warehouse.sql import load_sql
from tests.feeds import line, member, write_feed

D = dt.date


@pytest.fixture
def con():
    with duckdb.connect() as connection:
        yield connection


def staged(con, feed):
    return con.sql(f"select * from stg__{feed}").pl()


def quarantine(con):
    return con.sql("select feed, line, rule, detail from quarantine order by feed, line").pl()


@pytest.mark.parametrize("feed", feed_order())
def test_staging_models_only_rename_and_cast(feed):
    """The checks live in the contract: no staging model writes one by hand."""
    sql = load_sql(f"staging/stg__{feed}")
    assert "ecm_check_" not in sql and "_reject" not in sql.split("with", 1)[1]
    assert f"from checked__{feed}" in sql
    assert re.search(r"select \* from final\s*$", sql)


@pytest.mark.parametrize(
    ("raw", "expected"), [("22", "0022"), ("450", "0450"), ("1", "0001"), ("0450", "0450")]
)
def test_revenue_codes_of_one_to_three_digits_are_zero_padded(tmp_path, con, rules, raw, expected):
    feeds = tmp_path / "feeds"
    write_feed(feeds, "eligibility", [member("A")])
    write_feed(
        feeds,
        "medical_claim",
        [line("c1", "A", "2026-01-05", claim_type="institutional", revenue_center_code=raw)],
    )
    result = ingest(con, feeds, rules, tmp_path / "work")
    assert result.feeds["medical_claim"].quarantined == 0
    assert staged(con, "medical_claim")["revenue_center_code"].to_list() == [expected]


def test_integer_typed_parquet_codes_stage_like_their_text(tmp_path, con, rules):
    """A nursing facility stay delivered with revenue code 22 as an int64 must not vanish."""
    feeds = tmp_path / "feeds"
    write_feed(feeds, "eligibility", [member("A")])
    rows = [
        line("c1", "A", "2026-01-05", claim_type="institutional"),
        line("c2", "A", "2026-01-06", claim_type="professional"),
    ]
    write_feed(feeds, "medical_claim", rows)
    frame = pl.read_csv(feeds / "medical_claim.csv", infer_schema=False).with_columns(
        pl.Series("revenue_center_code", [22, None], dtype=pl.Int64),
        pl.Series("bill_type_code", [211, None], dtype=pl.Int32),
        pl.Series("place_of_service_code", [23, 2], dtype=pl.Int64),
        pl.Series("claim_line_number", [1, 1], dtype=pl.Int64),
    )
    (feeds / "medical_claim.csv").unlink()
    frame.write_parquet(feeds / "medical_claim.parquet")
    result = ingest(con, feeds, rules, tmp_path / "work")
    assert result.feeds["medical_claim"].quarantined == 0
    got = staged(con, "medical_claim").sort("claim_id")
    assert got["revenue_center_code"].to_list() == ["0022", None]
    assert got["bill_type_code"].to_list() == ["211", None]
    assert got["place_of_service_code"].to_list() == ["23", "02"]


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_a_required_value_empty_in_every_row_is_quarantined(tmp_path, con, rules, suffix):
    """A file whose claim_id is empty in every row (in Parquet: a column whose statistics
    count only nulls, which the checks otherwise skip) has every row quarantined."""
    feeds = tmp_path / "feeds"
    write_feed(feeds, "eligibility", [member("A")])
    rows = [line("c1", "A", "2026-01-05"), line("c2", "A", "2026-01-06")]
    write_feed(feeds, "medical_claim", rows)
    frame = pl.read_csv(feeds / "medical_claim.csv", infer_schema=False).with_columns(
        pl.lit(None, pl.String).alias("claim_id")
    )
    (feeds / "medical_claim.csv").unlink()
    if suffix == ".parquet":
        frame.write_parquet(feeds / "medical_claim.parquet")
    else:
        frame.write_csv(feeds / "medical_claim.csv")
    result = ingest(con, feeds, rules, tmp_path / "work")
    assert result.feeds["medical_claim"].staged == 0
    assert quarantine(con).filter(pl.col("feed") == "medical_claim")["detail"].to_list() == [
        "claim_id is empty",
        "claim_id is empty",
    ]


def test_a_feed_whose_member_ids_are_all_empty_is_quarantined_and_rechecked(tmp_path, con, rules):
    """Every claim's member_id empty: each row is quarantined (it holds no value, so the
    column could go unstored), and the next ingest's member re-check still reads it."""
    feeds = tmp_path / "feeds"
    write_feed(feeds, "eligibility", [member("A")])
    write_feed(feeds, "medical_claim", [line("c1", "", "2026-01-05")])
    frame = pl.read_csv(feeds / "medical_claim.csv", infer_schema=False)
    (feeds / "medical_claim.csv").unlink()
    frame.write_parquet(feeds / "medical_claim.parquet")
    result = ingest(con, feeds, rules, tmp_path / "work")
    assert result.feeds["medical_claim"].quarantined == 1
    write_feed(feeds, "eligibility", [member("A"), member("B")])
    again = ingest(con, feeds, rules, tmp_path / "work2")
    assert again.feeds["medical_claim"].quarantined == 1
    assert staged(con, "medical_claim").height == 0


def test_an_enrollment_span_may_start_before_birth(tmp_path, con, rules):
    """Medi-Cal enrols a newborn from the first of the birth month."""
    feeds = tmp_path / "feeds"
    write_feed(
        feeds,
        "eligibility",
        [member("A", birth_date="2026-01-20", enrollment_start_date="2026-01-01")],
    )
    write_feed(feeds, "medical_claim", [line("c1", "A", "2026-01-21")])
    result = ingest(con, feeds, rules, tmp_path / "work")
    assert result.feeds["eligibility"].quarantined == 0
    assert staged(con, "eligibility")["birth_date"].to_list() == [dt.date(2026, 1, 20)]


def test_a_member_whose_eligibility_was_quarantined_is_told_apart(tmp_path, con, rules):
    feeds = tmp_path / "feeds"
    write_feed(
        feeds,
        "eligibility",
        [
            member("A"),
            member("B", birth_date="not a date"),
            member("B", enrollment_start_date="2021-01-01", enrollment_end_date="2020-01-01"),
            # C has one bad row and one good one: C is known
            member("C", birth_date="never"),
            member("C"),
        ],
    )
    write_feed(
        feeds,
        "medical_claim",
        [
            line("c1", "A", "2026-01-05"),
            line("c2", "B", "2026-01-05"),
            line("c3", "Z", "2026-01-05"),
            line("c4", "C", "2026-01-05"),
        ],
    )
    write_feed(feeds, "homelessness", [{"member_id": "B", "entry_date": "2025-01-01"}])
    ingest(con, feeds, rules, tmp_path / "work")
    q = quarantine(con).filter(pl.col("feed") != "eligibility")
    assert q.select("feed", "line", "rule").rows() == [
        ("homelessness", 2, "member_eligibility_quarantined"),
        ("medical_claim", 3, "member_eligibility_quarantined"),
        ("medical_claim", 4, "unknown_member"),
    ]
    detail = q["detail"][0]
    assert "eligibility" in detail and "B" not in detail.replace("(see", "")


def test_warn_checks_keep_the_row_and_are_counted_without_values(tmp_path, con, rules):
    feeds = tmp_path / "feeds"
    write_feed(
        feeds,
        "eligibility",
        [member("A", race="martian"), member("B", race="White"), member("C", race="martian")],
    )
    write_feed(
        feeds,
        "medical_claim",
        [line("c1", "A", "2026-01-05", rendering_npi="12345"), line("c2", "B", "2026-01-05")],
    )
    result = ingest(con, feeds, rules, tmp_path / "work")
    assert result.feeds["eligibility"].quarantined == 0
    assert result.feeds["medical_claim"].quarantined == 0
    assert result.warnings == [
        {
            "feed": "eligibility",
            "rule": "unknown_value",
            "rows": 2,
            "detail": "race is not one of: white, black or african american, american indian "
            "or alaska native, asian, native hawaiian or other pacific islander, other race, "
            "unknown",
        },
        {
            "feed": "medical_claim",
            "rule": "malformed_code",
            "rows": 1,
            "detail": "rendering_npi is not an NPI (10 digits)",
        },
    ]
    assert "martian" not in str(result.warnings) and "12345" not in str(result.warnings)


def test_partner_feed_checks_come_from_their_contracts(tmp_path, con, rules):
    feeds = tmp_path / "feeds"
    write_feed(feeds, "eligibility", [member("A")])
    write_feed(feeds, "medical_claim", [line("c1", "A", "2026-01-05", diagnosis_code_25="XX")])
    write_feed(
        feeds,
        "incarceration",
        [
            {"member_id": "A", "facility_type": "county_jail", "booking_date": "2025-01-01"},
            {"member_id": "A", "facility_type": "county_jail"},
            {"member_id": "A", "facility_type": "spaceship", "booking_date": "2025-01-01"},
        ],
    )
    write_feed(
        feeds,
        "ccs_enrollment",
        [
            {"member_id": "A", "program": "ccs_wcm", "start_date": "2025-01-01"},
            {"member_id": "A", "program": "XYZ", "start_date": "2025-01-01"},
        ],
    )
    write_feed(
        feeds,
        "nursing_facility_assessment",
        [{"member_id": "A", "assessment_date": "2025-01-01", "meets_snf_level_of_care": "maybe"}],
    )
    write_feed(
        feeds,
        "pharmacy_claim",
        [
            {
                "claim_id": "p1",
                "member_id": "A",
                "dispensing_date": "2025-01-01",
                "ndc_code": "0002-7510-01",
                "days_supply": "thirty",
            },
        ],
    )
    result = ingest(con, feeds, rules, tmp_path / "work")
    q = {(r["feed"], r["line"]): (r["rule"], r["detail"]) for r in quarantine(con).to_dicts()}
    assert q == {
        ("ccs_enrollment", 3): ("unknown_value", "program 'XYZ' is not one of: CCS, CCS_WCM"),
        ("incarceration", 3): ("missing_value", "booking_date and release_date are both empty"),
        ("incarceration", 4): (
            "unknown_value",
            "facility_type 'spaceship' is not one of: state_prison, county_jail, "
            "youth_correctional, other",
        ),
        ("medical_claim", 2): (
            "malformed_code",
            "diagnosis_code_25 'XX' is not an ICD-10-CM (or ICD-9-CM) code",
        ),
        ("nursing_facility_assessment", 2): (
            "unknown_value",
            "meets_snf_level_of_care 'maybe' is not Y or N",
        ),
    }
    assert staged(con, "ccs_enrollment")["program"].to_list() == ["CCS_WCM"]
    assert staged(con, "pharmacy_claim")["ndc_code"].to_list() == ["0002751001"]
    assert {
        "feed": "pharmacy_claim",
        "rule": "malformed_value",
        "rows": 1,
        "detail": "days_supply is not a whole number",
    } in result.warnings


def test_a_death_date_that_cannot_be_one_is_empty_and_a_warning(tmp_path, con, rules):
    """feeds.md, eligibility: a death date before the birth date, or before 1901 (a
    sentinel such as 1900-01-01), is treated as empty and counted, never a silent drop."""
    from tests.conftest import ELIGIBILITY_COLUMNS
    from transforms.members import enrolled_members

    feeds = tmp_path / "feeds"
    write_feed(
        feeds,
        "eligibility",
        [
            member("SENTINEL", death_date="1900-01-01"),
            member("BEFORE_BIRTH", birth_date="1980-01-02", death_date="1980-01-01"),
            member("OLD_SENTINEL", birth_date="1890-05-01", death_date="1900-12-31"),
            member("DIED_1901", birth_date="1890-05-01", death_date="1901-01-01"),
            member("DIED_AT_BIRTH", birth_date="1980-01-02", death_date="1980-01-02"),
            member("DIED_AS_OF", death_date="2026-10-31"),
            member("DIES_LATER", death_date="2026-11-01"),
        ],
    )
    write_feed(feeds, "medical_claim", [line("c1", "SENTINEL", "2026-01-05")])
    result = ingest(con, feeds, rules, tmp_path / "work")
    assert result.feeds["eligibility"].quarantined == 0
    deaths = dict(staged(con, "eligibility").select("member_id", "death_date").rows())
    assert deaths == {
        "SENTINEL": None,
        "BEFORE_BIRTH": None,
        "OLD_SENTINEL": None,
        "DIED_1901": D(1901, 1, 1),
        "DIED_AT_BIRTH": D(1980, 1, 2),
        "DIED_AS_OF": D(2026, 10, 31),
        "DIES_LATER": D(2026, 11, 1),
    }
    assert [w for w in result.warnings if w["feed"] == "eligibility"] == [
        {
            "feed": "eligibility",
            "rule": "implausible_date",
            "rows": 2,
            "detail": "death_date is before 1901-01-01 (a placeholder, not a date): "
            "treated as empty",
        },
        {
            "feed": "eligibility",
            "rule": "implausible_date",
            "rows": 1,  # SENTINEL is before both: counted once, under 1901 (a user's trial)
            "detail": "death_date is before birth_date: treated as empty",
        },
    ]
    eligibility = con.sql(f"select {', '.join(ELIGIBILITY_COLUMNS)} from stg__eligibility").pl()
    enrolled = enrolled_members(eligibility.lazy(), D(2026, 10, 31), 21).collect()
    assert sorted(enrolled["member_id"]) == [
        "BEFORE_BIRTH",
        "DIES_LATER",
        "OLD_SENTINEL",
        "SENTINEL",
    ]
