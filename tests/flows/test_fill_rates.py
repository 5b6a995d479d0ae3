"""A column the rules lean on, mostly empty where it should be filled, is warned in the
summary, on the console and in the report (docs/FEEDS.md, "Fill rates")."""

from __future__ import annotations

import datetime as dt
import html
import json

import polars as pl
from rich.console import Console

from tests.conftest import CONFORMANCE

AS_OF = dt.date(2018, 6, 30)
PROFESSIONAL_LINES, CODED = 221, 12


def thin_conformance_sample(folder):
    """The Tuva conformance sample as a user ran it on 2026-12-05: 209 of its 221
    professional lines without a HCPCS code. The vendored copy codes every professional
    line; this keeps its eligibility, its institutional lines and its first 221
    professional lines (file order), the first 12 of them with their code."""
    folder.mkdir(parents=True)
    (folder / "eligibility_seed.csv").write_bytes(
        (CONFORMANCE / "eligibility_seed.csv").read_bytes()
    )
    claims = pl.read_csv(CONFORMANCE / "medical_claim_seed.csv", infer_schema=False)
    place = pl.int_range(pl.len()).over("claim_type")
    professional = pl.col("claim_type") == "professional"
    claims.filter(~professional | (place < PROFESSIONAL_LINES)).with_columns(
        pl.when(professional & (place >= CODED))
        .then(pl.lit(None, dtype=pl.String))
        .otherwise(pl.col("hcpcs_code"))
        .alias("hcpcs_code")
    ).write_csv(folder / "medical_claim_seed.csv")
    return folder


def test_a_thin_hcpcs_column_is_warned_in_the_summary_console_and_report(harness, tmp_path):
    from ecm.deliver.console import print_summary
    from flows.monthly import monthly

    feeds = thin_conformance_sample(tmp_path / "feeds")
    out = tmp_path / "out" / "2018-06"
    summary = monthly(input_dir=feeds, as_of=AS_OF, out_dir=out)

    written = json.loads((out / "summary.json").read_text())
    quality = written["data_quality"]
    (warning,) = [
        w for w in quality["warnings"] if w["rule"] == "fill_rate" and w["column"] == "hcpcs_code"
    ]
    assert warning["feed"] == "medical_claim"
    assert warning["check"] == "hcpcs_code_on_professional_lines"
    assert warning["rows"] == "professional lines"
    assert warning["threshold"] == 0.5
    assert warning["fill_rate"] == round(CODED / PROFESSIONAL_LINES, 6)
    assert "SMI_SUD_ADULT" in warning["populations"]
    sentence = (
        "hcpcs_code is filled on 5.4% of professional lines (12 of 221; the rules file's "
        "fill_rates.hcpcs_code_on_professional_lines is 50%): counts of ED visits, office "
        "visits, crisis services and ACE screenings are lowered for "
    )
    assert warning["detail"].startswith(sentence)
    assert "SMI_SUD_ADULT" in warning["detail"]
    measured = {f["check"]: f for f in quality["fill_rates"]}
    hcpcs = measured["hcpcs_code_on_professional_lines"]
    assert (hcpcs["rows_in_scope"], hcpcs["rows_filled"], hcpcs["status"]) == (221, 12, "below")
    # the other columns of the professional lines are filled: no warning for them
    assert measured["place_of_service_code_on_professional_lines"]["status"] == "ok"

    console = Console(record=True, width=400)
    print_summary(summary, out, console=console)
    assert sentence in console.export_text()
    assert sentence in html.unescape((out / "report.html").read_text())
