"""`ecm validate`: exit codes, the failed expectations, and the HTML report."""

from __future__ import annotations

import json

from click.testing import CliRunner

from ecm.cli import main
from tests.feeds import line, member, write_feed

SECRET = "M-SECRET-9"


def _clean(folder):
    write_feed(folder, "eligibility", [member(SECRET), member("B")])
    write_feed(
        folder,
        "medical_claim",
        [
            line("c1", SECRET, "2026-01-05"),
            line("c2", "B", "2026-01-05", claim_type="institutional", revenue_center_code="450"),
        ],
    )


def test_clean_feeds_exit_0(tmp_path):
    _clean(tmp_path)
    result = CliRunner().invoke(main, ["validate", "--input", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert "expectations: " in result.output and "failed:" not in result.output


def test_a_failed_expectation_exits_1_and_the_report_holds_no_member_data(tmp_path):
    feeds = tmp_path / "feeds"
    _clean(feeds)
    # the same line twice: nothing quarantined, the grain expectation fails
    write_feed(feeds, "medical_claim", [line("c1", SECRET, "2026-01-05")] * 2)
    report = tmp_path / "r" / "report.html"
    result = CliRunner().invoke(
        main, ["validate", "--input", str(feeds), "--report", str(report), "--json"]
    )
    assert result.exit_code == 1, result.output
    out = json.loads(result.output.strip().splitlines()[-1])
    assert all(c["quarantined"] == 0 for c in out["feeds"].values())
    failed = [
        e["expectation"]
        for e in out["data_quality"]["expectations"]["medical_claim"]
        if not e["success"]
    ]
    assert "expect_compound_columns_to_be_unique" in failed
    page = report.read_text()
    assert page.startswith("<!doctype html>") and "expect_compound_columns_to_be_unique" in page
    assert SECRET not in page and SECRET not in result.output
    assert "http://" not in page and "https://" not in page  # nothing fetched at view time


def test_an_unusable_file_exits_2(tmp_path):
    write_feed(tmp_path, "eligibility", [member("A")])
    (tmp_path / "medical_claim.csv").write_bytes(b"")
    result = CliRunner().invoke(main, ["validate", "--input", str(tmp_path)])
    assert result.exit_code == 2


def test_help_names_the_report_and_the_exit_codes():
    result = CliRunner().invoke(main, ["validate", "--help"])
    assert "--report" in result.output and "Exits 0" in result.output
