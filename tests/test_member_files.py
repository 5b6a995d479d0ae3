"""The providers' member information files: the pure transform (columns in order, values
from the right span, Y/N flags, statuses) and a run's provider folders (isolation, every
member in exactly one folder, manifests, byte-identical re-runs)."""

from __future__ import annotations

import datetime as dt
import json

import polars as pl
import pytest

from ecm.deliver.member_files import mif_file_name
from tests.conftest import eligibility
from tests.feeds import write_feed
from tests.story import AS_OF, EXPECTED, write_story
from transforms.loop import LISTING_SCHEMA
from transforms.member_information import (
    FOLDER,
    LEADING_COLUMNS,
    TRAILING_COLUMNS,
    Plan,
    member_information,
    mif_columns,
)

D = dt.date
PLAN = Plan("123456789", "Test Health Plan", ("01", "02", "03", "04", "05", "06", "08"))
CODES = ["HIGH_UTIL_ADULT", "HOMELESS_ADULT", "SMI_SUD_ADULT"]


def _assignments(*rows):
    return pl.LazyFrame(
        [
            {
                "member_id": m,
                "pof_code": code,
                "qualifying_date": day,
                "evidence_summary": summary,
                "provider_npi": None,
            }
            for m, code, day, summary in rows
        ],
        schema={
            "member_id": pl.String,
            "pof_code": pl.String,
            "qualifying_date": pl.Date,
            "evidence_summary": pl.String,
            "provider_npi": pl.String,
        },
    )


def _providers(*rows):
    return pl.LazyFrame(
        [
            {
                "member_id": m,
                "provider_npi": n,
                "provider_name": name,
                "start_date": s,
                "end_date": e,
            }
            for m, n, name, s, e in rows
        ],
        schema={
            "member_id": pl.String,
            "provider_npi": pl.String,
            "provider_name": pl.String,
            "start_date": pl.Date,
            "end_date": pl.Date,
        },
    )


def _metrics(*rows):
    return pl.LazyFrame(
        [{"member_id": m, "has_homelessness_evidence": h} for m, h in rows],
        schema={"member_id": pl.String, "has_homelessness_evidence": pl.Boolean},
    )


def _listing(assignments, statuses=None):
    """Every member of `assignments` listed `new` (a first run), unless `statuses` says
    otherwise (member → status, None: left out)."""
    members = assignments.select("member_id").unique().collect()["member_id"].to_list()
    statuses = statuses if statuses is not None else dict.fromkeys(members, "new")
    return pl.LazyFrame(
        [
            {"member_id": m, "provider_npi": None, "assignment_status": s,
             "left_out_reason": None if s else "loop_closed"}
            for m, s in statuses.items()
        ],
        schema=LISTING_SCHEMA,
    )  # fmt: skip


def _mif(assignments, elig, providers, metrics, statuses=None):
    return member_information(
        assignments,
        elig,
        providers,
        metrics,
        _listing(assignments, statuses),
        as_of=AS_OF,
        population_codes=CODES,
        plan=PLAN,
        adult_min_age=21,
    ).collect()


def test_the_columns_come_in_the_order_of_outputs_md():
    assert mif_columns(["X", "Y"]) == [
        "MCP Identifier",
        "MCP Name",
        "Member CIN",
        "Member Last Name",
        "Member First Name",
        "Member Date of Birth",
        "Member Gender",
        "Member Residential Address",
        "Member Residential City",
        "Member Residential State",
        "Member Residential Zip",
        "Member Phone Number",
        "Member Preferred Language",
        "Member Homelessness Indicator",
        "Member Dually Enrolled in Medicare",
        "X",
        "Y",
        "X Qualifying Date",
        "Y Qualifying Date",
        "Evidence Summary",
        "Assignment Status",
        "ECM Provider Name",
        "ECM Provider NPI",
        "Proposed ECM Provider NPI",
        "Proposal Reason",
        "MIF Reporting Period",
    ]


def test_the_population_columns_are_the_rules_files(rules):
    columns = mif_columns(rules.population_codes)
    assert columns[len(LEADING_COLUMNS) : len(LEADING_COLUMNS) + len(rules.population_codes)] == (
        rules.population_codes
    )
    assert columns[-len(TRAILING_COLUMNS) :] == list(TRAILING_COLUMNS)
    assert len(columns) == len(LEADING_COLUMNS) + 2 * len(rules.population_codes) + len(
        TRAILING_COLUMNS
    )


def test_a_row_per_member_with_the_covering_spans_contact_and_flags():
    elig = eligibility(
        # an old span with an old address, then the span covering the as-of date
        {
            "member_id": "A",
            "birth_date": D(1980, 2, 3),
            "enrollment_end_date": D(2025, 12, 31),
            "last_name": "Old",
            "address": "1 Old St",
            "dual_status_code": "02",
        },
        {
            "member_id": "A",
            "birth_date": D(1980, 2, 3),
            "enrollment_start_date": D(2026, 1, 1),
            "first_name": "Ana",
            "last_name": "Lopez",
            "gender": "female",
            "address": "2 New St",
            "city": "Fresno",
            "state": "CA",
            "zip_code": "93701",
            "phone": "5595550100",
            "preferred_language": "spa",
            "dual_status_code": "2",  # one digit: read as 02
        },
        {"member_id": "B", "birth_date": D(1970, 1, 1), "dual_status_code": "09"},
        {"member_id": "C", "birth_date": D(1990, 1, 1)},
    )
    assignments = _assignments(
        ("A", "SMI_SUD_ADULT", D(2026, 9, 1), "2 MH/SUD ED visits"),
        ("A", "HIGH_UTIL_ADULT", D(2026, 8, 8), "5 avoidable ED visits"),
        ("B", "HOMELESS_ADULT", D(2026, 3, 1), "homeless 2026-03-01"),
        ("C", "HIGH_UTIL_ADULT", D(2026, 7, 1), None),
    )
    providers = _providers(
        ("A", "1111111111", "Clinic One", D(2026, 1, 1), None),
        ("B", "2222222222", "Clinic Two", D(2025, 1, 1), D(2026, 10, 30)),  # ended before D
    )
    got = _mif(assignments, elig, providers, _metrics(("A", False), ("B", True)))
    assert got.columns == [*mif_columns(CODES), FOLDER]
    assert got["Member CIN"].to_list() == ["A", "B", "C"]
    a, b, c = got.to_dicts()
    assert a["MCP Identifier"] == "123456789" and a["MCP Name"] == "Test Health Plan"
    assert (a["Member Last Name"], a["Member First Name"]) == ("Lopez", "Ana")
    assert a["Member Residential Address"] == "2 New St"
    assert a["Member Residential Zip"] == "93701"
    assert a["Member Date of Birth"] == "1980-02-03"
    assert a["Member Dually Enrolled in Medicare"] == "Y"
    assert b["Member Dually Enrolled in Medicare"] == "N"  # 09: Medicare without Medicaid
    assert c["Member Dually Enrolled in Medicare"] == "N"  # empty
    assert (a["Member Homelessness Indicator"], b["Member Homelessness Indicator"]) == ("N", "Y")
    assert c["Member Homelessness Indicator"] == "N"  # no metrics row
    assert [a[code] for code in CODES] == ["1", "0", "1"]
    assert a["HIGH_UTIL_ADULT Qualifying Date"] == "2026-08-08"
    assert a["HOMELESS_ADULT Qualifying Date"] is None  # written empty
    assert a["Evidence Summary"] == (
        "HIGH_UTIL_ADULT: 5 avoidable ED visits; SMI_SUD_ADULT: 2 MH/SUD ED visits"
    )
    assert c["Evidence Summary"] == "HIGH_UTIL_ADULT"  # no summary: the code alone
    assert (a["ECM Provider NPI"], a["ECM Provider Name"], a[FOLDER]) == (
        "1111111111",
        "Clinic One",
        "1111111111",
    )
    assert (b["ECM Provider NPI"], b[FOLDER]) == (None, "unassigned")
    assert {r["MIF Reporting Period"] for r in got.to_dicts()} == {"2026-10"}
    assert {r["Assignment Status"] for r in got.to_dicts()} == {"new"}  # a first run


def test_the_latest_covering_provider_span_wins_then_the_smallest_npi():
    elig = eligibility({"member_id": "A", "birth_date": D(1980, 1, 1)})
    assignments = _assignments(("A", "HIGH_UTIL_ADULT", D(2026, 8, 8), "x"))
    providers = _providers(
        ("A", "3333333333", "Older", D(2025, 1, 1), None),
        ("A", "2222222222", "Latest B", D(2026, 5, 1), None),
        ("A", "1111111111", "Latest A", D(2026, 5, 1), None),
    )
    got = _mif(assignments, elig, providers, _metrics())
    assert got.select("ECM Provider NPI", "ECM Provider Name", FOLDER).row(0) == (
        "1111111111",
        "Latest A",
        "1111111111",
    )


def _roster(*rows):
    return pl.LazyFrame(
        [{"provider_npi": n, "provider_name": name} for n, name in rows],
        schema={"provider_npi": pl.String, "provider_name": pl.String},
    )


@pytest.mark.parametrize(
    ("roster", "names"),
    [
        # A (auto-assigned, no span): the roster's name; B (listed with its span's
        # provider): the span's name, whatever the roster says
        (
            _roster(("1111111111", "Roster One"), ("2222222222", "Roster Two")),
            {"A": "Roster One", "B": "Span Two"},
        ),
        # a provider on the roster twice: the first name in order
        (
            _roster(("1111111111", "Roster Z"), ("1111111111", "Roster One")),
            {"A": "Roster One", "B": "Span Two"},
        ),
        # the provider not on the roster, or no roster: no name
        (_roster(("3333333333", "Roster Three")), {"A": None, "B": "Span Two"}),
        (None, {"A": None, "B": "Span Two"}),
    ],
)
def test_an_auto_assigned_member_is_named_by_the_roster(roster, names):
    elig = eligibility(*({"member_id": m, "birth_date": D(1980, 1, 1)} for m in "AB"))
    assignments = _assignments(
        ("A", "HIGH_UTIL_ADULT", D(2026, 8, 8), "x"), ("B", "HIGH_UTIL_ADULT", D(2026, 8, 8), "x")
    ).with_columns(
        pl.when(pl.col("member_id") == "B").then(pl.lit("2222222222")).alias("provider_npi")
    )
    providers = _providers(("B", "2222222222", "Span Two", D(2026, 1, 1), None))
    listing = pl.LazyFrame(
        [("A", "1111111111", "new", None), ("B", "2222222222", "new", None)],
        schema=LISTING_SCHEMA,
        orient="row",
    )
    got = member_information(
        assignments, elig, providers, _metrics(), listing, as_of=AS_OF,
        population_codes=CODES, plan=PLAN, adult_min_age=21, roster=roster,
    ).collect()  # fmt: skip
    assert got.select("Member CIN", "ECM Provider NPI", FOLDER).rows() == [
        ("A", "1111111111", "1111111111"),
        ("B", "2222222222", "2222222222"),
    ]
    assert dict(got.select("Member CIN", "ECM Provider Name").iter_rows()) == names


def test_the_assignment_status_is_the_loops_and_a_member_it_leaves_out_is_in_no_file():
    elig = eligibility(*({"member_id": m, "birth_date": D(1980, 1, 1)} for m in "ABCEF"))
    assignments = _assignments(
        ("A", "HIGH_UTIL_ADULT", D(2026, 8, 8), "x"),
        ("B", "HIGH_UTIL_ADULT", D(2026, 8, 8), "x"),
        ("B", "SMI_SUD_ADULT", D(2026, 8, 8), "y"),
        ("C", "HIGH_UTIL_ADULT", D(2026, 8, 8), "x"),
        ("E", "HIGH_UTIL_ADULT", D(2026, 8, 8), "x"),
        ("F", "HIGH_UTIL_ADULT", D(2026, 8, 8), "x"),  # excluded: the loop gives no row
    )
    statuses = {"A": "continuing", "B": "re-referral", "C": "enrolled", "E": None}
    got = _mif(assignments, elig, _providers(), _metrics(), statuses)
    assert dict(got.select("Member CIN", "Assignment Status").iter_rows()) == {
        "A": "continuing",
        "B": "re-referral",
        "C": "enrolled",
    }


def test_a_run_without_assignments_has_no_rows():
    got = _mif(_assignments(), eligibility(), _providers(), _metrics())
    assert got.height == 0 and got.columns == [*mif_columns(CODES), FOLDER]


def test_the_plan_section_is_checked_by_load_rules(tmp_path):
    from ecm.config.paths import DEFAULT_RULES_FILE
    from ecm.config.rules import load_rules
    from ecm.errors import RulesError

    text = DEFAULT_RULES_FILE.read_text()
    assert load_rules().setting("plan.dual_status_codes") == list(PLAN.dual_status_codes)
    missing = tmp_path / "missing.toml"
    missing.write_text(text.replace('mcp_name = "Example Medi-Cal Plan"\n', ""))
    with pytest.raises(RulesError, match=r"plan\.mcp_name is missing: expected a line of text"):
        load_rules(missing)
    wrong = tmp_path / "wrong.toml"
    wrong.write_text(text.replace('mcp_identifier = "000000000"', "mcp_identifier = 12"))
    with pytest.raises(RulesError, match=r"plan\.mcp_identifier = 12: expected a line of text"):
        load_rules(wrong)


# --- a run's provider folders ------------------------------------------------------------

NPI_1, NPI_2, NPI_IDLE = "1111111111", "2222222222", "3333333333"


@pytest.fixture(scope="module")
def harness():
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=120):
        yield


@pytest.fixture(scope="module")
def provider_feeds(tmp_path_factory):
    """The story (tests/story.py) with contact columns and an ECM provider for most
    members: A and G with provider 1, I with 1 then 2 (2 covers the as-of date), K with 2;
    B (holds nothing) with a provider of its own; CH3 with none (unassigned)."""
    folder = write_story(tmp_path_factory.mktemp("mif") / "feeds")
    path = folder / "eligibility.csv"
    frame = pl.read_csv(path, infer_schema=False).with_columns(
        pl.lit("Doe").alias("last_name"),
        # a line separator inside G's name; formula text in K's city
        pl.when(pl.col("member_id") == "G")
        .then(pl.lit("First\u2028G"))
        .otherwise(pl.lit("First-") + pl.col("member_id"))
        .alias("first_name"),
        pl.lit("1 Main St, Apt | 2").alias("address"),  # a delimiter inside a value
        pl.when(pl.col("member_id") == "K")
        .then(pl.lit("@Oakland"))
        .otherwise(pl.lit("Oakland"))
        .alias("city"),
        pl.lit("CA").alias("state"),
        pl.lit("94601").alias("zip_code"),
        pl.lit("02").alias("dual_status_code"),
    )
    frame.write_csv(path)
    spans = [
        ("A", NPI_1, "2026-01-01", ""),
        ("G", NPI_1, "2026-01-01", ""),
        ("I", NPI_1, "2025-01-01", "2026-06-30"),
        ("I", NPI_2, "2026-07-01", ""),
        ("K", NPI_2, "2026-01-01", ""),
        ("B", NPI_IDLE, "2026-01-01", ""),
    ]
    write_feed(
        folder,
        "provider_assignment",
        [
            {
                "member_id": m,
                "provider_npi": npi,
                "provider_name": f"Provider {npi[0]}",
                "start_date": start,
                "end_date": end,
            }
            for m, npi, start, end in spans
        ],
    )
    return folder


def _read_mif(path):
    return pl.read_csv(path, separator="|", infer_schema=False)


@pytest.fixture(scope="module")
def provider_run(harness, provider_feeds, tmp_path_factory):
    from flows.monthly import monthly

    out = tmp_path_factory.mktemp("mif-run") / "out" / "2026-10"
    monthly(input_dir=provider_feeds, as_of=AS_OF, out_dir=out)
    return out


def test_no_provider_folder_holds_another_providers_member(provider_run):
    providers = provider_run / "providers"
    folders = sorted(p.name for p in providers.iterdir())
    assert folders == [NPI_1, NPI_2, "unassigned"]  # the idle provider's member holds nothing
    expected_folder = {"A": NPI_1, "G": NPI_1, "I": NPI_2, "K": NPI_2, "CH3": "unassigned"}
    seen: dict[str, str] = {}
    for folder in folders:
        files = sorted((providers / folder).iterdir())
        assert [f.name for f in files] == [mif_file_name(folder, AS_OF), "manifest.json"]
        rows = _read_mif(files[0])
        for row in rows.to_dicts():
            member = row["Member CIN"]
            assert member not in seen, f"{member} is in {seen.get(member)} and {folder}"
            seen[member] = folder
            assert expected_folder[member] == folder
            assert row["ECM Provider NPI"] == (None if folder == "unassigned" else folder)
        assert rows["Member CIN"].to_list() == sorted(rows["Member CIN"].to_list())
    # every member holding a population lands in exactly one folder
    assert set(seen) == {m for m, _ in EXPECTED}
    # and in the folder of the provider its assignments name
    assignments = pl.read_parquet(provider_run / "assignments.parquet")
    for member_id, npi in assignments.select("member_id", "provider_npi").iter_rows():
        assert seen[member_id] == (npi or "unassigned"), member_id


def test_the_files_hold_the_mif_columns_and_their_values(provider_run, rules):
    path = provider_run / "providers" / NPI_1 / "ECM_MIF_1111111111_202610.txt"
    text = path.read_text(encoding="utf-8")
    header = text.splitlines()[0].split("|")
    assert header == mif_columns(rules.population_codes)
    rows = _read_mif(path)
    a = rows.filter(pl.col("Member CIN") == "A").row(0, named=True)
    assert a["Member First Name"] == "First-A"
    assert a["Member Residential Address"] == "1 Main St, Apt | 2"  # quoted, read back whole
    assert a["Member Dually Enrolled in Medicare"] == "Y"
    assert a["HIGH_UTIL_ADULT"] == "1" and a["HIGH_UTIL_CHILD"] == "0"
    assert a["HIGH_UTIL_ADULT Qualifying Date"] == "2026-10-31"
    assert a["HIGH_UTIL_CHILD Qualifying Date"] is None
    assert a["Evidence Summary"].startswith("HIGH_UTIL_ADULT: ")
    assert a["Assignment Status"] == "new"  # the warehouse's first run
    assert (a["ECM Provider Name"], a["MIF Reporting Period"]) == ("Provider 1", "2026-10")
    manifest = json.loads((path.parent / "manifest.json").read_text())
    assert manifest["file"] == path.name and manifest["rows"] == rows.height == 2
    assert manifest["as_of_date"] == "2026-10-31"
    assert manifest["rules_version"] == rules.version
    from ecm.files import sha256_file

    assert manifest["sha256"] == sha256_file(path)


def test_the_run_counts_the_mif_values_it_changed(provider_run):
    """G's name loses its line separator, K's city is shown as text; the run's summary
    and manifest count them, as do the provider folders' manifests."""
    counts = {"values_with_line_breaks_replaced": 1, "values_prefixed_as_text": 1}
    summary = json.loads((provider_run / "summary.json").read_text())
    assert {k: summary["member_information_files"][k] for k in counts} == counts
    manifest = json.loads((provider_run / "manifest.json").read_text())
    assert manifest["member_information_files"] == counts
    providers = provider_run / "providers"
    g = _read_mif(providers / NPI_1 / mif_file_name(NPI_1, AS_OF)).filter(
        pl.col("Member CIN") == "G"
    )
    assert g["Member First Name"].to_list() == ["First G"]
    k = _read_mif(providers / NPI_2 / mif_file_name(NPI_2, AS_OF)).filter(
        pl.col("Member CIN") == "K"
    )
    assert k["Member Residential City"].to_list() == ["'@Oakland"]
    by_folder = {
        folder.name: json.loads((folder / "manifest.json").read_text())
        for folder in providers.iterdir()
    }
    assert by_folder[NPI_1]["values_with_line_breaks_replaced"] == 1
    assert by_folder[NPI_2]["values_prefixed_as_text"] == 1
    assert by_folder["unassigned"]["values_with_line_breaks_replaced"] == 0


def test_the_runs_manifest_lists_every_file_so_the_next_run_may_replace_the_folder(
    provider_run, provider_feeds
):
    from flows.monthly import monthly

    manifest = json.loads((provider_run / "manifest.json").read_text())
    listed = {f["path"] for f in manifest["files"]} | {"manifest.json"}
    on_disk = {str(p.relative_to(provider_run)) for p in provider_run.rglob("*") if p.is_file()}
    assert on_disk == listed
    assert "changes.parquet" in listed
    before = {
        p: (provider_run / p).read_bytes() for p in listed if p.endswith((".txt", ".parquet"))
    }
    # the same month again, into the same folder: accepted, and the data files are the same
    monthly(input_dir=provider_feeds, as_of=AS_OF, out_dir=provider_run)
    after = {p: (provider_run / p).read_bytes() for p in before}
    assert after == before


def test_a_rerun_elsewhere_gives_byte_identical_provider_files(
    harness, provider_run, provider_feeds, tmp_path
):
    from flows.monthly import monthly

    other = tmp_path / "out" / "2026-10"
    monthly(input_dir=provider_feeds, as_of=AS_OF, out_dir=other, shards=3)
    for path in sorted((provider_run / "providers").rglob("*")):
        if path.is_file():
            twin = other / path.relative_to(provider_run)
            assert twin.read_bytes() == path.read_bytes(), path.name
    assert (other / "changes.parquet").read_bytes() == (
        provider_run / "changes.parquet"
    ).read_bytes()


# --- one record per line, whatever reads it; formula text shown as text ---------------

# Every character str.splitlines() splits on: CR, LF, VT, FF, FS, GS, RS, NEL, LS, PS.
LINE_BREAKS = ["\r", "\n", "\x0b", "\x0c", "\x1c", "\x1d", "\x1e", "\x85", "\u2028", "\u2029"]


def _hostile_members():
    """(member id, eligibility values, provider name, expected MIF values by column):
    each break character inside a name, a CRLF pair, formula text in each free-text
    column, the delimiter and a quote inside values, an empty value, a member id
    starting with `-` (not free text: written as delivered, as are phone numbers)."""
    members = [
        (f"M{i:02d}", {"last_name": f"Lo{ch}pez"}, None, {"Member Last Name": "Lo pez"})
        for i, ch in enumerate(LINE_BREAKS)
    ]
    members += [
        ("N01", {"last_name": "Lo\r\npez"}, None, {"Member Last Name": "Lo pez"}),
        ("N02", {"last_name": "A\n\nB"}, None, {"Member Last Name": "A  B"}),
        (
            "N03",
            {"first_name": "=cmd|' /C calc'!A0"},
            None,
            {"Member First Name": "'=cmd|' /C calc'!A0"},
        ),
        ("N04", {"address": "+1"}, None, {"Member Residential Address": "'+1"}),
        ("N05", {"city": "-2"}, None, {"Member Residential City": "'-2"}),
        ("N06", {}, "@SUM(A1)", {"ECM Provider Name": "'@SUM(A1)"}),
        (
            "N07",
            {"address": '1 "Main" St | Apt 2'},
            None,
            {"Member Residential Address": '1 "Main" St | Apt 2'},
        ),
        (
            "N08",
            {"last_name": 'O"Brien', "first_name": ""},
            None,
            {"Member Last Name": 'O"Brien', "Member First Name": ""},
        ),
        (
            "-N09",
            {"phone": "+15105550100", "last_name": "-"},
            None,
            {"Member CIN": "-N09", "Member Phone Number": "+15105550100", "Member Last Name": "'-"},
        ),
        # a break before formula text: the space it becomes does not hide the formula
        ("N10", {"city": "\n=1+1"}, None, {"Member Residential City": "' =1+1"}),
        (
            "N11",
            {"city": " =1+1", "first_name": "\t@x"},
            None,
            {"Member Residential City": "' =1+1", "Member First Name": "'\t@x"},
        ),
        (
            "N12",
            {"first_name": "Ann-Marie", "city": "Walnut Creek"},
            '=HYPERLINK("x")\r\n',
            {
                "Member First Name": "Ann-Marie",
                "Member Residential City": "Walnut Creek",
                "ECM Provider Name": '\'=HYPERLINK("x") ',
            },
        ),
    ]
    return members


def test_every_record_is_one_line_and_formula_text_is_shown_as_text(tmp_path):
    """Hostile eligibility and provider_assignment values, through the real writer, read
    back with the csv module and with str.splitlines(): a record per member, each
    value as expected; the provider's manifest counts the values changed."""
    from ecm.deliver.member_files import write_member_information_files

    members = _hostile_members()
    elig = eligibility(
        *({"member_id": m, "birth_date": D(1980, 1, 1), **values} for m, values, _, _ in members)
    )
    assignments = _assignments(
        *((m, "HIGH_UTIL_ADULT", D(2026, 9, 1), "5 visits") for m, *_ in members)
    )
    providers = _providers(
        *((m, "1111111111", name or "Clinic", D(2026, 1, 1), None) for m, _, name, _ in members)
    )
    rows = _mif(assignments, elig, providers, _metrics())
    written = write_member_information_files(rows, tmp_path, AS_OF, "test")
    path = tmp_path / "providers" / "1111111111" / mif_file_name("1111111111", AS_OF)
    text = path.read_text(encoding="utf-8")
    lines = text.splitlines()
    assert len(lines) == 1 + len(members)
    import csv

    with path.open(encoding="utf-8", newline="") as handle:
        records = list(csv.reader(handle, delimiter="|"))
    assert len(records) == 1 + len(members)
    header = records[0]
    assert header == mif_columns(CODES)
    by_cin = {r[header.index("Member CIN")]: dict(zip(header, r, strict=True)) for r in records[1:]}
    # each line, split on `|` outside quotes, is the same record the csv module reads
    for line, record in zip(lines[1:], records[1:], strict=True):
        assert next(csv.reader([line], delimiter="|")) == record
    for member, _, _, expected in members:
        got = by_cin[member]
        for column, value in expected.items():
            assert got[column] == value, (member, column)
        assert got["Member Residential State"] == ""  # absent: written empty
    manifest = json.loads((path.parent / "manifest.json").read_text())
    breaks = len(LINE_BREAKS) + 4  # M*, N01, N02, N10, N12 (provider name)
    assert manifest["values_with_line_breaks_replaced"] == breaks
    # N03-N06, -N09's last name, N10, N11 (two values), N12's provider name
    assert manifest["values_prefixed_as_text"] == 9
    assert path in [p for p, _ in written.files]
    assert (written.values_with_line_breaks_replaced, written.values_prefixed_as_text) == (
        breaks,
        9,
    )


@pytest.mark.parametrize(
    ("value", "free_text", "other"),
    [
        ("Smith", "Smith", "Smith"),
        ("", "", ""),
        (None, None, None),
        ("Ann-Marie", "Ann-Marie", "Ann-Marie"),  # a sign inside a value is text
        ("=1", "'=1", "=1"),
        ("+1", "'+1", "+1"),
        ("-1", "'-1", "-1"),
        ("@x", "'@x", "@x"),
        ("  =1", "'  =1", "  =1"),  # spaces or tabs before a sign: spreadsheets may run it
        ("\t+1", "'\t+1", "\t+1"),
        ("'=1", "'=1", "'=1"),  # already text
        ("x\r\ny", "x y", "x y"),  # CRLF: one line break, one space
        ("x\n\ny", "x  y", "x  y"),  # two line breaks, two spaces
        ("x\n\ry", "x  y", "x  y"),  # LF then CR: two line breaks
        ("\u2028=1", "' =1", " =1"),
        ("\x1c\x1d\x1e", "   ", "   "),
    ],
)
def test_a_value_is_made_one_line_and_free_text_shown_as_text(value, free_text, other):
    """Every text column: each line break becomes one space; a free-text column's value
    starting with a formula sign (after spaces or tabs) gains a leading `'`."""
    from transforms.member_information import one_line_text

    frame = pl.LazyFrame(
        {"Member Last Name": [value], "Member Phone Number": [value]}, schema_overrides=None
    ).cast(pl.String)
    got = one_line_text(frame, ["Member Last Name"]).collect()
    assert got["Member Last Name"].to_list() == [free_text]
    assert got["Member Phone Number"].to_list() == [other]  # not free text


def test_the_free_text_columns_are_declared_once():
    from transforms.member_information import FREE_TEXT_COLUMNS

    assert FREE_TEXT_COLUMNS == (
        "Member Last Name",
        "Member First Name",
        "Member Residential Address",
        "Member Residential City",
        "ECM Provider Name",
    )
    assert set(FREE_TEXT_COLUMNS) <= set(mif_columns([]))
