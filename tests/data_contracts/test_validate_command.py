"""`ecm validate`: exit codes, the failed expectations, and the HTML report."""

from __future__ import annotations

import html
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
            line("c1", SECRET, "2026-01-05", hcpcs_code="99213", place_of_service_code="11"),
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


def test_a_column_filled_below_its_threshold_is_shown_and_exits_1(tmp_path):
    feeds = tmp_path / "feeds"
    _clean(feeds)
    coded = {"hcpcs_code": "99213", "place_of_service_code": "11"}
    write_feed(
        feeds,
        "medical_claim",
        [
            line("c1", SECRET, "2026-01-05", **coded),
            line("c2", "B", "2026-01-05", place_of_service_code="11"),  # no HCPCS code
            line("c3", "B", "2026-01-06", place_of_service_code="11"),  # no HCPCS code
            line("c4", "B", "2026-01-05", claim_type="institutional", revenue_center_code="450"),
        ],
    )
    report = tmp_path / "r" / "report.html"
    result = CliRunner().invoke(main, ["validate", "--input", str(feeds), "--report", str(report)])
    assert result.exit_code == 1, result.output
    assert "failed:" not in result.output  # every expectation passed
    assert "fill rates: 3 of 4 at or above their threshold, 1 with no rows" in result.output
    assert (
        "below: medical_claim: hcpcs_code is filled on 33.3% of professional lines (1 of 3; "
        "the rules file's fill_rates.hcpcs_code_on_professional_lines is 50%)"
    ) in result.output
    assert "no rows: medical_claim: admit_type_code: no inpatient claim lines" in result.output
    page = html.unescape(report.read_text())
    assert "hcpcs_code is filled on 33.3% of professional lines (1 of 3;" in page
    assert SECRET not in page and SECRET not in result.output


def test_an_unusable_file_exits_2(tmp_path):
    write_feed(tmp_path, "eligibility", [member("A")])
    (tmp_path / "medical_claim.csv").write_bytes(b"")
    result = CliRunner().invoke(main, ["validate", "--input", str(tmp_path)])
    assert result.exit_code == 2


def test_help_names_the_report_and_the_exit_codes():
    result = CliRunner().invoke(main, ["validate", "--help"])
    assert "--report" in result.output and "Exits 0" in result.output


def test_a_feed_past_the_quarantine_guard_is_not_read_whole(tmp_path, monkeypatch):
    """A user's trial: `ecm validate` on a 6 MB gzip of 39M broken homelessness rows took
    135 s, 12 GB of memory and left a 2.3 GB warehouse. Beyond the first piece of a feed,
    validate stops reading a feed whose quarantined share is certainly past the guard (exit
    3, as a run would be refused), so it costs what a run costs; a small feed is still
    validated whole, every broken row reported (exit 1)."""
    from ecm.ingest import stage
    from tests.test_untrusted_files import homelessness, minimal_feeds

    monkeypatch.setattr(stage, "PIECE_ROWS", 100)
    big = minimal_feeds(tmp_path / "big")
    homelessness(big, 1000, 0)
    result = CliRunner().invoke(main, ["validate", "--input", str(big)])
    assert result.exit_code == 3, result.output
    assert "stopped reading the homelessness feed" in result.output
    assert "at least 30%" in result.output  # after 3 pieces of 100 of at most 1,000 rows

    small = minimal_feeds(tmp_path / "small")
    homelessness(small, 60, 40)  # 60% broken, one piece: every row reported
    result = CliRunner().invoke(main, ["validate", "--input", str(small)])
    assert result.exit_code == 1, result.output
    assert "quarantined 60 homelessness rows" in result.output
