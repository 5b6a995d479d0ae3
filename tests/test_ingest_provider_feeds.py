"""What providers send back (loop.md, section 2): the provider_return (RTF) and outreach
(OTF) feeds, read under DHCS's template headers (a contract column's `aliases`, matched
by `header_key` for any feed), their reporting period read as a month, their counts at
least 0, and their coded values mapped by the rules file's `[loop.aliases.<column>]`
when staged; `.xlsx` and a folder of one file per provider and month."""

from __future__ import annotations

import datetime as dt
from dataclasses import replace

import duckdb
import polars as pl
import pytest

from data_contracts import load_contract
from ecm.config.rules import load_rules
from ecm.errors import InputError
from ecm.ingest import ingest
from ecm.ingest.header import check_header
from ecm.ingest.incremental import staging_sha256
from ecm.warehouse.sql import load_sql
from tests.feeds import line, member, write_feed
from tests.rules_file import to_toml, with_setting
from tests.test_ingest_typed import write_workbook

D = dt.date
NPI = "1234567893"
# The DHCS template's headers of the RTF columns a test row fills, and two of the
# template's columns the contract does not name.
RTF_HEADER = [
    "Member Client Index Number (CIN)",
    "ECM Provider NPI",
    "Member Information File Reporting Period",
    "Member ECM Status",
    "ECM Enrollment Start Date",
    "In Person",
    "Telephonic/Video",
    "Acuity Level",
    "Lead Care Manager Name",
]


@pytest.fixture
def con():
    with duckdb.connect() as connection:
        yield connection


def _feeds(tmp_path, *members: str):
    feeds = tmp_path / "feeds"
    write_feed(feeds, "eligibility", [member(m) for m in members])
    write_feed(feeds, "medical_claim", [line("c1", members[0], "2026-01-05")])
    return feeds


def _csv(path, header: list[str], rows: list[list[str]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    frame = pl.DataFrame(
        [pl.Series(h, [r[i] for r in rows], pl.String) for i, h in enumerate(header)]
    )
    frame.write_csv(path)


def _staged(con, feed: str) -> pl.DataFrame:
    return con.sql(f"select * from stg__{feed} order by _source_file, _line").pl()


def _quarantine(con) -> list[tuple]:
    return con.sql("select feed, line, rule, detail from quarantine order by feed, line").fetchall()


# --- DHCS headers as aliases ---------------------------------------------------------------


def test_an_rtf_with_the_dhcs_headers_stages_under_the_contract_names(tmp_path, con, rules):
    feeds = _feeds(tmp_path, "A")
    _csv(
        feeds / "provider_return.csv",
        RTF_HEADER,
        [["A", NPI, "2026-10", "enrolled", "2026-10-03", "2", "0", "High", "Pat Doe"]],
    )
    result = ingest(con, feeds, rules, tmp_path / "work")
    assert result.feeds["provider_return"].staged == 1
    staged = _staged(con, "provider_return")
    assert staged.select(
        "member_id",
        "provider_npi",
        "reporting_period",
        "ecm_status",
        "enrollment_start_date",
        "in_person_encounters",
        "telephonic_encounters",
    ).rows() == [("A", NPI, D(2026, 10, 1), "enrolled", D(2026, 10, 3), 2, 0)]
    # The template's columns the contract does not name are kept, as text, as every
    # feed's unknown columns are (their names normalised as every header is).
    assert staged.select("acuity level", "lead care manager name").rows() == [("High", "Pat Doe")]
    assert staged.schema["in_person_encounters"] == pl.Int64
    assert staged.schema["acuity level"] == pl.String


def test_an_alias_matches_in_any_case_and_punctuation(tmp_path, con, rules):
    feeds = _feeds(tmp_path, "A")
    header = [
        "MEMBER CIN",
        "npi",
        "date_of_outreach_attempt",
        " Outreach-Attempt Method ",
        "OUTREACH ATTEMPT SUCCESSFUL?",
        "time spent performing outreach (minutes)",
    ]
    _csv(feeds / "outreach.csv", header, [["A", NPI, "10/02/2026", "phone", "N", "5"]])
    ingest(con, feeds, rules, tmp_path / "work")
    staged = _staged(con, "outreach")
    assert staged.select(
        "member_id", "provider_npi", "attempt_date", "method", "successful"
    ).rows() == [("A", NPI, D(2026, 10, 2), "phone", "N")]
    # "…(minutes)" is no alias of minutes: kept as an unknown column, minutes left empty
    assert staged["minutes"].to_list() == [None]
    assert staged["time spent performing outreach (minutes)"].to_list() == ["5"]


def test_a_column_delivered_by_its_name_and_its_alias_is_an_input_error(tmp_path, con, rules):
    feeds = _feeds(tmp_path, "A")
    header = ["member_id", *RTF_HEADER[1:4], "Member Client Index Number (CIN)"]
    _csv(feeds / "provider_return" / "rtf.csv", header, [["A", NPI, "2026-10", "enrolled", "A"]])
    with pytest.raises(InputError) as err:
        ingest(con, feeds, rules, tmp_path / "work")
    message = str(err.value)
    assert message.startswith(str(feeds / "provider_return" / "rtf.csv"))
    assert "column member_id is delivered twice, as 'member_id' and as " in message
    assert "'Member Client Index Number (CIN)'" in message


def test_two_aliases_of_one_column_are_delivered_twice_too():
    contract = load_contract("provider_return")
    names = ["Member CIN", "Member Client Index Number (CIN)", *RTF_HEADER[1:4]]
    with pytest.raises(InputError, match="as 'Member CIN' and as 'Member Client Index"):
        check_header("rtf.csv", names, contract, ",")


def test_a_header_matching_two_columns_is_an_input_error():
    """The contracts refuse an alias that would match a second column (ContractError);
    the ingest's header check holds for any contract all the same."""
    contract = load_contract("outreach")
    method = replace(contract.spec("method"), aliases=("Member ID",))
    contract = replace(
        contract, specs=tuple(method if s.name == "method" else s for s in contract.specs)
    )
    names = ["Member_ID", "provider_npi", "attempt_date", "successful"]
    with pytest.raises(InputError) as err:
        check_header("otf.csv", names, contract, ",")
    assert str(err.value).startswith("otf.csv: the header 'Member_ID' matches two columns")
    assert "member_id and method" in str(err.value)


def test_a_missing_column_names_the_headers_it_is_accepted_under(tmp_path, con, rules):
    feeds = _feeds(tmp_path, "A")
    _csv(feeds / "provider_return.csv", RTF_HEADER[:3], [["A", NPI, "2026-10"]])
    with pytest.raises(
        InputError, match=r"needs the column\(s\) ecm_status \(or 'Member ECM Status'\)"
    ):
        ingest(con, feeds, rules, tmp_path / "work")


# --- the reporting period: a month -----------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "month"),
    [
        ("2026-10", D(2026, 10, 1)),
        ("2026-1", D(2026, 1, 1)),
        (" 2026-10 ", D(2026, 10, 1)),
        ("202610", D(2026, 10, 1)),
        ("10/2026", D(2026, 10, 1)),
        ("1/2026", D(2026, 1, 1)),
        # a date stands for its month (a workbook's cell formatted as a month holds one)
        ("2026-10-15", D(2026, 10, 1)),
        ("20261031", D(2026, 10, 1)),
        ("10/15/2026", D(2026, 10, 1)),
        ("2026-10-01 00:00:00", D(2026, 10, 1)),
        ("2026-13", None),
        ("2026-00", None),
        ("13/2026", None),
        ("202613", None),
        ("20261", None),
        ("10/26", None),
        ("Oct 2026", None),
        ("2026/10", None),
        ("", None),
        (None, None),
    ],
)
def test_a_reporting_period_is_a_month_in_one_of_its_forms(value, month):
    with duckdb.connect() as connection:
        connection.execute(load_sql("macros"))
        assert connection.execute("select ecm_period(?)", [value]).fetchall() == [(month,)]


def test_a_period_in_no_accepted_form_is_quarantined_naming_the_forms(tmp_path, con, rules):
    feeds = _feeds(tmp_path, "A")
    rows = [["A", NPI, period, "enrolled"] for period in ("202610", "10/2026", "2026-13")]
    _csv(feeds / "provider_return.csv", RTF_HEADER[:4], rows)
    ingest(con, feeds, rules, tmp_path / "work")
    assert _staged(con, "provider_return")["reporting_period"].to_list() == [D(2026, 10, 1)] * 2
    assert _quarantine(con) == [
        (
            "provider_return",
            4,
            "unparseable_date",
            "reporting_period '2026-13' is not a month (expected YYYY-MM, YYYYMM or MM/YYYY, "
            "or a date in the month)",
        )
    ]


# --- counts and dates ------------------------------------------------------------------------


def test_counts_are_whole_numbers_of_at_least_zero(tmp_path, con, rules):
    feeds = _feeds(tmp_path, "A")
    write_feed(
        feeds,
        "outreach",
        [
            {
                "member_id": "A",
                "provider_npi": NPI,
                "attempt_date": d,
                "method": "phone",
                "successful": "Y",
                "minutes": minutes,
            }
            for d, minutes in (
                ("2026-10-01", "0"),
                ("2026-10-02", "12.0"),
                ("2026-10-03", "-1"),
                ("2026-10-04", "2.5"),
                ("2026-10-05", ""),
            )
        ],
    )
    ingest(con, feeds, rules, tmp_path / "work")
    assert _staged(con, "outreach")["minutes"].to_list() == [0, 12, None]
    assert _quarantine(con) == [
        ("outreach", 4, "malformed_value", "minutes '-1' is less than 0"),
        ("outreach", 5, "malformed_value", "minutes '2.5' is not a whole number"),
    ]


def test_rows_of_the_providers_files_are_checked_like_every_partner_feed(tmp_path, con, rules):
    feeds = _feeds(tmp_path, "A")
    rtf = {"provider_npi": NPI, "reporting_period": "2026-10", "ecm_status": "enrolled"}
    write_feed(
        feeds,
        "provider_return",
        [
            {
                "member_id": "A",
                **rtf,
                "enrollment_start_date": "2026-10-01",
                "enrollment_end_date": "2026-10-01",
            },
            {
                "member_id": "A",
                **rtf,
                "enrollment_start_date": "2026-10-02",
                "enrollment_end_date": "2026-10-01",
            },
            {"member_id": "Z", **rtf},
            {"member_id": "A", **rtf, "provider_npi": "12345"},
            {"member_id": "A", **rtf, "ecm_status": ""},
        ],
    )
    ingest(con, feeds, rules, tmp_path / "work")
    assert [(line_, rule) for _feed, line_, rule, _detail in _quarantine(con)] == [
        (3, "end_before_start"),
        (4, "unknown_member"),
        (5, "malformed_code"),
        (6, "missing_value"),
    ]


def test_a_repeated_outreach_attempt_is_staged_and_counted_a_duplicate(tmp_path, con, rules):
    """The grain member × provider × attempt_date × method: a repeat is warned (GX's
    grain suite), never quarantined."""
    from data_contracts.gx_suites import grain_frame

    feeds = _feeds(tmp_path, "A")
    attempt = {
        "member_id": "A",
        "provider_npi": NPI,
        "attempt_date": "2026-10-01",
        "method": "phone",
        "successful": "N",
    }
    write_feed(feeds, "outreach", [attempt, attempt, {**attempt, "method": "text"}])
    result = ingest(con, feeds, rules, tmp_path / "work")
    assert result.feeds["outreach"].staged == 3
    assert len(grain_frame(con, load_contract("outreach"))) == 2


# --- value aliases (the rules file's [loop.aliases.<column>]) ---------------------------------


def test_delivered_values_are_staged_as_the_allowed_values_their_aliases_name(tmp_path, con, rules):
    feeds = _feeds(tmp_path, "A")
    rtf = {"member_id": "A", "provider_npi": NPI}
    write_feed(
        feeds,
        "provider_return",
        [
            {
                **rtf,
                "reporting_period": "2026-01",
                "ecm_status": "E",
                "discontinuation_reason_code": "wm",
            },
            {
                **rtf,
                "reporting_period": "2026-02",
                "ecm_status": "  enrolled - ACTIVE ",
                "discontinuation_reason_code": "Well Managed",
                "referral_status": "A",
                "referral_closure_reason": "Services Received",
            },
            {**rtf, "reporting_period": "2026-03", "ecm_status": "Unable to Reach"},
            {**rtf, "reporting_period": "2026-04", "ecm_status": "DECLINED"},
        ],
    )
    attempt = {"member_id": "A", "provider_npi": NPI, "attempt_date": "2026-10-01"}
    write_feed(
        feeds,
        "outreach",
        [
            {**attempt, "method": "Telephone", "successful": "Reached"},
            {**attempt, "method": "E-MAIL", "successful": "yes"},
            {**attempt, "method": "In Person", "successful": "not reached"},
        ],
    )
    ingest(con, feeds, rules, tmp_path / "work")
    rtf_staged = _staged(con, "provider_return")
    assert rtf_staged.select(
        "ecm_status", "discontinuation_reason_code", "referral_status", "referral_closure_reason"
    ).rows() == [
        ("enrolled", "WM", None, None),
        ("enrolled", "WM", "accepted", "services_received"),
        ("unable_to_reach", None, None, None),
        ("declined", None, None, None),
    ]
    assert _staged(con, "outreach").select("method", "successful").rows() == [
        ("phone", "Y"),
        ("email", "Y"),
        ("in_person", "N"),
    ]
    assert _quarantine(con) == []


def test_a_value_neither_allowed_nor_aliased_is_quarantined_with_the_allowed_values(
    tmp_path, con, rules
):
    feeds = _feeds(tmp_path, "A")
    write_feed(
        feeds,
        "provider_return",
        [
            {
                "member_id": "A",
                "provider_npi": NPI,
                "reporting_period": "2026-10",
                "ecm_status": "Enrolled Elsewhere",
            }
        ],
    )
    write_feed(
        feeds,
        "outreach",
        [
            {
                "member_id": "A",
                "provider_npi": NPI,
                "attempt_date": "2026-10-01",
                "method": "carrier pigeon",
                "successful": "maybe",
            }
        ],
    )
    ingest(con, feeds, rules, tmp_path / "work")
    assert _quarantine(con) == [
        (
            "outreach",
            2,
            "unknown_value",
            "method 'carrier pigeon' is not one of: in_person, phone, video, text, email, mail "
            "(nor an alias of the rules file's [loop.aliases.method])",
        ),
        (
            "provider_return",
            2,
            "unknown_value",
            "ecm_status 'Enrolled Elsewhere' is not one of: enrolled, pending, declined, "
            "unable_to_reach, discontinued, not_eligible (nor an alias of the rules file's "
            "[loop.aliases.ecm_status])",
        ),
    ]


def test_a_plans_own_aliases_restage_the_feed_they_change(tmp_path, con):
    """The aliases decide a staged row: they enter the feed's staging sha256, so a rules
    file with other aliases stages the feed again (and only that feed)."""
    feeds = _feeds(tmp_path, "A")
    write_feed(
        feeds,
        "provider_return",
        [
            {
                "member_id": "A",
                "provider_npi": NPI,
                "reporting_period": "2026-10",
                "ecm_status": "Refused",
            }
        ],
    )
    packaged = load_rules()
    first = ingest(con, feeds, packaged, tmp_path / "work1")
    assert first.feeds["provider_return"].quarantined == 1
    aliases = {**packaged.setting("loop.aliases.ecm_status"), "Refused": "declined"}
    path = tmp_path / "plan" / "rules.toml"
    path.parent.mkdir()
    path.write_text(to_toml(with_setting("loop.aliases.ecm_status", aliases)))
    plan = load_rules(path)
    contract = load_contract("provider_return")
    assert staging_sha256(contract.with_value_aliases(plan.setting)) != staging_sha256(
        contract.with_value_aliases(packaged.setting)
    )
    again = ingest(con, feeds, plan, tmp_path / "work2")
    assert again.feeds["provider_return"].quarantined == 0
    assert _staged(con, "provider_return")["ecm_status"].to_list() == ["declined"]
    assert again.files["provider_return"]["staged"] == ["provider_return.csv"]
    assert again.files["eligibility"]["staged"] == []  # no alias of its: kept
    assert _quarantine(con) == []


# --- .xlsx, and a folder of one file per provider and month ------------------------------------


def test_a_folder_of_rtfs_per_provider_and_month_in_xlsx_and_csv(tmp_path, con, rules):
    feeds = _feeds(tmp_path, "A", "B")
    folder = feeds / "provider_return"
    write_workbook(
        folder / "ECM_RTF_1234567893_202610.xlsx",
        {
            "RTF": [
                RTF_HEADER,
                # a period typed as a month's date, counts as numbers, a status aliased
                ["A", NPI, D(2026, 10, 1), "Enrolled - Active", D(2026, 10, 3), 2, 0, "High", None],
                ["B", NPI, "202610", "P", None, 0, 1, None, "Pat Doe"],
            ]
        },
    )
    _csv(
        folder / "ECM_RTF_1982736450_202610.csv",
        RTF_HEADER[:4],
        [["A", "1982736450", "10/2026", "declined"]],
    )
    # an earlier month's drop of the first provider, in a sub-folder
    write_workbook(
        folder / "2026-09" / "ECM_RTF_1234567893_202609.xlsx",
        {"Sheet1": [RTF_HEADER[:4], ["A", NPI, 202609, "pending"]]},
    )
    (folder / "~$ECM_RTF_1234567893_202610.xlsx").write_bytes(b"\x05locked")
    result = ingest(con, feeds, rules, tmp_path / "work")
    assert result.feeds["provider_return"].files == 3
    assert result.feeds["provider_return"].quarantined == 0
    staged = _staged(con, "provider_return")
    assert staged.select(
        "_source_file",
        "_line",
        "member_id",
        "provider_npi",
        "reporting_period",
        "ecm_status",
        "enrollment_start_date",
        "in_person_encounters",
        "telephonic_encounters",
    ).rows() == [
        (
            "provider_return/2026-09/ECM_RTF_1234567893_202609.xlsx",
            2,
            "A",
            NPI,
            D(2026, 9, 1),
            "pending",
            None,
            None,
            None,
        ),
        (
            "provider_return/ECM_RTF_1234567893_202610.xlsx",
            2,
            "A",
            NPI,
            D(2026, 10, 1),
            "enrolled",
            D(2026, 10, 3),
            2,
            0,
        ),
        (
            "provider_return/ECM_RTF_1234567893_202610.xlsx",
            3,
            "B",
            NPI,
            D(2026, 10, 1),
            "pending",
            None,
            0,
            1,
        ),
        (
            "provider_return/ECM_RTF_1982736450_202610.csv",
            2,
            "A",
            "1982736450",
            D(2026, 10, 1),
            "declined",
            None,
            None,
            None,
        ),
    ]
    assert staged["acuity level"].to_list() == [None, "High", None, None]


def test_a_parquet_rtf_reads_a_typed_period_by_meaning(tmp_path, con, rules):
    feeds = _feeds(tmp_path, "A")
    pl.DataFrame(
        {
            "Member Client Index Number (CIN)": ["A", "A"],
            "ECM Provider NPI": [int(NPI), int(NPI)],
            "Member Information File Reporting Period": [
                dt.datetime(2026, 9, 1),
                dt.datetime(2026, 10, 1, 23, 59),
            ],
            "Member ECM Status": ["pending", "E"],
            "In Person": [1.0, None],
        }
    ).write_parquet(feeds / "provider_return.parquet")
    ingest(con, feeds, rules, tmp_path / "work")
    staged = _staged(con, "provider_return")
    assert staged.select("reporting_period", "ecm_status", "in_person_encounters").rows() == [
        (D(2026, 9, 1), "pending", 1),
        (D(2026, 10, 1), "enrolled", None),
    ]
    assert _quarantine(con) == []


def test_absent_providers_files_are_staged_empty_with_their_columns(tmp_path, con, rules):
    feeds = _feeds(tmp_path, "A")
    result = ingest(con, feeds, rules, tmp_path / "work")
    assert {"provider_return", "outreach"} <= set(result.missing_feeds)
    assert _staged(con, "provider_return").schema["reporting_period"] == pl.Date
    assert _staged(con, "outreach").schema["minutes"] == pl.Int64


def test_a_providers_npi_failing_its_check_digit_is_counted_never_dropped(tmp_path, con, rules):
    """feeds.md: NPIs are checked (10 digits, the Luhn check digit); a failure is counted
    in summary.json's data_quality, the row kept."""
    from ecm.deliver.quality import report_data_quality

    feeds = _feeds(tmp_path, "A")
    bad = "1234567890"  # 10 digits, a wrong check digit (…893 is right)
    write_feed(
        feeds,
        "provider_return",
        [
            {
                "member_id": "A",
                "provider_npi": npi,
                "reporting_period": "2026-10",
                "ecm_status": "pending",
            }
            for npi in (NPI, bad)
        ],
    )
    write_feed(
        feeds,
        "outreach",
        [
            {
                "member_id": "A",
                "provider_npi": bad,
                "attempt_date": "2026-10-01",
                "method": "phone",
                "successful": "N",
            }
        ],
    )
    result = ingest(con, feeds, rules, tmp_path / "work")
    assert result.feeds["provider_return"].staged == 2
    quality = report_data_quality(con, tmp_path)
    failures = {(f["feed"], f["column"]) for f in quality.npi_check_digit_failures}
    assert failures == {("provider_return", "provider_npi"), ("outreach", "provider_npi")}
    assert bad not in str(quality.npi_check_digit_failures)
