import datetime as dt
import shutil
from pathlib import Path

import duckdb
import polars as pl
import pytest

from ecm.errors import InputError
from ecm.ingest import ingest
from tests.conftest import CONFORMANCE
from tests.feeds import line, member, write_feed

D = dt.date


@pytest.fixture
def con():
    with duckdb.connect() as connection:
        yield connection


def run_ingest(con, folder, rules, tmp_path):
    return ingest(con, folder, rules, tmp_path / "work")


def table(con, name):
    return con.sql(f"select * from {name}").pl()


@pytest.mark.parametrize("suffix", [".csv", ".csv.gz", ".txt", ".psv", ".psv.gz"])
def test_every_text_format_reads(tmp_path, con, rules, suffix):
    feeds = tmp_path / "feeds"
    write_feed(feeds, "eligibility", [member("A"), member("B")], suffix=suffix)
    write_feed(feeds, "medical_claim", [line("c1", "A", "2026-01-05")], suffix=suffix)
    result = run_ingest(con, feeds, rules, tmp_path)
    assert result.feeds["eligibility"].staged == 2
    assert result.feeds["medical_claim"].staged == 1


def test_parquet_and_monthly_folder_drops(tmp_path, con, rules):
    feeds = tmp_path / "feeds"
    write_feed(feeds, "eligibility", [member("A")])
    pl.read_csv(feeds / "eligibility.csv", infer_schema=False).write_parquet(
        feeds / "eligibility.parquet"
    )
    (feeds / "eligibility.csv").unlink()
    write_feed(feeds / "medical_claim", "medical_claim", [line("c1", "A", "2026-01-05")])
    (feeds / "medical_claim" / "medical_claim.csv").rename(feeds / "medical_claim" / "2026-01.csv")
    write_feed(
        feeds / "medical_claim", "medical_claim", [line("c2", "A", "2026-02-05")], suffix=".csv.gz"
    )
    result = run_ingest(con, feeds, rules, tmp_path)
    assert result.feeds["medical_claim"].files == 2
    assert result.feeds["medical_claim"].staged == 2
    assert set(table(con, "stg__medical_claim")["_source_file"]) == {
        "medical_claim/2026-01.csv",
        "medical_claim/medical_claim.csv.gz",
    }


def test_bom_crlf_and_header_case_are_accepted(tmp_path, con, rules):
    feeds = tmp_path / "feeds"
    cols = [
        c.upper()
        for c in ("member_id", "birth_date", "enrollment_start_date", "enrollment_end_date")
    ]
    write_feed(
        feeds,
        "eligibility",
        [dict(zip(cols, ["A", "1980-01-01", "2020-01-01", ""], strict=True))],
        columns=cols,
        bom=True,
        crlf=True,
    )
    write_feed(feeds, "medical_claim", [line("c1", "A", "2026-01-05")], bom=True, crlf=True)
    result = run_ingest(con, feeds, rules, tmp_path)
    assert result.feeds["eligibility"].staged == 1
    assert table(con, "stg__eligibility")["member_id"].to_list() == ["A"]


def test_unknown_extra_columns_are_kept_through_staging(tmp_path, con, rules):
    feeds = tmp_path / "feeds"
    write_feed(feeds, "eligibility", [member("A", plan_region="north")])
    write_feed(feeds, "medical_claim", [line("c1", "A", "2026-01-05")])
    run_ingest(con, feeds, rules, tmp_path)
    assert table(con, "stg__eligibility")["plan_region"].to_list() == ["north"]


def test_dates_in_three_formats(tmp_path, con, rules):
    feeds = tmp_path / "feeds"
    write_feed(
        feeds,
        "eligibility",
        [member("A", birth_date="19800102"), member("B", birth_date="01/02/1980")],
    )
    write_feed(feeds, "medical_claim", [line("c1", "A", "2026-01-05")])
    run_ingest(con, feeds, rules, tmp_path)
    assert set(table(con, "stg__eligibility")["birth_date"]) == {D(1980, 1, 2)}


def test_codes_are_normalised(tmp_path, con, rules):
    feeds = tmp_path / "feeds"
    write_feed(feeds, "eligibility", [member("A")])
    write_feed(
        feeds,
        "medical_claim",
        [
            line(
                "c1",
                "A",
                "2026-01-05",
                claim_type="institutional",
                revenue_center_code="450",
                bill_type_code="0131",
                diagnosis_code_1="j06.9",
                diagnosis_code_2=" Z59.00 ",
                admit_type_code="01",
                place_of_service_code="",
                discharge_disposition_code="1",
                drg_code="71",
            ),
            line("c2", "A", "2026-01-05", place_of_service_code="2", hcpcs_code="g0380"),
        ],
    )
    run_ingest(con, feeds, rules, tmp_path)
    got = table(con, "stg__medical_claim").sort("claim_id").to_dicts()
    assert (
        got[0]["revenue_center_code"],
        got[0]["bill_type_code"],
        got[0]["diagnosis_code_1"],
        got[0]["diagnosis_code_2"],
        got[0]["admit_type_code"],
        got[0]["discharge_disposition_code"],
        got[0]["drg_code"],
    ) == ("0450", "131", "J069", "Z5900", "1", "01", "071")
    assert (got[1]["place_of_service_code"], got[1]["hcpcs_code"]) == ("02", "G0380")


# --- bad input: files that cannot be read ------------------------------------------------


def test_missing_required_feed_names_it(tmp_path, con, rules):
    feeds = tmp_path / "feeds"
    write_feed(feeds, "eligibility", [member("A")])
    with pytest.raises(InputError, match="no medical_claim feed"):
        run_ingest(con, feeds, rules, tmp_path)


def test_missing_required_column_names_file_and_column(tmp_path, con, rules):
    feeds = tmp_path / "feeds"
    write_feed(
        feeds,
        "eligibility",
        [{"member_id": "A", "enrollment_start_date": "2020-01-01"}],
        columns=["member_id", "enrollment_start_date", "enrollment_end_date"],
    )
    write_feed(feeds, "medical_claim", [line("c1", "A", "2026-01-05")])
    with pytest.raises(InputError, match=r"eligibility\.csv: .*birth_date"):
        run_ingest(con, feeds, rules, tmp_path)


def test_wrong_delimiter_gets_a_hint(tmp_path, con, rules):
    feeds = tmp_path / "feeds"
    write_feed(feeds, "eligibility", [member("A")], suffix=".psv")
    (feeds / "eligibility.psv").rename(feeds / "eligibility.csv")
    write_feed(feeds, "medical_claim", [line("c1", "A", "2026-01-05")])
    with pytest.raises(InputError, match=r"delimited by '\|'"):
        run_ingest(con, feeds, rules, tmp_path)


def test_empty_file_is_an_error(tmp_path, con, rules):
    feeds = tmp_path / "feeds"
    write_feed(feeds, "eligibility", [member("A")])
    (feeds / "medical_claim.csv").write_bytes(b"")
    with pytest.raises(InputError, match=r"medical_claim\.csv: the file is empty"):
        run_ingest(con, feeds, rules, tmp_path)


def test_undecodable_bytes_are_an_error_naming_the_file(tmp_path, con, rules):
    feeds = tmp_path / "feeds"
    write_feed(feeds, "eligibility", [member("A")])
    path = write_feed(feeds, "medical_claim", [line("c1", "A", "2026-01-05")])
    path.write_bytes(path.read_bytes().replace(b"J069", b"J0\xff\xfe"))
    with pytest.raises(InputError, match=r"medical_claim\.csv, line 2: holds bytes that are not"):
        run_ingest(con, feeds, rules, tmp_path)


def test_a_line_with_too_many_fields_is_an_error_naming_the_line(tmp_path, con, rules):
    feeds = tmp_path / "feeds"
    write_feed(feeds, "eligibility", [member("A")])
    path = write_feed(feeds, "medical_claim", [line("c1", "A", "2026-01-05")])
    path.write_text(path.read_text() + "x" + ",y" * 200 + "\n")
    with pytest.raises(
        InputError, match=r"medical_claim\.csv, line 3: has 201 fields where the header names 148"
    ):
        run_ingest(con, feeds, rules, tmp_path)


def test_a_short_line_is_quarantined_not_dropped(tmp_path, con, rules):
    feeds = tmp_path / "feeds"
    write_feed(feeds, "eligibility", [member("A")])
    path = write_feed(feeds, "medical_claim", [line("c1", "A", "2026-01-05")])
    path.write_text(path.read_text() + "c9,1,professional\n")
    result = run_ingest(con, feeds, rules, tmp_path)
    assert (result.feeds["medical_claim"].staged, result.feeds["medical_claim"].quarantined) == (
        1,
        1,
    )
    assert table(con, "quarantine")["rule"].to_list() == ["missing_value"]


# --- bad rows: quarantined with the rule, never dropped ----------------------------------


def test_bad_rows_are_quarantined_and_counted(tmp_path, con, rules):
    feeds = tmp_path / "feeds"
    write_feed(
        feeds,
        "eligibility",
        [
            member("A"),
            member("B", birth_date="1980-13-45"),
            member("C", enrollment_start_date="2021-01-01", enrollment_end_date="2020-01-01"),
        ],
    )
    write_feed(
        feeds,
        "medical_claim",
        [
            line("c1", "A", "2026-01-05"),
            line("c2", "A", "2026-01-05", diagnosis_code_3="NOT A CODE"),
            line("c3", "ZZZ", "2026-01-05"),
            line("c4", "A", "yesterday"),
            line("c5", "A", "2026-01-05", revenue_center_code="45A"),
            line("", "A", "2026-01-05"),
        ],
    )
    result = run_ingest(con, feeds, rules, tmp_path)
    for feed in ("eligibility", "medical_claim"):
        c = result.feeds[feed]
        assert c.read == c.staged + c.quarantined
    assert result.feeds["eligibility"].quarantined == 2
    assert result.feeds["medical_claim"].quarantined == 5
    q = table(con, "quarantine").sort("feed", "line")
    rules_by_line = {(r["feed"], r["line"]): r["rule"] for r in q.to_dicts()}
    assert rules_by_line == {
        ("eligibility", 3): "unparseable_date",
        ("eligibility", 4): "end_before_start",
        ("medical_claim", 3): "malformed_code",
        ("medical_claim", 4): "unknown_member",
        ("medical_claim", 5): "unparseable_date",
        ("medical_claim", 6): "malformed_code",
        ("medical_claim", 7): "missing_value",
    }
    detail = q.filter(pl.col("line") == 3, pl.col("feed") == "medical_claim")["detail"][0]
    assert "diagnosis_code_3" in detail
    assert '"claim_id":"c2"' in q.filter(pl.col("line") == 3, pl.col("feed") == "medical_claim")[
        "raw_row"
    ][0].replace(" ", "")


def test_retired_but_well_shaped_codes_are_accepted(tmp_path, con, rules):
    feeds = tmp_path / "feeds"
    write_feed(feeds, "eligibility", [member("A")])
    write_feed(
        feeds,
        "medical_claim",
        [
            line("c1", "A", "2026-01-05", diagnosis_code_1="4019", diagnosis_code_type="icd-9-cm"),
            line("c2", "A", "2026-01-05", diagnosis_code_1="Z5900"),
        ],
    )
    result = run_ingest(con, feeds, rules, tmp_path)
    assert result.feeds["medical_claim"].quarantined == 0


# --- claim versions ----------------------------------------------------------------------


def inst(claim_id, member_id, day, file_date, bill_type="131", line_number="1", **values):
    return line(
        claim_id,
        member_id,
        day,
        claim_type="institutional",
        bill_type_code=bill_type,
        file_date=file_date,
        claim_line_number=line_number,
        revenue_center_code="0450",
        **values,
    )


def test_latest_version_replaces_all_lines_and_voids_remove(tmp_path, con, rules):
    feeds = tmp_path / "feeds"
    write_feed(feeds, "eligibility", [member("A")])
    write_feed(
        feeds,
        "medical_claim",
        [
            # c1: two lines in January, re-delivered in March as one corrected line
            inst("c1", "A", "2026-01-05", "2026-02-01", line_number="1"),
            inst("c1", "A", "2026-01-05", "2026-02-01", line_number="2"),
            inst("c1", "A", "2026-01-05", "2026-03-01", line_number="1", diagnosis_code_1="R51"),
            # c2: voided by a later version with bill type xx8
            inst("c2", "A", "2026-01-06", "2026-02-01"),
            inst("c2", "A", "2026-01-06", "2026-04-01", bill_type="138"),
            # c3: a void and a replacement on the same file date: the void wins
            inst("c3", "A", "2026-01-07", "2026-02-01", bill_type="137"),
            inst("c3", "A", "2026-01-07", "2026-02-01", bill_type="0138"),
            # c4: a void followed by a later re-delivery stands
            inst("c4", "A", "2026-01-08", "2026-02-01", bill_type="138"),
            inst("c4", "A", "2026-01-08", "2026-03-01", bill_type="137"),
            # the same claim id from another data source is another claim
            inst("c2", "A", "2026-01-06", "2026-02-01", data_source="encounter"),
        ],
    )
    result = run_ingest(con, feeds, rules, tmp_path)
    current = table(con, "int__medical_claim_current").sort("data_source", "claim_id")
    assert current.select("data_source", "claim_id", "diagnosis_code_1").rows() == [
        ("encounter", "c2", "J069"),
        ("ffs", "c1", "R51"),
        ("ffs", "c4", "J069"),
    ]
    assert result.claim_versions["current_claims"] == 3


# --- the third-party sample ----------------------------------------------------------------


def test_tuva_conformance_sample_reads_as_it_is(tmp_path, con, rules):
    feeds = tmp_path / "feeds"
    feeds.mkdir()
    for f in CONFORMANCE.glob("*.csv"):
        shutil.copy(f, feeds / f.name)
    result = run_ingest(con, feeds, rules, tmp_path)
    assert result.feeds["eligibility"].read == 31
    assert result.feeds["medical_claim"].read == 2075
    assert result.feeds["medical_claim"].quarantined == 0
    assert result.feeds["eligibility"].quarantined == 0
    staged = table(con, "stg__medical_claim")
    # normalises codes; stores what a run reads, and keeps the input layer's other
    # columns with the file as delivered
    assert "paid_amount" not in staged.columns
    assert staged["bill_type_code"].drop_nulls().str.len_chars().max() == 3
    delivered = table(con, "delivered__medical_claim")
    assert delivered.height == 2075
    assert "paid_amount" in delivered.columns
    assert delivered["paid_amount"].drop_nulls().len() > 0


def test_conformance_sample_reads_in_place(con, rules, tmp_path):
    result = run_ingest(con, CONFORMANCE, rules, tmp_path)
    assert result.feeds["medical_claim"].staged == 2075
    assert Path(CONFORMANCE / "medical_claim_seed.csv").exists()


def test_parquet_is_read_in_place_with_typed_columns(tmp_path, con, rules):
    feeds = tmp_path / "feeds"
    feeds.mkdir()
    pl.DataFrame(
        {
            "MEMBER_ID": ["A", "B"],
            "birth_date": [D(1980, 1, 2), D(2010, 3, 4)],
            "enrollment_start_date": [D(2020, 1, 1)] * 2,
            "enrollment_end_date": [None, None],
            "plan_region": [1, 2],
        }
    ).write_parquet(feeds / "eligibility.parquet")
    write_feed(feeds, "medical_claim", [line("c1", "A", "2026-01-05")])
    result = run_ingest(con, feeds, rules, tmp_path)
    staged = table(con, "stg__eligibility").sort("member_id")
    assert result.feeds["eligibility"].staged == 2
    assert staged["birth_date"].to_list() == [D(1980, 1, 2), D(2010, 3, 4)]
    assert staged["_line"].to_list() == [1, 2]
    assert staged["plan_region"].to_list() == ["1", "2"]


def test_a_corrupt_parquet_file_names_the_file(tmp_path, con, rules):
    feeds = tmp_path / "feeds"
    feeds.mkdir()
    (feeds / "eligibility.parquet").write_bytes(b"PAR1 this is not parquet")
    write_feed(feeds, "medical_claim", [line("c1", "A", "2026-01-05")])
    with pytest.raises(InputError, match=r"eligibility\.parquet: cannot be read as a Parquet"):
        run_ingest(con, feeds, rules, tmp_path)


def test_ingest_twice_into_one_warehouse_and_over_an_older_layout(tmp_path, con, rules):
    feeds = tmp_path / "feeds"
    write_feed(feeds, "eligibility", [member("A")])
    write_feed(feeds, "medical_claim", [line("c1", "A", "2026-01-05")])
    run_ingest(con, feeds, rules, tmp_path / "one")
    # an older warehouse held these as tables where views now belong
    con.execute("drop view stg__medical_claim")
    con.execute("create table stg__medical_claim as select 1 as x")
    con.execute("drop view int__medical_claim_current")
    con.execute("create table int__medical_claim_current as select 1 as x")
    result = run_ingest(con, feeds, rules, tmp_path / "two")
    assert result.feeds["medical_claim"].staged == 1
    assert table(con, "int__medical_claim_current")["claim_id"].to_list() == ["c1"]
