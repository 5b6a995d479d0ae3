"""The monthly Prefect flow under the test harness: files, grains, determinism, atomicity."""

import json

import polars as pl
import pytest

from ecm.errors import EcmError, InputError
from tests.story import AS_OF, DATA_FILES, EXPECTED, write_story


@pytest.fixture(scope="module")
def story_feeds(tmp_path_factory):
    return write_story(tmp_path_factory.mktemp("flow") / "feeds")


def test_flow_run_writes_every_file(harness, story_feeds, tmp_path):
    from flows.monthly import monthly

    out = tmp_path / "out" / "2026-10"
    summary = monthly(input_dir=story_feeds, as_of=AS_OF, out_dir=out)
    for name in (*DATA_FILES, "summary.json", "manifest.json", "report.html"):
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
    assert written["providers"] == {"members_with_several_providers": 0}
    assert written["input"]["header_only_feeds"] == []
    assert written["input"]["unknown_columns"] == {}
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
    from ecm.deliver.explain import explain_member

    text = explain_member("A", out)
    assert text.startswith("HIGH_UTIL_ADULT (adult) since 2026-10-31: 5 avoidable ED visits")
    assert text.count("avoidable_ed_visit") == 5
    assert "5 facts, the latest 3 shown" in explain_member("A", out, facts_per_criterion=3)
    b = explain_member("B", out)
    assert b.startswith("Member B (age 46, adult) holds no population")
    # why not, against the thresholds of the run's rules file (summary.json names it)
    assert "HIGH_UTIL_ADULT: 4 of 5 avoidable ED visits (the 5th would qualify)" in b
    assert "JUSTICE_ADULT: not evaluated (no incarceration feed)" in b
    with pytest.raises(EcmError, match="not enrolled"):
        explain_member("E", out)  # dead before the as-of date
    manifest = json.loads((out / "manifest.json").read_text())
    assert {f["path"] for f in manifest["files"]} >= {*DATA_FILES, "report.html"}
    report = (out / "report.html").read_text()
    assert report.count("<svg") >= 2 and "ECM populations of focus, as of 2026-10-31" in report
    assert "JUSTICE_ADULT" in report and "no incarceration feed" in report
    assert "value_sets/ed_revenue_code.csv" in manifest["reference"]


def test_the_flow_run_carries_the_summary_as_artifacts(harness, story_feeds, tmp_path):
    """A markdown and a table artifact on the flow run: the counts per population and the
    report's path, read back from the Prefect API."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterFlowRunId

    from flows.artifacts import POPULATIONS_ARTIFACT, SUMMARY_ARTIFACT
    from flows.monthly import monthly

    out = tmp_path / "out" / "2026-10"
    state = monthly(input_dir=story_feeds, as_of=AS_OF, out_dir=out, return_state=True)
    summary = state.result()
    flow_run_id = state.state_details.flow_run_id
    with get_client(sync_client=True) as client:
        artifacts = client.read_artifacts(
            artifact_filter=ArtifactFilter(flow_run_id=ArtifactFilterFlowRunId(any_=[flow_run_id]))
        )
    by_key = {a.key: a for a in artifacts}
    assert set(by_key) == {SUMMARY_ARTIFACT, POPULATIONS_ARTIFACT}
    markdown, table = by_key[SUMMARY_ARTIFACT], by_key[POPULATIONS_ARTIFACT]
    assert markdown.type == "markdown" and table.type == "table"
    report = str((out / "report.html").resolve())
    assert report in markdown.data and report in table.description
    assert "| HIGH_UTIL_ADULT | evaluated | 4 | 0 | 4 |" in markdown.data
    rows = json.loads(table.data) if isinstance(table.data, str) else table.data
    high_util = next(r for r in rows if r["population"] == "HIGH_UTIL_ADULT")
    assert high_util["members"] == summary["populations"]["HIGH_UTIL_ADULT"]["members"] == 4
    assert {r["population"] for r in rows} == set(summary["populations"])
    # counts only: one row per population, no column of member data
    assert {tuple(r) for r in rows} == {
        ("population", "title", "status", "adult", "child_youth", "members", "missing_feeds")
    }


def test_rerun_gives_byte_identical_data_files(harness, story_feeds, tmp_path):
    from flows.monthly import monthly

    first, second = tmp_path / "a" / "run", tmp_path / "b" / "run"
    monthly(input_dir=story_feeds, as_of=AS_OF, out_dir=first)
    monthly(input_dir=story_feeds, as_of=AS_OF, out_dir=second)
    for name in DATA_FILES:
        assert (first / name).read_bytes() == (second / name).read_bytes(), name


def test_a_run_in_three_shards_writes_the_files_of_a_run_in_one(harness, story_feeds, tmp_path):
    from flows.monthly import monthly

    one, three = tmp_path / "a" / "run", tmp_path / "b" / "run"
    summaries = {
        n: monthly(input_dir=story_feeds, as_of=AS_OF, out_dir=out, shards=n)
        for n, out in ((1, one), (3, three))
    }
    for name in DATA_FILES:
        assert (one / name).read_bytes() == (three / name).read_bytes(), name
    assert summaries[3]["shards"]["shards"] == 3
    varying = {"shards", "timings_seconds"}
    assert {k: v for k, v in summaries[1].items() if k not in varying} == {
        k: v for k, v in summaries[3].items() if k not in varying
    }


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


def _warehouse_tables(path):
    import duckdb

    with duckdb.connect(str(path), read_only=True) as con:
        names = [
            r[0]
            for r in con.execute(
                "select table_name from duckdb_tables() order by table_name"
            ).fetchall()
        ]
        return {n: con.execute(f"select * from {n} order by all").fetchall() for n in names}


def _files(folder):
    return {str(p.relative_to(folder)): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


def test_a_failed_run_changes_nothing_in_the_warehouse(harness, story_feeds, tmp_path):
    """Good run, then a run stopped by bad input: every table holds what it held."""
    from flows.monthly import monthly

    out = tmp_path / "out" / "2026-10"
    monthly(input_dir=story_feeds, as_of=AS_OF, out_dir=out)
    house = tmp_path / "out" / "warehouse.duckdb"
    tables, files, kept = (
        _warehouse_tables(house),
        _files(out),
        _files(house.parent / "warehouse.duckdb.files"),
    )
    assert "stg_checked__medical_claim" in tables and tables["stg_checked__eligibility"]
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "eligibility.csv").write_bytes((story_feeds / "eligibility.csv").read_bytes())
    (broken / "medical_claim.csv").write_text("")  # empty: the run stops mid-ingest
    with pytest.raises(InputError, match="empty"):
        monthly(input_dir=broken, as_of=AS_OF, out_dir=out)
    assert _warehouse_tables(house) == tables
    assert _files(out) == files
    assert _files(house.parent / "warehouse.duckdb.files") == kept
    assert sorted(p.name for p in out.parent.iterdir()) == [
        "2026-10",
        "warehouse.duckdb",
        "warehouse.duckdb.files",
    ]


def test_a_run_never_deletes_what_ecm_did_not_write(harness, story_feeds, tmp_path):
    from ecm.errors import OutputError
    from flows.monthly import monthly

    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("keep me")
    with pytest.raises(OutputError, match="not an earlier ecm output"):
        monthly(input_dir=story_feeds, as_of=AS_OF, out_dir=mine)
    assert (mine / "notes.txt").read_text() == "keep me"
    before = _files(story_feeds)
    with pytest.raises(OutputError, match="is the input folder"):
        monthly(input_dir=story_feeds, as_of=AS_OF, out_dir=story_feeds)
    assert _files(story_feeds) == before


def test_sanity_guard_refuses_a_run_whose_claims_are_all_quarantined(
    harness, story_feeds, tmp_path
):
    """An extract whose member_id column holds payer codes: every claim is quarantined.
    The run is refused during the ingest, as soon as the medical_claim feed's share is
    certain (exit 3 at the command line, with the partial summary of what it staged), and
    last month's output and the warehouse stay as they were."""
    from ecm.errors import SanityGuardError
    from flows.monthly import monthly

    out = tmp_path / "out" / "2026-10"
    monthly(input_dir=story_feeds, as_of=AS_OF, out_dir=out)
    house = tmp_path / "out" / "warehouse.duckdb"
    tables, files, kept = (
        _warehouse_tables(house),
        _files(out),
        _files(house.parent / "warehouse.duckdb.files"),
    )
    payer = tmp_path / "payer"
    payer.mkdir()
    for name in ("eligibility", "medical_claim"):
        frame = pl.read_csv(story_feeds / f"{name}.csv", infer_schema=False)
        if name == "medical_claim":
            frame = frame.with_columns(pl.lit("MEDI-CAL").alias("member_id"))
        frame.write_csv(payer / f"{name}.csv")
    with pytest.raises(SanityGuardError) as refused:
        monthly(input_dir=payer, as_of=AS_OF, out_dir=out)
    assert "100% of the medical_claim feed's rows were quarantined" in str(refused.value)
    summary = refused.value.summary
    assert summary["refused_during"] == "ingest"
    claims = summary["feeds"]["medical_claim"]
    assert claims["quarantined"] == claims["read"] > 0 and claims["refused"]
    assert summary["feeds"]["eligibility"]["quarantined"] == 0
    assert _warehouse_tables(house) == tables
    assert _files(out) == files
    assert _files(house.parent / "warehouse.duckdb.files") == kept


def test_sanity_guard_threshold_comes_from_the_rules_file(harness, story_feeds, tmp_path):
    from ecm.config.paths import DEFAULT_RULES_FILE
    from ecm.errors import SanityGuardError
    from flows.monthly import monthly

    strict = tmp_path / "rules.toml"
    strict.write_text(
        DEFAULT_RULES_FILE.read_text().replace(
            "min_enrolled_members = 1", "min_enrolled_members = 1000"
        )
    )
    with pytest.raises(SanityGuardError, match=r"min_enrolled_members is 1,000"):
        monthly(input_dir=story_feeds, as_of=AS_OF, out_dir=tmp_path / "o", rules_file=strict)
    assert not (tmp_path / "o").exists()


def test_an_input_problem_is_never_retried():
    """A truncated gzip raised an OSError the ingest retried, reading the file twice: the
    ingest has no retries, and writing retries on I/O errors only, never on ecm's own."""
    from flows.monthly import ingest_feeds, write_outputs
    from flows.retries import retry_on_io_only

    assert ingest_feeds.retries == 0
    assert write_outputs.retries > 0
    assert write_outputs.retry_condition_fn is retry_on_io_only

    class State:
        def __init__(self, exc):
            self.exc = exc

        def result(self, raise_on_failure):  # noqa: ARG002 (Prefect's signature)
            return self.exc

    assert retry_on_io_only(None, None, State(OSError("disk full")))
    assert not retry_on_io_only(None, None, State(InputError("bad file")))
    assert not retry_on_io_only(None, None, State(ValueError("bug")))
