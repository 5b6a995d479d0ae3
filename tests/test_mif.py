"""The providers' member information files: the pure transform (columns in order, values
from the right span, Y/N flags, statuses) and a run's provider folders (isolation, every
member in exactly one folder, manifests, byte-identical re-runs)."""

from __future__ import annotations

import datetime as dt
import json

import polars as pl
import pytest

from ecm.mif import mif_file_name
from tests.conftest import eligibility
from tests.feeds import write_feed
from tests.story import AS_OF, EXPECTED, write_story
from transforms.mif import (
    FOLDER,
    LEADING_COLUMNS,
    TRAILING_COLUMNS,
    Plan,
    assignment_changes,
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


def _mif(assignments, elig, providers, metrics, previous=None, previous_as_of=None):
    changes = assignment_changes(assignments, previous, previous_as_of)
    return member_information(
        assignments,
        elig,
        providers,
        metrics,
        changes,
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


def test_assignment_status_is_continuing_when_a_population_carries_over():
    elig = eligibility(*({"member_id": m, "birth_date": D(1980, 1, 1)} for m in "ABC"))
    assignments = _assignments(
        ("A", "HIGH_UTIL_ADULT", D(2026, 8, 8), "x"),  # held last month: continuing
        ("B", "HIGH_UTIL_ADULT", D(2026, 8, 8), "x"),  # a new population besides an old one
        ("B", "SMI_SUD_ADULT", D(2026, 8, 8), "y"),
        ("C", "HIGH_UTIL_ADULT", D(2026, 8, 8), "x"),  # last month held another: new
    )
    previous = pl.LazyFrame(
        {
            "member_id": ["A", "B", "C"],
            "pof_code": ["HIGH_UTIL_ADULT", "HIGH_UTIL_ADULT", "HOMELESS_ADULT"],
        }
    )
    got = _mif(assignments, elig, _providers(), _metrics(), previous, D(2026, 9, 30))
    assert dict(got.select("Member CIN", "Assignment Status").iter_rows()) == {
        "A": "continuing",
        "B": "continuing",
        "C": "new",
    }


def test_a_run_without_assignments_has_no_rows():
    got = _mif(_assignments(), eligibility(), _providers(), _metrics())
    assert got.height == 0 and got.columns == [*mif_columns(CODES), FOLDER]


def test_the_plan_section_is_checked_by_load_rules(tmp_path):
    from ecm.errors import RulesError
    from ecm.paths import DEFAULT_RULES_FILE
    from ecm.rules import load_rules

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
        (pl.lit("First-") + pl.col("member_id")).alias("first_name"),
        pl.lit("1 Main St, Apt | 2").alias("address"),  # a delimiter inside a value
        pl.lit("Oakland").alias("city"),
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
    from ecm.outputs import sha256_file

    assert manifest["sha256"] == sha256_file(path)


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
