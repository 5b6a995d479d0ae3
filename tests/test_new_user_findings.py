"""Defects found trying `ecm` as a new user (issue #6's situations, tried again).

Each test states what the contract (docs/FEEDS.md, docs/OUTPUTS.md) promises and is
marked xfail(strict=True) until the code does it: when a fix lands the test passes,
xfail turns it red, and the mark is removed.
"""

import contextlib
import datetime as dt
import json

import duckdb
import pytest
from click.testing import CliRunner

from ecm.cli import main
from ecm.config.rules import load_rules
from ecm.errors import InputError
from ecm.generate import generate_feeds
from ecm.ingest import ingest

ELIGIBILITY_HEADER = (
    "member_id,person_id,subscriber_id,birth_date,death_date,gender,race,"
    "enrollment_start_date,enrollment_end_date\n"
)
CLAIM_HEADER = (
    "claim_id,claim_line_number,claim_type,member_id,claim_start_date,claim_end_date,"
    "admission_date,discharge_date,admit_type_code,place_of_service_code,bill_type_code,"
    "revenue_center_code,hcpcs_code,diagnosis_code_1\n"
)
CLAIM_ROW = "C1,1,professional,M00000001,2026-05-14,2026-05-14,,,,11,,,99213,J069\n"


def _feeds(folder, eligibility: str, **others: str):
    folder.mkdir()
    (folder / "eligibility.csv").write_text(eligibility)
    (folder / "medical_claim.csv").write_text(CLAIM_HEADER + CLAIM_ROW)
    for name, text in others.items():
        (folder / f"{name}.csv").write_text(text)
    return folder


def _ingest_error(folder, tmp_path) -> str:
    with duckdb.connect(str(tmp_path / "w.duckdb")) as con, pytest.raises(InputError) as caught:
        ingest(con, folder, load_rules(), tmp_path)
    return str(caught.value)


def test_headerless_eligibility_whose_row_repeats_the_member_id_names_no_member(tmp_path):
    # Tuva-style extracts often carry member_id = person_id = subscriber_id.
    row = "M00000001,M00000001,M00000001,1973-03-06,,male,white,2022-10-01,\n"
    folder = _feeds(tmp_path / "feeds", row)
    message = _ingest_error(folder, tmp_path)
    assert "m00000001" not in message.lower()
    assert "looks like a data row" in message


def test_headerless_eligibility_with_empty_fields_says_the_first_line_is_data(tmp_path):
    row = "M00000001,P1,S1,1973-03-06,,male,white,2022-10-01,\n"
    folder = _feeds(tmp_path / "feeds", row)
    message = _ingest_error(folder, tmp_path)
    assert "looks like a data row" in message


def test_validate_json_reports_a_file_error_as_json(tmp_path):
    header = ELIGIBILITY_HEADER.replace("gender", "member_id")
    folder = _feeds(tmp_path / "feeds", header + "M1,M1,M1,1973-03-06,,M1,white,2022-10-01,\n")
    result = CliRunner().invoke(main, ["validate", "--input", str(folder), "--json"])
    assert result.exit_code == 2
    record = json.loads(result.stderr.strip().splitlines()[-1])
    assert record["level"] == "error" and record["exit_code"] == 2


def test_validate_first_quarantined_line_is_the_lowest_line(tmp_path):
    eligibility = ELIGIBILITY_HEADER + "M00000001,,,1973-03-06,,male,white,2022-10-01,\n"
    episodes = ["member_id,facility_type,booking_date,release_date"]
    for line in range(2, 12):  # physical lines 2..11; lines 3 and 10 are bad
        kind = "spaceship" if line in (3, 10) else "county_jail"
        episodes.append(f"M00000001,{kind},2026-01-01,2026-02-01")
    folder = _feeds(tmp_path / "feeds", eligibility, incarceration="\n".join(episodes) + "\n")
    result = CliRunner().invoke(main, ["validate", "--input", str(folder), "--json"])
    report = json.loads(result.stdout)
    (bad,) = [q for q in report["quarantined"] if q["feed"] == "incarceration"]
    assert bad["rows"] == 2
    assert bad["first"] == "incarceration.csv:3"


def test_generate_never_deletes_feed_files_it_did_not_write(tmp_path):
    out = tmp_path / "feeds"
    (out / "medical_claim").mkdir(parents=True)
    drop = out / "medical_claim" / "medical_claim_2019-01.csv"
    drop.write_text(CLAIM_HEADER + CLAIM_ROW)
    # Refusing the folder is as good as keeping the file.
    with contextlib.suppress(Exception):
        generate_feeds(out, members=20, months=1, end=dt.date(2026, 10, 31), seed=1, fmt="csv")
    assert drop.exists()


def test_generate_replaces_its_own_earlier_output(tmp_path):
    out = tmp_path / "feeds"
    end = dt.date(2026, 10, 31)
    first = generate_feeds(out, members=30, months=2, end=end, seed=1, fmt="csv")
    second = generate_feeds(out, members=30, months=1, end=end, seed=1, fmt="csv")
    on_disk = {p for p in out.rglob("*") if p.is_file() and p.name != ".ecm-generated.json"}
    assert on_disk == set(second.files)
    assert len(first.files) > len(second.files)  # the second month's drop is gone


def test_generate_into_a_file_is_a_sentence_not_a_traceback(tmp_path):
    target = tmp_path / "eligibility.csv"
    target.write_text("x")
    result = CliRunner().invoke(
        main, ["generate", "--members", "5", "--months", "1", "--out", str(target)]
    )
    assert result.exit_code == 2
    assert "is a file" in result.output and "Traceback" not in result.output
    assert target.read_text() == "x"
