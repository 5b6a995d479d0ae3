"""The monthly Prefect flow under the test harness: files, grains, determinism, atomicity."""

import json

import polars as pl
import pytest

from ecm.errors import InputError
from tests.story import AS_OF, EXPECTED, write_story

DATA_FILES = (
    "assignments.parquet",
    "assignments.csv",
    "evidence.parquet",
    "member_metrics.parquet",
    "quarantine.parquet",
)


@pytest.fixture(scope="session")
def harness():
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=120):
        yield


@pytest.fixture(scope="module")
def story_feeds(tmp_path_factory):
    return write_story(tmp_path_factory.mktemp("flow") / "feeds")


def test_flow_run_writes_every_file(harness, story_feeds, tmp_path):
    from flows.monthly import monthly

    out = tmp_path / "out" / "2026-10"
    summary = monthly(input_dir=story_feeds, as_of=AS_OF, out_dir=out)
    for name in (*DATA_FILES, "summary.json", "manifest.json"):
        assert (out / name).is_file(), name
    assert (tmp_path / "out" / "warehouse.duckdb").is_file()  # beside the output folder
    assignments = pl.read_parquet(out / "assignments.parquet")
    assert set(assignments.select("member_id", "pof_code").iter_rows()) == EXPECTED
    assert pl.read_csv(out / "assignments.csv").height == assignments.height
    written = json.loads((out / "summary.json").read_text())
    assert written["feeds"]["medical_claim"]["read"] == (
        written["feeds"]["medical_claim"]["staged"]
        + written["feeds"]["medical_claim"]["quarantined"]
    )
    assert written["feeds"]["incarceration"]["present"] is False
    assert summary["populations"]["HIGH_UTIL_ADULT"]["members"] == 4
    # the story has no partner feeds: their populations are not evaluated, never zero
    assert written["populations_not_evaluated"] == {
        "CCS_CHILD": ["ccs_enrollment"],
        "CHILD_WELFARE": ["child_welfare"],
        "JUSTICE_ADULT": ["incarceration"],
        "JUSTICE_CHILD": ["incarceration"],
        "NF_TRANSITION_ADULT": ["nursing_facility_assessment"],
    }
    assert written["populations"]["JUSTICE_ADULT"]["members"] is None
    assert written["data_quality"]["npi_check_digit_failures"] == [
        {"feed": "medical_claim", "column": "rendering_npi", "distinct_npis": 1, "lines": 5}
    ]
    assert written["populations_partially_evaluated"]["SMI_SUD_ADULT"] == [
        "incarceration",
        "homelessness",
    ]
    from ecm.report import explain_member

    text = explain_member("A", out)
    assert text.startswith("HIGH_UTIL_ADULT (adult) since 2026-10-31: 5 avoidable ED visits")
    assert text.count("avoidable_ed_visit") == 5
    assert "5 facts, the latest 3 shown" in explain_member("A", out, facts_per_criterion=3)
    assert explain_member("B", out).startswith("Member B (age 46, adult) holds no population")
    assert "not enrolled" in explain_member("E", out)
    manifest = json.loads((out / "manifest.json").read_text())
    assert {f["path"] for f in manifest["files"]} >= set(DATA_FILES)
    assert "value_sets/ed_revenue_code.csv" in manifest["reference"]


def test_rerun_gives_byte_identical_data_files(harness, story_feeds, tmp_path):
    from flows.monthly import monthly

    first, second = tmp_path / "a" / "run", tmp_path / "b" / "run"
    monthly(input_dir=story_feeds, as_of=AS_OF, out_dir=first)
    monthly(input_dir=story_feeds, as_of=AS_OF, out_dir=second)
    for name in DATA_FILES:
        assert (first / name).read_bytes() == (second / name).read_bytes(), name


def test_failed_run_leaves_previous_output_untouched(harness, story_feeds, tmp_path):
    from flows.monthly import monthly

    out = tmp_path / "out" / "2026-10"
    monthly(input_dir=story_feeds, as_of=AS_OF, out_dir=out)
    before = (out / "assignments.parquet").read_bytes()
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "eligibility.csv").write_text("member_id\nA\n")
    (broken / "medical_claim.csv").write_text("claim_id\n1\n")
    with pytest.raises(InputError):
        monthly(input_dir=broken, as_of=AS_OF, out_dir=out)
    assert (out / "assignments.parquet").read_bytes() == before
    assert not [p for p in out.parent.iterdir() if p.name.startswith(".2026-10.tmp")]
