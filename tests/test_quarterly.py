"""`ecm quarterly` through a small warehouse built here (loop.md §5): the file's rows and
columns, its manifest and warnings, the exit codes."""

from __future__ import annotations

import datetime as dt
import json
import stat

import duckdb
import polars as pl
import pytest
from click.testing import CliRunner

from ecm.cli import main
from ecm.config.rules import load_rules
from ecm.warehouse import history

D = dt.date
INPUT_COLUMNS = [
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
]


def _warehouse(path, run_dates, rtf_periods=True, household=True):
    """The history of `run_dates`' runs: M1 (a child) holds HOMELESS_FAMILY as its index
    and has a homelessness row, M2 as an adult of the household. `household`: True, the
    runs record has_household_evidence; False, the warehouse predates the column; a dict
    member → value, the runs record those."""
    con = duckdb.connect(str(path))
    history.ensure_history_tables(con)
    if household is False:
        con.execute(f"alter table {history.RUN_ASSIGNMENTS} drop column has_household_evidence")
    recorded = household if isinstance(household, dict) else {"M2": True}
    for i, day in enumerate(run_dates):
        con.execute(
            f"insert into {history.RUNS} values (?, ?, 'v', 's', 'e', '{{}}', 1, 1, 1, '{{}}', "
            "'succeeded', null, now(), null, null, null)",
            [f"run{i}", day],
        )
        for member, code, group in (
            ("M1", "HOMELESS_FAMILY", "child_youth"),
            ("M1", "HIGH_UTIL_CHILD", "child_youth"),
            ("M2", "HOMELESS_FAMILY", "adult"),
            ("M3", "SMI_SUD_ADULT", "adult"),
        ):
            values = [f"run{i}", member, code, group, day]
            if household is False:
                con.execute(
                    f"insert into {history.RUN_ASSIGNMENTS} values (?, ?, ?, ?, ?, '1234567890')",
                    values,
                )
            else:
                con.execute(
                    f"insert into {history.RUN_ASSIGNMENTS} values "
                    "(?, ?, ?, ?, ?, '1234567890', ?)",
                    [*values, recorded.get(member, False)],
                )
    columns = ", ".join(f"{c} {'date' if c.endswith('date') else 'varchar'}" for c in INPUT_COLUMNS)
    con.execute(f"create table stg__eligibility ({columns})")
    for member, first, county in (
        ("M1", "Ana", "Fresno"),
        ("M2", "Bo", "Kern"),
        ("M3", "Cy", "Napa"),
    ):
        con.execute(
            "insert into stg__eligibility (member_id, first_name, last_name, birth_date, "
            "county, enrollment_start_date, enrollment_end_date) "
            "values (?, ?, 'Doe', ?, ?, ?, null)",
            [member, first, D(2010, 3, 4), county, D(2020, 1, 1)],
        )
    con.execute(
        "insert into stg__eligibility (member_id, first_name, last_name, birth_date, county, "
        "enrollment_start_date, enrollment_end_date) values "
        "('M3', 'Cy', 'Doe', '1980-01-02', 'Yolo', '2026-09-01', null)"
    )
    con.execute(
        "create table stg__homelessness (member_id varchar, entry_date date, exit_date date)"
    )
    con.execute("insert into stg__homelessness values ('M1', '2026-01-05', null)")
    con.execute(
        "create table stg__provider_return (member_id varchar, provider_npi varchar, "
        "reporting_period date, file_production_date date, ecm_status varchar, "
        "enrollment_start_date date, enrollment_end_date date, discontinuation_date date, "
        "discontinuation_reason_code varchar, in_person_encounters bigint, "
        "telephonic_encounters bigint, _source_file varchar, _line bigint)"
    )
    rows = [
        # M1: 05-01..07-10 then 07-24..open (14 days: one span), counts from the OTF
        ("M1", "1111111111", "2026-07-01", "enrolled", "2026-05-01", "2026-07-10", None, 5, 5),
        ("M1", "2222222222", "2026-08-01", "enrolled", "2026-07-24", None, None, 5, 5),
        # M2: 05-01..07-10 (DP) then 07-25..10-20 (15 days: two spans), counts from the RTF
        ("M2", "1111111111", "2026-07-01", "discontinued", "2026-05-01", "2026-07-10", "DP", 1, 2),
        ("M2", "1111111111", "2026-08-01", "enrolled", "2026-07-25", "2026-10-20", None, 3, 4),
        ("M2", "1111111111", "2026-09-01", "enrolled", "2026-07-25", "2026-10-20", None, 1, 1),
    ]
    if not rtf_periods:
        rows = [("M3", "1111111111", "2026-05-01", "enrolled", "2026-05-01", None, None, 1, 1)]
    for line, (m, npi, period, status, start, end, reason, ip, tel) in enumerate(rows):
        con.execute(
            "insert into stg__provider_return "
            "values (?, ?, ?, null, ?, ?, ?, null, ?, ?, ?, 'r.csv', ?)",
            [m, npi, period, status, start, end, reason, ip, tel, line],
        )
    con.execute(
        "create table stg__outreach (member_id varchar, provider_npi varchar, attempt_date date, "
        "method varchar, successful varchar, minutes bigint, _source_file varchar, _line bigint)"
    )
    for line, (day, method) in enumerate(
        (("2026-07-05", "in_person"), ("2026-08-02", "phone"), ("2026-08-02", "video"))
    ):
        con.execute(
            "insert into stg__outreach values ('M1', '2222222222', ?, ?, 'Y', 10, 'o.csv', ?)",
            [day, method, line],
        )
    con.close()


def _run(*args):
    return CliRunner().invoke(main, ["quarterly", *args], catch_exceptions=False)


@pytest.fixture
def three_runs(tmp_path):
    house = tmp_path / "warehouse.duckdb"
    _warehouse(house, [D(2026, 7, 31), D(2026, 8, 31), D(2026, 9, 30)])
    return house


def test_a_quarter_of_three_runs(three_runs, tmp_path):
    out = tmp_path / "q"
    result = _run("--quarter", "2026Q3", "--out", str(out), "--warehouse", str(three_runs))
    assert result.exit_code == 0, result.output
    stem = "ECM_Quarterly_000_2026Q3"
    frame = pl.read_csv(out / f"{stem}.csv", infer_schema=False)
    rules = load_rules()
    flags = list(rules.setting("quarterly.flags"))
    assert frame.columns == [
        "Plan Name", "Plan Code", "County", "Reporting Period", "Member CIN",
        "Member Last Name", "Member First Name", "Member Date of Birth", *flags,
        "ECM Benefit Start Date", "ECM Benefit End Date", "ECM Discontinuation Reason",
        "Member's ECM Provider NPI", "Number of In-Person ECM Encounters",
        "Number of Telephonic/Telehealth ECM Encounters",
    ]  # fmt: skip
    shown = frame.select(
        "Member CIN", "County", "Reporting Period", "Member Date of Birth",
        "ECM Benefit Start Date", "ECM Benefit End Date", "ECM Discontinuation Reason",
        "Member's ECM Provider NPI", "Number of In-Person ECM Encounters",
        "Number of Telephonic/Telehealth ECM Encounters",
    ).rows()  # fmt: skip
    assert shown == [
        # chained at 14 days, open: no end; OTF: one in-person date, phone+video once
        ("M1", "Fresno", "2026 Q3", "03/04/2010", "05/01/2026", None, None, "2222222222", "1", "1"),
        # 15 days apart: two rows; the first ends in the quarter with DP = 3
        ("M2", "Kern", "2026 Q3", "03/04/2010", "05/01/2026", "07/10/2026", "3", "1111111111", "1", "2"),  # noqa: E501
        # ends after the quarter: no end shown; RTF counts of August and September
        ("M2", "Kern", "2026 Q3", "03/04/2010", "07/25/2026", None, None, "1111111111", "4", "5"),
    ]  # fmt: skip
    m1 = frame.row(0, named=True)
    assert m1["Children and Youth Experiencing Homelessness: Individuals"] == "1"
    assert m1["Children and Youth Experiencing Homelessness: Families"] == "1"
    assert m1["Adults Experiencing Homelessness: Families"] == "0"
    assert frame.row(1, named=True)["Adults Experiencing Homelessness: Families"] == "1"
    assert (
        frame.row(1, named=True)["Children and Youth Experiencing Homelessness: Individuals"] == "0"
    )
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["rows"] == 3 and manifest["warnings"] == []
    assert [r["as_of_date"] for r in manifest["runs"]] == ["2026-07-31", "2026-08-31", "2026-09-30"]
    assert {f["path"] for f in manifest["files"]} == {f"{stem}.csv", f"{stem}.xlsx"}
    book = pl.read_excel(out / f"{stem}.xlsx")
    assert book.columns == frame.columns and book.height == 3
    for path in out.iterdir():
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
    # a second quarterly into the same folder replaces it, byte for byte the same
    before = (out / f"{stem}.xlsx").read_bytes()
    again = _run("--quarter", "2026Q3", "--out", str(out), "--warehouse", str(three_runs))
    assert again.exit_code == 0 and (out / f"{stem}.xlsx").read_bytes() == before


def test_the_files_are_the_output_catalogs(three_runs, tmp_path):
    """Every file written is declared for `ecm quarterly` in ecm.deliver.catalog (and
    nothing else); the data files have the declared columns, in order (`<flag>`: the
    rules file's flags), values and emptiness, and are unique on the grain key."""
    from ecm.deliver import catalog

    out = tmp_path / "q"
    result = _run("--quarter", "2026Q3", "--out", str(out), "--warehouse", str(three_runs))
    assert result.exit_code == 0, result.output
    written = sorted(p.name for p in out.iterdir())
    declared = {n: catalog.output_of(n, catalog.QUARTERLY) for n in written}
    assert None not in declared.values(), declared
    assert len(set(declared.values())) == len(catalog.outputs_of(catalog.QUARTERLY)) == 3
    flags = list(load_rules().setting("quarterly.flags"))
    for name, output in declared.items():
        if not output.is_data:
            continue
        frame = (
            pl.read_csv(out / name, infer_schema=False)
            if name.endswith(".csv")
            else pl.read_excel(out / name)
        )
        expected = [c.name for c in output.columns if c.name != "<flag>"]
        at = expected.index("ECM Benefit Start Date")
        assert frame.columns == [*expected[:at], *flags, *expected[at:]], name
        for column in frame.columns:
            declared_column = output.column_of(column)
            values = frame[column]
            if declared_column.values:
                assert set(values.drop_nulls()) <= set(declared_column.values), column
            if not declared_column.may_be_empty:
                assert values.null_count() == 0, f"{name}: {column}"
            if name.endswith(".xlsx") and declared_column.type == "integer":
                assert values.dtype == pl.Int64, column
        key = list(output.grain_key)
        assert frame.select(key).unique().height == frame.height > 0, name


def test_a_file_the_catalog_does_not_declare_is_a_bug():
    from ecm.deliver.catalog import QUARTERLY
    from ecm.deliver.write import check_declared

    check_declared("ECM_Quarterly_000_2026Q3.csv", 3, QUARTERLY)
    check_declared("manifest.json", None, QUARTERLY)
    with pytest.raises(ValueError, match="not in the output catalog of ecm quarterly"):
        check_declared("ECM_Quarterly_000_2026Q5.csv", 3, QUARTERLY)
    with pytest.raises(ValueError, match="not in the output catalog of ecm quarterly"):
        check_declared("summary.json", None, QUARTERLY)
    with pytest.raises(ValueError, match="disagree on whether it has rows"):
        check_declared("ECM_Quarterly_000_2026Q3.xlsx", None, QUARTERLY)


def test_the_plan_name_is_the_member_information_files_mcp_name(three_runs, tmp_path):
    from tests.rules_file import rules_file_with

    rules = rules_file_with(tmp_path / "rules", "plan.mcp_name", "Another Plan")
    out = tmp_path / "q"
    result = _run(
        "--quarter", "2026Q3", "--out", str(out), "--warehouse", str(three_runs),
        "--rules", str(rules),
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    frame = pl.read_csv(out / "ECM_Quarterly_000_2026Q3.csv", infer_schema=False)
    assert set(frame["Plan Name"]) == {"Another Plan"}


INDIVIDUALS = "Children and Youth Experiencing Homelessness: Individuals"


@pytest.mark.parametrize(
    ("household", "m1_individual"),
    [
        # the runs recorded M1 as holding HOMELESS_FAMILY on its own evidence: the index
        (True, "1"),
        # ... or through the household, whatever homelessness rows M1 has: not the index
        ({"M1": True, "M2": True}, "0"),
        # a warehouse from before the history kept it: a child with a homelessness row
        (False, "1"),
    ],
)
def test_the_index_child_is_the_one_the_runs_recorded(tmp_path, household, m1_individual):
    house = tmp_path / "warehouse.duckdb"
    _warehouse(house, [D(2026, 7, 31), D(2026, 8, 31), D(2026, 9, 30)], household=household)
    out = tmp_path / "q"
    result = _run("--quarter", "2026Q3", "--out", str(out), "--warehouse", str(house))
    assert result.exit_code == 0, result.output
    frame = pl.read_csv(out / "ECM_Quarterly_000_2026Q3.csv", infer_schema=False)
    flags = {r["Member CIN"]: r[INDIVIDUALS] for r in frame.iter_rows(named=True)}
    assert flags == {"M1": m1_individual, "M2": "0"}
    if household is False:  # read only: the old warehouse is not changed
        with duckdb.connect(str(house), read_only=True) as con:
            names = {r[0] for r in con.execute(f"describe {history.RUN_ASSIGNMENTS}").fetchall()}
        assert "has_household_evidence" not in names


def test_fewer_than_three_runs_and_no_rtf_row_are_warned(tmp_path):
    house = tmp_path / "warehouse.duckdb"
    _warehouse(house, [D(2026, 8, 31)], rtf_periods=False)
    out = tmp_path / "q"
    result = _run("--quarter", "2026Q3", "--out", str(out), "--warehouse", str(house))
    assert result.exit_code == 0, result.output
    manifest = json.loads((out / "manifest.json").read_text())
    assert [w["rule"] for w in manifest["warnings"]] == [
        "fewer_than_three_runs",
        "no_provider_return",
    ]
    assert "fewer_than_three_runs" in result.output and "no_provider_return" in result.output
    # the span of May, still open, touches the quarter; the county on 09-30 is Yolo's
    frame = pl.read_csv(out / "ECM_Quarterly_000_2026Q3.csv", infer_schema=False)
    assert frame.select("Member CIN", "County", "ECM Benefit Start Date").rows() == [
        ("M3", "Yolo", "05/01/2026")
    ]


def test_a_quarter_with_no_run_exits_2(three_runs, tmp_path):
    out = tmp_path / "q"
    result = _run("--quarter", "2026Q2", "--out", str(out), "--warehouse", str(three_runs))
    assert result.exit_code == 2
    assert "no ecm run with an as-of date in 2026Q2" in result.output
    assert not out.exists()


@pytest.mark.parametrize("quarter", ["2026Q5", "2026-Q3", "Q3 2026", "202603"])
def test_a_malformed_quarter_exits_2_naming_the_form(three_runs, tmp_path, quarter):
    result = _run(
        "--quarter", quarter, "--out", str(tmp_path / "q"), "--warehouse", str(three_runs)
    )
    assert result.exit_code == 2
    assert "expected YYYYQn" in result.output


@pytest.mark.parametrize(
    ("old", "new", "said"),
    [
        (
            '"HIGH_UTIL_CHILD"',
            '"HIGH_UTIL_KID"',
            'quarterly.flags.*"HIGH_UTIL_KID" is not a registered',
        ),
        ('"HOMELESS_FAMILY:index"', '"HOMELESS_FAMILY:teen"', '"teen" is not one of adult'),
        ('WM = "1"', 'WX = "1"', 'quarterly.discontinuation_codes.*"WX".*not one of'),
        ('plan_code = "000"', 'plan_code = "../x"', "plan.plan_code"),
        ("merge_gap_days = 14", "merge_gap_days = -1", "quarterly.merge_gap_days = -1"),
    ],
)
def test_the_quarterly_keys_are_checked(tmp_path, old, new, said):
    from ecm.config.paths import DEFAULT_RULES_FILE
    from ecm.errors import RulesError

    text = DEFAULT_RULES_FILE.read_text(encoding="utf-8")
    assert old in text
    path = tmp_path / "rules.toml"
    path.write_text(text.replace(old, new, 1), encoding="utf-8")
    with pytest.raises(RulesError, match=said):
        load_rules(path)
