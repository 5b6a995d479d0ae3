"""The quarterly file of a quarter told by hand (tests/story_quarter.py): three monthly runs
through the real flow into one warehouse, then `ecm quarterly --quarter 2026Q3`; the CSV
equals the file derived below from the story, every column of every row, and the
workbook reads back the same."""

from __future__ import annotations

import json

import polars as pl
import pytest
from click.testing import CliRunner

from ecm.cli import main
from tests import story_quarter
from tests.story_quarter import MONTHS

pytestmark = pytest.mark.flow
STEM = "ECM_Quarterly_000_2026Q3"

# The header: the plan, the member, DHCS's 16 Population of Focus flags in the order of
# [quarterly.flags] (numbered below: 1-8 adults, 9-16 children and youth), the span.
HEADER = (
    "Plan Name,Plan Code,County,Reporting Period,Member CIN,Member Last Name,"
    "Member First Name,Member Date of Birth,"
    "Adults Experiencing Homelessness: Individuals,"  # 1 HOMELESS_ADULT
    "Adults Experiencing Homelessness: Families,"  # 2 HOMELESS_FAMILY, adult
    "Adults At Risk for Avoidable Hospital or ED Utilization,"  # 3 HIGH_UTIL_ADULT
    "Adults with Serious Mental Health and/or SUD Needs,"  # 4
    "Adults Transitioning from Incarceration,"  # 5
    "Adults Living in the Community and At Risk for LTC Institutionalization,"  # 6
    "Adult Nursing Facility Residents Transitioning to the Community,"  # 7
    "Adults Birth Equity,"  # 8
    "Children and Youth Experiencing Homelessness: Individuals,"  # 9 HOMELESS_FAMILY's index
    "Children and Youth Experiencing Homelessness: Families,"  # 10 HOMELESS_FAMILY, child
    "Children and Youth At Risk for Avoidable Hospital or ED Utilization,"  # 11
    "Children and Youth with Serious Mental Health and/or SUD Needs,"  # 12
    "Children and Youth Transitioning from a Youth Correctional Facility,"  # 13
    "Children and Youth Enrolled in CCS or CCS WCM with Additional Needs,"  # 14
    "Children and Youth Involved in Child Welfare,"  # 15
    "Children and Youth Birth Equity,"  # 16
    "ECM Benefit Start Date,ECM Benefit End Date,ECM Discontinuation Reason,"
    "Member's ECM Provider NPI,Number of In-Person ECM Encounters,"
    "Number of Telephonic/Telehealth ECM Encounters"
)
PLAN = "Example Medi-Cal Plan,000"  # [plan] mcp_name and plan_code of the packaged rules
# One row per member x merged ECM span touching 2026-07-01 .. 2026-09-30, by member, start.
# Neither ENDED (its only span ends 2026-06-30, the day before the quarter) nor NOSPAN
# (pending, never enrolled) has a row.
ROWS = (
    # CHAIN: P's 05-01 .. 07-10 and Q's 07-24 .. open chain (07-24 is 14 days after 07-10)
    # into one open span: no end, so no reason (P's CAP ended a span inside the chain).
    # Provider: Q's, the latest span's. Flags: HIGH_UTIL_ADULT in all three runs,
    # HOMELESS_ADULT in September's (homeless from 09-10, ED visits its complex need).
    # OTF rows in the quarter, so the RTF's 7/7 are not read. In person: 07-20 (in the
    # gap between the two spans, inside the chained span) and 08-05: 2; 06-15 is before
    # the quarter. Telephonic: 08-05's phone and video count once; 09-02 failed: 1.
    f"{PLAN},Alameda,2026 Q3,CHAIN,Chain,Carla,01/02/1980,"
    "1,0,1,0,0,0,0,0,0,0,0,0,0,0,0,0,"
    "05/01/2026,,,2222222222,2,1",
    # GAP15: 05-01 .. 07-10 (discontinued, DP = 3) and 07-25 .. open are 15 days apart:
    # two rows. No OTF row: the RTF counts of the quarter's periods, each period to the
    # span its row's enrollment start lies in: July's 1/2 to the first (June's 9/9 is
    # before the quarter), August's 3/4 and September's 1/1 to the second: 4/5.
    f"{PLAN},Alameda,2026 Q3,GAP15,Gap,Gil,03/04/1975,"
    "0,0,1,0,0,0,0,0,0,0,0,0,0,0,0,0,"
    "05/01/2026,07/10/2026,3,1111111111,1,2",
    f"{PLAN},Alameda,2026 Q3,GAP15,Gap,Gil,03/04/1975,"
    "0,0,1,0,0,0,0,0,0,0,0,0,0,0,0,0,"
    "07/25/2026,,,1111111111,4,5",
    # HKID: the household's index child (a homelessness row of their own): HOMELESS_FAMILY
    # as a child, so flags 9 and 10. 07-01 .. discontinued 09-30 (the quarter's last day:
    # shown) WM = 1. RTF telephonic 1 a month: 0/3.
    f"{PLAN},Fresno,2026 Q3,HKID,Home,Hal,04/04/2018,"
    "0,0,0,0,0,0,0,0,1,1,0,0,0,0,0,0,"
    "07/01/2026,09/30/2026,1,2222222222,0,3",
    # HMOM: an adult of the household (flag 2), not homeless herself (no flag 1).
    # 07-01, open; RTF in person 1 a month: 3/0.
    f"{PLAN},Fresno,2026 Q3,HMOM,Home,Hana,06/06/1990,"
    "0,1,0,0,0,0,0,0,0,0,0,0,0,0,0,0,"
    "07/01/2026,,,2222222222,3,0",
    # HSIB: a child of the household with no evidence of their own: flag 10, not 9.
    # 08-15, open; RTF August 0/0, September 1/0.
    f"{PLAN},Fresno,2026 Q3,HSIB,Home,Hugo,02/02/2021,"
    "0,0,0,0,0,0,0,0,0,1,0,0,0,0,0,0,"
    "08/15/2026,,,2222222222,1,0",
    # KID: HIGH_UTIL_CHILD (flag 11). 07-15, open. OTF: 07-10's in-person visit is before
    # the span; video 07-20, phone and video 07-21: 0/2 (the RTF's 5/5 not read).
    f"{PLAN},Alameda,2026 Q3,KID,Kid,Kim,05/05/2014,"
    "0,0,0,0,0,0,0,0,0,0,1,0,0,0,0,0,"
    "07/15/2026,,,1111111111,0,2",
    # LATE: 08-03 .. 11-30 ends after the quarter: no end, no reason. County on 09-30:
    # Kern (the span from 09-01). RTF August 2/0 + September 1/3: 3/3.
    f"{PLAN},Kern,2026 Q3,LATE,Late,Lena,12/31/1969,"
    "0,0,1,0,0,0,0,0,0,0,0,0,0,0,0,0,"
    "08/03/2026,,,1111111111,3,3",
    # LEAVER: left the plan 08-15, so September's run did not assign them; July's and
    # August's did (flag 3). County: Fresno, the span covering 08-15, the last day
    # enrolled. 06-01 .. discontinued 08-15 NE = 7. RTF July 1/1 + August 0/1: 1/2.
    f"{PLAN},Fresno,2026 Q3,LEAVER,Leaver,Lou,07/07/1970,"
    "0,0,1,0,0,0,0,0,0,0,0,0,0,0,0,0,"
    "06/01/2026,08/15/2026,7,1111111111,1,2",
    # OLDSIB: a child of the household whose own homelessness stay ended in 2024, before
    # every run's lookback: HOMELESS_FAMILY through the household (flag 10), not the index
    # (a homelessness row of their own is not evidence of their own). 09-01, open; 0/0.
    f"{PLAN},Fresno,2026 Q3,OLDSIB,Home,Olga,12/12/2012,"
    "0,0,0,0,0,0,0,0,0,1,0,0,0,0,0,0,"
    "09/01/2026,,,2222222222,0,0",
    # OPEN: since 03-01, open. An OTF row in the quarter (a failed phone call), so the
    # RTF's 2/2 a month are not read and nothing counts: 0/0.
    f"{PLAN},Napa,2026 Q3,OPEN,Open,Otto,08/08/1988,"
    "0,0,1,0,0,0,0,0,0,0,0,0,0,0,0,0,"
    "03/01/2026,,,2222222222,0,0",
    # ZKID: an index child on a Z59.01 diagnosis alone (no homelessness row): flags 9 and
    # 10. 08-01, open; RTF August 0/2 + September 1/0: 1/2.
    f"{PLAN},Kern,2026 Q3,ZKID,Zed,Zoe,03/03/2016,"
    "0,0,0,0,0,0,0,0,1,1,0,0,0,0,0,0,"
    "08/01/2026,,,2222222222,1,2",
)
EXPECTED_CSV = "\n".join((HEADER, *ROWS)) + "\n"
COUNTS = ("Number of In-Person ECM Encounters", "Number of Telephonic/Telehealth ECM Encounters")


@pytest.fixture(scope="module")
def quarter(harness, tmp_path_factory):
    """July, August and September run into one warehouse, each after the providers'
    drops of its month; then the quarterly file of 2026Q3."""
    from flows.monthly import monthly

    root = tmp_path_factory.mktemp("quarter")
    feeds = story_quarter.write_story(root / "feeds")
    out = root / "out"
    for as_of in MONTHS:
        story_quarter.deliver_provider_files(feeds, as_of)
        monthly(input_dir=feeds, as_of=as_of, out_dir=out / as_of.strftime("%Y-%m"))
    folder = root / "q"
    result = CliRunner().invoke(
        main,
        ["quarterly", "--quarter", "2026Q3", "--out", str(folder),
         "--warehouse", str(out / "warehouse.duckdb")],
        catch_exceptions=False,
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    return folder


def test_the_quarterly_csv_is_the_file_derived_from_the_story(quarter):
    written = (quarter / f"{STEM}.csv").read_text(encoding="utf-8")
    assert written.splitlines()[0] == HEADER
    assert written.splitlines()[1:] == list(ROWS)
    assert written == EXPECTED_CSV


def test_the_workbook_reads_back_as_the_csv(quarter):
    expected = pl.read_csv(EXPECTED_CSV.encode(), infer_schema=False).with_columns(
        pl.col(*COUNTS).cast(pl.Int64)
    )
    book = pl.read_excel(quarter / f"{STEM}.xlsx", sheet_name="Member Level")
    assert book.columns == expected.columns
    assert book.schema == expected.schema  # text as text, the counts as numbers
    assert book.rows() == expected.rows()


def test_the_manifest_names_the_three_runs_and_warns_of_nothing(quarter):
    manifest = json.loads((quarter / "manifest.json").read_text())
    assert [r["as_of_date"] for r in manifest["runs"]] == [str(m) for m in MONTHS]
    assert manifest["rows"] == len(ROWS) and manifest["warnings"] == []
