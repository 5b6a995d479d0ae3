"""Typed inputs read by meaning (feeds.md, first section): Parquet dates and timestamps
(with or without a time zone), floats holding whole numbers (how pandas writes nullable
integers), booleans, every text date form the contract lists (and the near misses it
does not), and `.xlsx` workbooks."""

from __future__ import annotations

import datetime as dt
import math

import duckdb
import pandas as pd
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import xlsxwriter

from data_contracts import load_contract
from data_contracts.sql import DATE_FORMATS
from ecm.errors import InputError
from ecm.ingest import ingest
from ecm.warehouse.sql import install_macros
from tests.feeds import line, member, write_feed

D = dt.date
UTC = dt.UTC


@pytest.fixture
def con():
    with duckdb.connect() as connection:
        yield connection


def run_ingest(con, folder, rules, tmp_path):
    return ingest(con, folder, rules, tmp_path / "work")


def table(con, name, order="_line"):
    return con.sql(f"select * from {name} order by {order}").pl()


def quarantine(con):
    return con.sql("select * from quarantine order by feed, source_file, line").pl()


# --- Parquet: dates and timestamps --------------------------------------------------------


def _instant(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text).replace(tzinfo=UTC)


# Each value is an instant or a date whose calendar date, read as the type says, is
# 2015-11-26; where the zone matters the instant's UTC date is another day.
TYPED_BIRTH_DATES = {
    "los_angeles_evening": (pa.timestamp("us", tz="America/Los_Angeles"), "2015-11-27T04:30"),
    "tokyo_small_hours": (pa.timestamp("ms", tz="Asia/Tokyo"), "2015-11-25T16:00"),
    "fixed_offset": (pa.timestamp("us", tz="+05:30"), "2015-11-25T20:00"),
    "fixed_negative_offset": (pa.timestamp("s", tz="-08:00"), "2015-11-27T07:59:59"),
    "utc": (pa.timestamp("s", tz="UTC"), "2015-11-26T23:00"),
    "zone_less_nanoseconds": (pa.timestamp("ns"), "2015-11-26T23:59:59.5"),
    "zone_less_milliseconds": (pa.timestamp("ms"), "2015-11-26T00:00"),
    "date32": (pa.date32(), D(2015, 11, 26)),
    "date64": (pa.date64(), D(2015, 11, 26)),
}


def _eligibility_parquet(path, birth_type, birth_value):
    if isinstance(birth_value, str):
        birth_value = _instant(birth_value)
    start = dt.datetime(2020, 1, 1, 21, tzinfo=UTC)
    pq.write_table(
        pa.table(
            {
                "member_id": ["A", "B"],
                "birth_date": pa.array([birth_value, None], birth_type),
                "enrollment_start_date": pa.array(
                    [start, start], pa.timestamp("us", tz="America/Los_Angeles")
                ),
                "enrollment_end_date": pa.array([None, None], pa.timestamp("us")),
            }
        ),
        path,
    )


@pytest.mark.parametrize("case", TYPED_BIRTH_DATES)
def test_parquet_dates_and_timestamps_are_their_calendar_date(tmp_path, con, rules, case):
    feeds = tmp_path / "feeds"
    feeds.mkdir()
    _eligibility_parquet(feeds / "eligibility.parquet", *TYPED_BIRTH_DATES[case])
    write_feed(feeds, "medical_claim", [line("c1", "A", "2026-01-05")])
    result = run_ingest(con, feeds, rules, tmp_path)
    staged = table(con, "stg__eligibility", "member_id")
    assert staged["birth_date"].to_list() == [D(2015, 11, 26)]
    # 2020-01-01 21:00 UTC is 13:00 on the first in Los Angeles
    assert staged["enrollment_start_date"].to_list() == [D(2020, 1, 1)]
    # B's empty birth date is its only fault: the timestamps themselves are values
    assert quarantine(con)["rule"].to_list() == ["missing_value"]
    assert result.feeds["eligibility"].staged == 1


def test_pandas_zoned_datetimes_are_their_date_in_that_zone(tmp_path, con, rules):
    """What the user saw: every eligibility row quarantined, blamed on member ids."""
    feeds = tmp_path / "feeds"
    feeds.mkdir()
    local = pd.to_datetime(["1980-03-04 18:30", "2010-12-31 23:00"]).tz_localize(
        "America/Los_Angeles"
    )
    pd.DataFrame(
        {
            "member_id": ["A", "B"],
            "birth_date": local,
            "enrollment_start_date": local,
            "enrollment_end_date": pd.Series([pd.NaT, pd.NaT]).dt.tz_localize("UTC"),
        }
    ).to_parquet(feeds / "eligibility.parquet")
    write_feed(feeds, "medical_claim", [line("c1", "A", "2026-01-05")])
    result = run_ingest(con, feeds, rules, tmp_path)
    assert result.feeds["eligibility"].quarantined == 0
    assert result.feeds["medical_claim"].quarantined == 0
    staged = table(con, "stg__eligibility", "member_id")
    assert staged["birth_date"].to_list() == [D(1980, 3, 4), D(2010, 12, 31)]


def test_a_time_zone_duckdb_does_not_know_names_file_column_and_zone(tmp_path, con, rules):
    feeds = tmp_path / "feeds"
    feeds.mkdir()
    _eligibility_parquet(
        feeds / "eligibility.parquet",
        pa.timestamp("us", tz="Mars/Olympus_Mons"),
        "2015-11-26T12:00",
    )
    write_feed(feeds, "medical_claim", [line("c1", "A", "2026-01-05")])
    with pytest.raises(
        InputError, match=r"eligibility\.parquet: column birth_date .*'Mars/Olympus_Mons'"
    ):
        run_ingest(con, feeds, rules, tmp_path)


def test_a_timestamp_in_a_column_that_is_no_date_keeps_its_time(tmp_path, con, rules):
    feeds = tmp_path / "feeds"
    feeds.mkdir()
    stamp = dt.datetime(2026, 7, 2, 4, 30, tzinfo=UTC)
    pq.write_table(
        pa.table(
            {
                "member_id": ["A"],
                "birth_date": pa.array([D(1980, 1, 2)]),
                "enrollment_start_date": pa.array([D(2020, 1, 1)]),
                "enrollment_end_date": pa.array([None], pa.date32()),
                "loaded_at": pa.array([stamp], pa.timestamp("us", tz="America/Los_Angeles")),
                "loaded_utc": pa.array([stamp.replace(tzinfo=None)], pa.timestamp("us")),
            }
        ),
        feeds / "eligibility.parquet",
    )
    write_feed(feeds, "medical_claim", [line("c1", "A", "2026-01-05")])
    run_ingest(con, feeds, rules, tmp_path)
    staged = table(con, "stg__eligibility")
    assert staged["loaded_at"].to_list() == ["2026-07-01 21:30:00"]
    assert staged["loaded_utc"].to_list() == ["2026-07-02 04:30:00"]


# --- Parquet: numbers and booleans --------------------------------------------------------


def full_line(*args, **values) -> dict:
    """A claim line with every required column (those not given empty)."""
    return dict.fromkeys(load_contract("medical_claim").required_columns) | line(*args, **values)


def test_pandas_nullable_integers_written_as_floats_are_values(tmp_path, con, rules):
    """What the user saw: claim lines quarantined because `22.0` is not `22`."""
    feeds = tmp_path / "feeds"
    write_feed(feeds, "eligibility", [member("A")])
    nan = float("nan")
    rows = [
        full_line("c1", "A", "2026-01-05", claim_type="institutional"),
        full_line("c2", "A", "2026-01-06"),
        full_line("c3", "A", "2026-01-07", claim_type="institutional"),
        full_line("c4", "A", "2026-01-08", claim_type="institutional"),
    ]
    frame = pd.DataFrame(rows)
    frame["claim_line_number"] = [1.0, 2.0, nan, 1.0]
    frame["revenue_center_code"] = [450.0, nan, 22.0, 22.5]
    frame["place_of_service_code"] = [nan, 23.0, nan, nan]
    frame["rendering_npi"] = [nan, 1234567893.0, nan, nan]
    frame["bill_type_code"] = [131.0, nan, 131.0, 131.0]
    assert str(frame["claim_line_number"].dtype) == "float64"
    frame.to_parquet(feeds / "medical_claim.parquet")
    result = run_ingest(con, feeds, rules, tmp_path)
    staged = table(con, "stg__medical_claim")
    assert staged["claim_id"].to_list() == ["c1", "c2", "c3"]
    assert staged["claim_line_number"].to_list() == [1, 2, None]
    assert staged["revenue_center_code"].to_list() == ["0450", None, "0022"]
    assert staged["place_of_service_code"].to_list() == [None, "23", None]
    assert staged["rendering_npi"].to_list() == [None, "1234567893", None]
    assert staged["bill_type_code"].to_list() == ["131", None, "131"]
    # a float with a fraction is not a whole number: it keeps its text, and is quarantined
    q = quarantine(con)
    assert q.select("line", "rule").rows() == [(4, "malformed_code")]
    assert "'22.5'" in q["detail"][0]
    assert result.feeds["medical_claim"].read == 4


def test_nan_is_empty_and_infinity_is_not_a_number(tmp_path, con, rules):
    feeds = tmp_path / "feeds"
    write_feed(feeds, "eligibility", [member("A")])
    frame = pl.DataFrame([full_line("c1", "A", "2026-01-05"), full_line("c2", "A", "2026-01-06")])
    frame.with_columns(
        claim_line_number=pl.Series([math.nan, math.inf], dtype=pl.Float32),
    ).write_parquet(feeds / "medical_claim.parquet")
    run_ingest(con, feeds, rules, tmp_path)
    assert table(con, "stg__medical_claim")["claim_line_number"].to_list() == [None]
    assert quarantine(con).select("line", "rule").rows() == [(2, "malformed_value")]


def test_a_decimal_holding_a_whole_number_is_that_number(tmp_path, con, rules):
    feeds = tmp_path / "feeds"
    write_feed(feeds, "eligibility", [member("A")])
    frame = pl.DataFrame([full_line("c1", "A", "2026-01-05"), full_line("c2", "A", "2026-01-06")])
    frame.with_columns(
        claim_line_number=pl.Series(["3.00", "4.50"]).cast(pl.Decimal(10, 2)),
    ).write_parquet(feeds / "medical_claim.parquet")
    run_ingest(con, feeds, rules, tmp_path)
    assert table(con, "stg__medical_claim")["claim_line_number"].to_list() == [3]
    assert quarantine(con).select("line", "rule").rows() == [(2, "malformed_value")]


@pytest.mark.parametrize(
    ("text", "expected"),
    [("7", 7), (" 7 ", 7), ("+3", 3), ("22.0", 22), ("22.", 22), ("-4", -4)]
    + [(t, None) for t in ("4.5", "4.4", "-2.5", "1e3", "0x10", "1_000", "22.01", "", "x")],
)
def test_a_whole_number_is_never_rounded_into_one(macros, text, expected):
    """DuckDB's cast rounds 4.5 to 5: a claim line number with a fraction must be
    malformed, not another line's number."""
    assert macros.execute("select ecm_integer(?)", [text]).fetchall() == [(expected,)]


def test_booleans_answer_yes_no_questions(tmp_path, con, rules):
    feeds = tmp_path / "feeds"
    write_feed(feeds, "eligibility", [member("A")])
    write_feed(feeds, "medical_claim", [line("c1", "A", "2026-01-05")])
    pl.DataFrame(
        {
            "member_id": ["A"],
            "assessment_date": [D(2026, 8, 20)],
            "residence_setting": ["nursing_facility"],
            "meets_snf_level_of_care": [True],
            "needs_lower_acuity_skilled_nursing": [False],
            "interested_in_community_transition": [True],
            "able_to_reside_in_community": pl.Series([None], dtype=pl.Boolean),
        }
    ).write_parquet(feeds / "nursing_facility_assessment.parquet")
    result = run_ingest(con, feeds, rules, tmp_path)
    assert result.feeds["nursing_facility_assessment"].quarantined == 0
    staged = table(con, "stg__nursing_facility_assessment")
    assert staged.select(
        "meets_snf_level_of_care",
        "needs_lower_acuity_skilled_nursing",
        "interested_in_community_transition",
        "able_to_reside_in_community",
    ).rows() == [("Y", "N", "Y", None)]


# --- text dates ---------------------------------------------------------------------------

ACCEPTED_DATES = {
    "2015-11-26": D(2015, 11, 26),
    " 2015-11-26 ": D(2015, 11, 26),
    "2015-1-5": D(2015, 1, 5),
    "20151126": D(2015, 11, 26),
    "11/26/2015": D(2015, 11, 26),
    "01/05/2016": D(2016, 1, 5),
    "1/5/2016": D(2016, 1, 5),
    "26-Nov-2015": D(2015, 11, 26),
    "26-nov-2015": D(2015, 11, 26),
    "26-NOV-2015": D(2015, 11, 26),
    "5-Jan-2016": D(2016, 1, 5),
    "26NOV2015": D(2015, 11, 26),
    "26nov2015": D(2015, 11, 26),
    "05JAN2016": D(2016, 1, 5),
    "29-Feb-2016": D(2016, 2, 29),
    "2015-11-26T10:30": D(2015, 11, 26),
    "2015-11-26T10:30:00": D(2015, 11, 26),
    "2015-11-26 10:30:00": D(2015, 11, 26),
    "2015-11-26 00:00": D(2015, 11, 26),
    "2015-11-26T10:30:00.123456": D(2015, 11, 26),
    # a date-time's date is the date as written, whatever its offset
    "2015-11-26T23:30:00Z": D(2015, 11, 26),
    "2015-11-26T23:30:00-08:00": D(2015, 11, 26),
    "2015-11-26T01:30:00+0530": D(2015, 11, 26),
    "2015-11-26 23:30:00+00": D(2015, 11, 26),
}
REFUSED_DATES = [
    "31-Feb-2020",  # no such day
    "29-Feb-2015",
    "2020-13-01",
    "2020-02-30",
    "13/01/2020",  # MM/DD: there is no month 13
    "26-Nov-15",  # a two-digit year is ambiguous: refused
    "26NOV15",
    "01/05/20",
    "1/5/16",
    "15-11-26",
    "151126",
    "2015112",  # seven digits
    "201511260",
    "26-November-2015",  # the month's name in full
    "Nov 26, 2015",
    "2015/11/26",
    "-015-11-26",
    "2015-11-26x",
    "2015-11-26T25:00",
    "2015-11-26T10:60",
    "2015-11-26T",
    "2015-11-26 10:30 PM",
    "2015-02-30T10:30:00",
    "26-Nov-2O15",
    "",
    "   ",
    None,
]


@pytest.fixture(scope="module")
def macros():
    with duckdb.connect() as connection:
        install_macros(connection)
        yield connection


@pytest.mark.parametrize("text", ACCEPTED_DATES)
def test_every_date_form_of_the_contract_is_read(macros, text):
    assert macros.execute("select ecm_date(?)", [text]).fetchall() == [(ACCEPTED_DATES[text],)]


@pytest.mark.parametrize("text", REFUSED_DATES)
def test_near_misses_are_not_dates(macros, text):
    assert macros.execute("select ecm_date(?)", [text]).fetchall() == [(None,)]


def test_the_quarantine_detail_lists_every_accepted_form(tmp_path, con, rules):
    for form in ("YYYY-MM-DD", "YYYYMMDD", "MM/DD/YYYY", "DD-Mon-YYYY", "DDMONYYYY", "date-time"):
        assert form in DATE_FORMATS
    feeds = tmp_path / "feeds"
    write_feed(feeds, "eligibility", [member("A"), member("B", birth_date="26-Nov-80")])
    write_feed(feeds, "medical_claim", [line("c1", "A", "2026-01-05")])
    run_ingest(con, feeds, rules, tmp_path)
    q = quarantine(con)
    assert q.select("line", "rule").rows() == [(3, "unparseable_date")]
    assert q["detail"][0] == f"birth_date '26-Nov-80' is not a date (expected {DATE_FORMATS})"


def test_cms_and_sas_dates_read_end_to_end(tmp_path, con, rules):
    """What the user saw: a CMS extract with every row quarantined."""
    feeds = tmp_path / "feeds"
    write_feed(
        feeds,
        "eligibility",
        [
            member("A", birth_date="26-Nov-2015", enrollment_start_date="01-Dec-2015"),
            member("B", birth_date="02JAN1980", enrollment_start_date="01jan2020"),
        ],
    )
    write_feed(feeds, "medical_claim", [line("c1", "A", "05-JAN-2026", file_date="01FEB2026")])
    result = run_ingest(con, feeds, rules, tmp_path)
    assert {c.quarantined for c in result.feeds.values()} == {0}
    staged = table(con, "stg__eligibility", "member_id")
    assert staged["birth_date"].to_list() == [D(2015, 11, 26), D(1980, 1, 2)]
    assert staged["enrollment_start_date"].to_list() == [D(2015, 12, 1), D(2020, 1, 1)]
    claims = table(con, "stg__medical_claim")
    assert claims["claim_start_date"].to_list() == [D(2026, 1, 5)]
    assert claims["file_date"].to_list() == [D(2026, 2, 1)]


# --- .xlsx workbooks -------------------------------------------------------------------------


def write_workbook(path, sheets: dict[str, list[list]], *, errors=()):
    """A workbook of `sheets` (name -> rows of cells, None = empty): dates and date-times
    as Excel dates, numbers as numbers, text as text. `errors`: (sheet, row, col) cells
    holding a formula whose value is #N/A (rows and columns from 0)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    book = xlsxwriter.Workbook(path)
    day = book.add_format({"num_format": "yyyy-mm-dd"})
    stamp = book.add_format({"num_format": "yyyy-mm-dd hh:mm"})
    for name, rows in sheets.items():
        sheet = book.add_worksheet(name)
        for r, row in enumerate(rows):
            for c, value in enumerate(row):
                if value is None:
                    continue
                if isinstance(value, dt.datetime):
                    sheet.write_datetime(r, c, value, stamp)
                elif isinstance(value, dt.date):
                    sheet.write_datetime(r, c, dt.datetime.combine(value, dt.time()), day)
                elif isinstance(value, bool):
                    sheet.write_boolean(r, c, value)
                elif isinstance(value, int | float):
                    sheet.write_number(r, c, value)
                else:
                    sheet.write_string(r, c, value)
        for s, r, c in errors:
            if s == name:
                sheet.write_formula(r, c, "=NA()", None, "#N/A")
    book.close()
    return path


INCARCERATION_HEADER = ["Member_ID", "facility_type", "booking_date", "release_date", "source"]


def _members_and_claims(feeds, *members):
    write_feed(feeds, "eligibility", [member(m) for m in members])
    write_feed(feeds, "medical_claim", [line("c1", members[0], "2026-01-05")])


def test_an_xlsx_feed_is_read_by_meaning(tmp_path, con, rules):
    feeds = tmp_path / "feeds"
    _members_and_claims(feeds, "A", "B", "C", "1234")
    write_workbook(
        feeds / "incarceration.xlsx",
        {
            "Read me": [["This workbook holds the county's custody episodes."]],
            " INCARCERATION ": [
                [*INCARCERATION_HEADER, "beds"],
                ["A", "county_jail", D(2026, 3, 1), dt.datetime(2026, 3, 20, 13, 30), "CDCR", 22],
                [],
                ["B", "state_prison", "2026-02-01", "05MAR2026", None, 22.5],
                ["C", "county_jail", "not a date", None, "sheriff", None],
                [1234, "other", None, D(2026, 4, 1), None, None],
            ],
        },
    )
    result = run_ingest(con, feeds, rules, tmp_path)
    counts = result.feeds["incarceration"]
    assert (counts.read, counts.staged, counts.quarantined) == (4, 3, 1)
    staged = table(con, "stg__incarceration")
    assert staged["_source_file"].unique().to_list() == ["incarceration.xlsx"]
    assert staged["_line"].to_list() == [2, 4, 6]  # the sheet's row numbers (header: row 1)
    assert staged["member_id"].to_list() == ["A", "B", "1234"]  # a whole number: its digits
    assert staged["booking_date"].to_list() == [D(2026, 3, 1), D(2026, 2, 1), None]
    assert staged["release_date"].to_list() == [D(2026, 3, 20), D(2026, 3, 5), D(2026, 4, 1)]
    assert staged["source"].to_list() == ["CDCR", None, None]
    assert staged["beds"].to_list() == ["22", "22.5", None]
    assert result.unknown_columns["incarceration"] == ["beds"]
    q = quarantine(con).filter(pl.col("feed") == "incarceration")
    assert q.select("source_file", "line", "rule").rows() == [
        ("incarceration.xlsx", 5, "unparseable_date")
    ]


def test_an_xlsx_number_where_a_date_is_expected_is_no_date(tmp_path, con, rules):
    """A number in a cell not formatted as a date (46000, Excel's serial of 2025-12-09)
    is a number: quarantined, never guessed to be a date."""
    feeds = tmp_path / "feeds"
    _members_and_claims(feeds, "A")
    write_workbook(
        feeds / "incarceration.xlsx",
        {"incarceration": [INCARCERATION_HEADER, ["A", "other", 46000, None]]},
    )
    run_ingest(con, feeds, rules, tmp_path)
    q = quarantine(con)
    assert q.select("line", "rule").rows() == [(2, "unparseable_date")]
    assert "'46000'" in q["detail"][0]


def test_xlsx_drops_the_first_sheet_and_rows_below_blank_ones(tmp_path, con, rules):
    feeds = tmp_path / "feeds"
    _members_and_claims(feeds, "A", "B")
    # no sheet is named after the feed: the first is read; its header is on row 3
    write_workbook(
        feeds / "incarceration_2026-10.xlsx",
        {
            "Sheet1": [[], [], INCARCERATION_HEADER, ["A", "other", D(2026, 1, 1), None]],
            "homelessness": [["not", "this"]],
        },
    )
    write_workbook(
        feeds / "homelessness" / "2026-10.xlsx",
        {
            "homelessness": [
                ["member_id", "entry_date", "exit_date"],
                ["B", D(2026, 2, 1), None],
            ]
        },
    )
    # Excel's lock file beside a workbook open in Excel is no drop
    (feeds / "homelessness" / "~$2026-10.xlsx").write_bytes(b"\x05locked by someone")
    result = run_ingest(con, feeds, rules, tmp_path)
    assert result.feeds["incarceration"].staged == 1
    assert result.feeds["homelessness"].files == 1
    assert table(con, "stg__incarceration")["_line"].to_list() == [4]
    homeless = table(con, "stg__homelessness")
    assert homeless.select("_source_file", "_line", "entry_date").rows() == [
        ("homelessness/2026-10.xlsx", 2, D(2026, 2, 1))
    ]


@pytest.mark.parametrize(
    ("header", "message"),
    [
        (
            ["member_id", "facility_type", "booking_date"],
            r"incarceration\.xlsx, sheet 'incarceration': the incarceration feed needs the "
            r"column\(s\) release_date",
        ),
        (
            [*INCARCERATION_HEADER, "SOURCE"],
            r"incarceration\.xlsx, sheet 'incarceration': the header names column 'source' twice",
        ),
    ],
)
def test_an_xlsx_header_is_checked_like_a_text_header(tmp_path, con, rules, header, message):
    feeds = tmp_path / "feeds"
    _members_and_claims(feeds, "A")
    write_workbook(feeds / "incarceration.xlsx", {"incarceration": [header, ["A", "other"]]})
    with pytest.raises(InputError, match=message):
        run_ingest(con, feeds, rules, tmp_path)


@pytest.mark.parametrize("damage", ["not_a_zip", "truncated", "empty_sheet"])
def test_a_damaged_workbook_names_the_file(tmp_path, con, rules, damage):
    feeds = tmp_path / "feeds"
    _members_and_claims(feeds, "A")
    path = write_workbook(
        feeds / "incarceration.xlsx",
        {"incarceration": [INCARCERATION_HEADER] + [["A", "other", D(2026, 1, 1), None]] * 100}
        if damage != "empty_sheet"
        else {"incarceration": []},
    )
    data = path.read_bytes()
    if damage == "not_a_zip":
        path.write_bytes(b"member_id,facility_type\nA,other\n")
    elif damage == "truncated":
        path.write_bytes(data[: len(data) // 2])
    with pytest.raises(InputError, match=r"incarceration\.xlsx.*(Excel workbook|empty)"):
        run_ingest(con, feeds, rules, tmp_path)


def test_an_excel_error_value_names_the_row_and_column(tmp_path, con, rules):
    feeds = tmp_path / "feeds"
    _members_and_claims(feeds, "A")
    write_workbook(
        feeds / "incarceration.xlsx",
        {"incarceration": [INCARCERATION_HEADER] + [["A", "other", None, D(2026, 1, 1)]] * 3},
        errors=[("incarceration", 3, 2)],
    )
    with pytest.raises(
        InputError, match=r"incarceration\.xlsx, sheet 'incarceration', row 4, column booking_date"
    ):
        run_ingest(con, feeds, rules, tmp_path)
