"""Exclusions through the monthly flow (docs/POPULATIONS.md, "Exclusions"): the story of
every population (tests/story_pof.py) with BE in CCM (program_enrollment) and LTC in
hospice (a claim of bill type 812), SMI in SMHS targeted case management and JA's D-SNP
span ended the day before the as-of date; then the same story without the
program_enrollment feed (partially evaluated: claims only).

An excluded member keeps every population (assignments, evidence), carries excluded_by,
is listed in exclusions.parquet and in no member information file; the summary, the
console, the report and `ecm explain` say so."""

from __future__ import annotations

import datetime as dt
import json
import shutil
from pathlib import Path

import polars as pl
import pytest
from rich.console import Console

from ecm.deliver.console import print_summary
from ecm.deliver.explain import explain_member
from tests.story_pof import AS_OF, EXCLUDED, EXPECTED, write_story

pytestmark = pytest.mark.flow
PROGRAMS = ["hospice", "pace", "ccm", "cct", "waiver_mcwp", "waiver_hcba", "waiver_alw",
            "waiver_hcbs_dd", "waiver_mssp", "waiver_sdp", "dsnp"]  # fmt: skip


def _run(harness, feeds: Path, out: Path) -> dict:
    from flows.monthly import monthly

    monthly(input_dir=feeds, as_of=AS_OF, out_dir=out)
    return json.loads((out / "summary.json").read_text())


@pytest.fixture(scope="module")
def runs(harness, tmp_path_factory):
    """The story's run with the program_enrollment feed, and without it."""
    root = tmp_path_factory.mktemp("exclusions")
    feeds = write_story(root / "feeds")
    without = root / "feeds_without"
    shutil.copytree(feeds, without)
    (without / "program_enrollment.csv").unlink()
    return {
        "with": (root / "with" / "out", _run(harness, feeds, root / "with" / "out")),
        "without": (root / "without" / "out", _run(harness, without, root / "without" / "out")),
    }


def _mif_members(out: Path) -> set[str]:
    return {
        member
        for path in out.glob("providers/*/ECM_MIF_*.txt")
        for member in pl.read_csv(path, separator="|", infer_schema=False)["Member CIN"]
    }


def test_an_excluded_member_keeps_every_population_and_carries_excluded_by(runs):
    out, _ = runs["with"]
    assignments = pl.read_parquet(out / "assignments.parquet")
    assert set(assignments.select("member_id", "pof_code").iter_rows()) == EXPECTED
    by_member = dict(assignments.select("member_id", "excluded_by").unique().iter_rows())
    assert {m: p for m, p in by_member.items() if p} == EXCLUDED
    assert assignments["excluded_by"].null_count() == 0
    csv = pl.read_csv(out / "assignments.csv", infer_schema=False)
    assert csv["excluded_by"].fill_null("").to_list() == assignments["excluded_by"].to_list()
    evidence = pl.read_parquet(out / "evidence.parquet")
    assert set(EXCLUDED) <= set(evidence["member_id"])


def test_an_excluded_member_is_in_no_member_information_file(runs):
    out, _ = runs["with"]
    listed = _mif_members(out)
    assert not listed & set(EXCLUDED)
    assert listed == {m for m, _ in EXPECTED} - set(EXCLUDED)


def test_exclusions_parquet_one_row_per_member_program_and_source(runs):
    out, _ = runs["with"]
    rows = pl.read_parquet(out / "exclusions.parquet").rows()
    assert rows == [
        ("BE", "ccm", "program_enrollment", "program_enrollment.csv:2", dt.date(2026, 9, 1), None),
        ("LTC", "hospice", "medical_claim", "c-hospice", dt.date(2026, 9, 15),
         dt.date(2026, 9, 30)),
    ]  # fmt: skip


def test_the_summary_counts_exclusions_per_program(runs):
    _, summary = runs["with"]
    found = summary["exclusions"]
    assert found["status"] == "evaluated" and found["missing_feeds"] == []
    assert found["members"] == 2
    assert list(found["programs"]) == PROGRAMS
    assert {p: n for p, n in found["programs"].items() if n} == {"hospice": 1, "ccm": 1}
    assert found["programs_not_excluding"] == {"smhs_tcm": 1}
    assert summary["member_information_files"]["members"] == len({m for m, _ in EXPECTED}) - 2


def test_without_program_enrollment_exclusions_are_partially_evaluated_claims_only(runs):
    out, summary = runs["without"]
    found = summary["exclusions"]
    assert (found["status"], found["missing_feeds"]) == (
        "partially_evaluated",
        ["program_enrollment"],
    )
    assert {p: n for p, n in found["programs"].items() if n} == {"hospice": 1}
    assert pl.read_parquet(out / "exclusions.parquet")["member_id"].to_list() == ["LTC"]
    assert "BE" in _mif_members(out) and "LTC" not in _mif_members(out)
    page = (out / "report.html").read_text()
    attention = page.split("<div class='attention'>", 1)[1].split("</div>", 1)[0]
    assert "Exclusions partially evaluated: no program_enrollment feed" in attention
    console = Console(record=True, width=200)
    print_summary({**summary, "timings_seconds": {}}, out, console)
    said = console.export_text()
    assert "warning: exclusions partially evaluated: no program_enrollment feed" in said
    assert "Exclusions: 1 member holding a population excluded (hospice 1)" in said


def test_evaluated_exclusions_say_nothing_in_the_attention_block(runs):
    out, summary = runs["with"]
    assert "Exclusions partially evaluated" not in (out / "report.html").read_text()
    console = Console(record=True, width=200)
    print_summary({**summary, "timings_seconds": {}}, out, console)
    said = console.export_text()
    assert "partially evaluated" not in said.split("Exclusions:", 1)[1]
    assert "Exclusions: 2 members holding a population excluded (hospice 1, ccm 1)" in said
    assert "programs that never exclude: smhs_tcm 1" in said


def test_explain_says_a_members_exclusions(runs):
    out, _ = runs["with"]
    text = explain_member("LTC", out)
    assert "Excluded on 2026-10-31 by hospice: in no provider's member information file" in text
    assert "hospice         2026-09-15 .. 2026-09-30  claim c-hospice" in text
    text = explain_member("BE", out)
    assert "ccm             2026-09-01 .. ongoing  program_enrollment.csv:2" in text
    assert "Not excluded on 2026-10-31" in explain_member("SMI", out)
    without, _ = runs["without"]
    assert "partially evaluated: no program_enrollment feed" in explain_member("BE", without)
