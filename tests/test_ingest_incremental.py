"""Incremental ingest (issue #7 item 5): a file already staged in the warehouse with the
same sha256 is not read again, a file gone drops out, and the result equals a fresh full
ingest of the same folder."""

import dataclasses
import shutil
from pathlib import Path

import duckdb
import polars as pl
import pytest
from polars.testing import assert_frame_equal

import ecm.ingest
from data_contracts import load_contracts
from ecm.ingest import ingest
from tests.feeds import line, member, write_feed

COMPARED = (
    "stg_checked__eligibility",
    "stg_checked__medical_claim",
    "stg_checked__pharmacy_claim",
    "stg__medical_claim",
    "int__medical_claim_current",
    "int__medical_claim_version",
    "quarantine",
)


def drop(folder: Path, feed: str, month: str, rows: list[dict]) -> Path:
    """A monthly drop `folder/feed/<month>.csv`."""
    path = write_feed(folder / feed, feed, rows)
    return path.rename(folder / feed / f"{month}.csv")


def month_one(folder: Path) -> Path:
    drop(folder, "eligibility", "2026-01", [member("A"), member("B"), member("Q")])
    drop(
        folder,
        "medical_claim",
        "2026-01",
        [
            line("c1", "A", "2026-01-05"),
            line("c2", "B", "2026-01-06"),
            # a member eligibility does not have yet: quarantined as unknown_member
            line("c3", "N", "2026-01-07"),
            line("c4", "A", "not a date"),  # quarantined: its own row check
            line("c5", "Q", "2026-01-09"),
        ],
    )
    return folder


def month_two(folder: Path) -> Path:
    """Month one plus one drop of each feed: the new member N enrols, member Q's new
    eligibility row is quarantined (so Q's kept claims change verdict), a new claim
    version of c1 and a void of c2."""
    drop(
        folder,
        "eligibility",
        "2026-02",
        [member("N"), member("Q", enrollment_start_date="bad")],
    )
    drop(
        folder,
        "medical_claim",
        "2026-02",
        [
            line("c1", "A", "2026-01-05", file_date="2026-02-01", hcpcs_code="99213"),
            line("c2", "B", "2026-01-06", file_date="2026-02-01", bill_type_code="0138"),
            line("c6", "N", "2026-02-03"),
        ],
    )
    return folder


def snapshot(con: duckdb.DuckDBPyConnection) -> dict[str, pl.DataFrame]:
    """The compared tables, rows sorted and columns in name order (a full ingest adds a
    file's unknown columns in file order, an incremental one as files arrive)."""
    out = {}
    for name in COMPARED:
        frame = con.sql(f"select * from {name}").pl()
        frame = frame.select(sorted(frame.columns))
        out[name] = frame.sort(frame.columns, nulls_last=True)
    return out


def assert_same(got: dict[str, pl.DataFrame], want: dict[str, pl.DataFrame]) -> None:
    for name in COMPARED:
        assert got[name].columns == want[name].columns, name
        assert_frame_equal(got[name], want[name])


def full_ingest(folder: Path, rules, work: Path):
    with duckdb.connect() as con:
        result = ingest(con, folder, rules, work)
        return result, snapshot(con)


@pytest.fixture
def warehouse(tmp_path):
    with duckdb.connect(str(tmp_path / "warehouse.duckdb")) as con:
        yield con


@pytest.fixture
def read_files(monkeypatch):
    """The files the ingest reads (every read goes through `raw_file`, which stage calls)."""
    seen: list[str] = []
    real = ecm.ingest.stage.raw_file

    def counting(path, *args, **kwargs):
        seen.append(str(path))
        return real(path, *args, **kwargs)

    monkeypatch.setattr(ecm.ingest.stage, "raw_file", counting)
    return seen


def test_a_second_month_reads_only_the_new_drops_and_equals_a_full_ingest(
    tmp_path, warehouse, rules, read_files
):
    feeds = month_one(tmp_path / "feeds")
    first = ingest(warehouse, feeds, rules, tmp_path / "w1")
    assert first.feeds["medical_claim"].quarantined == 2
    assert len(read_files) == 2
    read_files.clear()

    month_two(feeds)
    second = ingest(warehouse, feeds, rules, tmp_path / "w2")

    assert sorted(Path(p).name for p in read_files) == ["2026-02.csv", "2026-02.csv"]
    assert second.files["medical_claim"] == {
        "staged": ["medical_claim/2026-02.csv"],
        "kept": ["medical_claim/2026-01.csv"],
        "dropped": [],
    }
    assert second.files["eligibility"]["kept"] == ["eligibility/2026-01.csv"]
    full, want = full_ingest(feeds, rules, tmp_path / "w3")
    assert_same(snapshot(warehouse), want)
    assert second.feeds == full.feeds
    assert second.claim_versions == full.claim_versions
    # the kept month-one claim of N, unknown in month one, is staged now that N enrolled
    assert "c3" in set(warehouse.sql("select claim_id from stg__medical_claim").pl()["claim_id"])
    assert warehouse.execute(
        "select rule from quarantine where feed = 'medical_claim'"
    ).fetchall() == [("unparseable_date",)]
    assert second.feeds["medical_claim"].read == 8


def test_a_removed_file_drops_out_and_a_changed_file_is_read_again(
    tmp_path, warehouse, rules, read_files
):
    feeds = month_two(month_one(tmp_path / "feeds"))
    ingest(warehouse, feeds, rules, tmp_path / "w1")
    read_files.clear()

    (feeds / "medical_claim" / "2026-02.csv").unlink()
    drop(feeds, "eligibility", "2026-02", [member("N")])  # same name, new content
    result = ingest(warehouse, feeds, rules, tmp_path / "w2")

    assert result.files["medical_claim"]["dropped"] == ["medical_claim/2026-02.csv"]
    assert result.files["eligibility"]["staged"] == ["eligibility/2026-02.csv"]
    assert [Path(p).name for p in read_files] == ["2026-02.csv"]
    claims = set(warehouse.sql("select claim_id from stg_checked__medical_claim").pl()["claim_id"])
    assert "c6" not in claims
    assert (
        warehouse.execute(
            "select count(*) from quarantine where source_file = 'medical_claim/2026-02.csv'"
        ).fetchall()[0][0]
        == 0
    )
    _full, want = full_ingest(feeds, rules, tmp_path / "w3")
    assert_same(snapshot(warehouse), want)


def test_a_member_removed_from_eligibility_quarantines_kept_claims_as_a_full_ingest_does(
    tmp_path, warehouse, rules
):
    feeds = month_one(tmp_path / "feeds")
    ingest(warehouse, feeds, rules, tmp_path / "w1")
    drop(feeds, "eligibility", "2026-01", [member("A"), member("Q")])  # B is gone
    result = ingest(warehouse, feeds, rules, tmp_path / "w2")
    # B's kept claim line now fails the member check: its raw row is needed, so the
    # claim file it is in is read again
    assert result.files["medical_claim"]["staged"] == ["medical_claim/2026-01.csv"]
    _full, want = full_ingest(feeds, rules, tmp_path / "w3")
    assert_same(snapshot(warehouse), want)


def test_an_unchanged_folder_reads_nothing_and_keeps_its_counts(
    tmp_path, warehouse, rules, read_files
):
    feeds = month_two(month_one(tmp_path / "feeds"))
    first = ingest(warehouse, feeds, rules, tmp_path / "w1")
    before = snapshot(warehouse)
    read_files.clear()
    again = ingest(warehouse, feeds, rules, tmp_path / "w2")
    assert read_files == []
    assert again.feeds == first.feeds
    assert again.warnings == first.warnings
    assert_same(snapshot(warehouse), before)


def test_a_changed_contract_or_staging_code_stages_every_file_again(
    tmp_path, warehouse, rules, read_files, monkeypatch
):
    feeds = month_one(tmp_path / "feeds")
    ingest(warehouse, feeds, rules, tmp_path / "w1")
    read_files.clear()
    real = ecm.ingest.staging_sha256
    monkeypatch.setattr(
        ecm.ingest,
        "staging_sha256",
        lambda c: real(c) if c.name != "medical_claim" else "another contract",
    )
    result = ingest(warehouse, feeds, rules, tmp_path / "w2")
    assert result.files["medical_claim"]["staged"] == ["medical_claim/2026-01.csv"]
    assert result.files["eligibility"]["staged"] == []
    _full, want = full_ingest(feeds, rules, tmp_path / "w3")
    assert_same(snapshot(warehouse), want)


def test_the_given_file_hashes_are_used_instead_of_hashing_again(tmp_path, warehouse, rules):
    feeds = month_one(tmp_path / "feeds")
    hashes = {"eligibility/2026-01.csv": "e" * 64, "medical_claim/2026-01.csv": "m" * 64}
    ingest(warehouse, feeds, rules, tmp_path / "w1", file_hashes=hashes)
    stored = dict(warehouse.execute("select source_file, sha256 from ingest_files").fetchall())
    assert stored == hashes


def test_unknown_columns_of_a_removed_file_leave_the_staged_table(tmp_path, warehouse, rules):
    feeds = month_one(tmp_path / "feeds")
    drop(feeds, "medical_claim", "2026-02", [line("c9", "A", "2026-02-02", region="north")])
    ingest(warehouse, feeds, rules, tmp_path / "w1")
    # The claims are kept whole: an unknown column is in the files as delivered, never in
    # the staged table (which stores what a run reads).
    assert "region" in warehouse.sql("select * from delivered__medical_claim").columns
    assert "region" not in warehouse.sql("select * from stg_checked__medical_claim").columns
    shutil.rmtree(feeds / "medical_claim")
    drop(feeds, "medical_claim", "2026-01", [line("c1", "A", "2026-01-05")])
    ingest(warehouse, feeds, rules, tmp_path / "w2")
    assert "region" not in warehouse.sql("select * from delivered__medical_claim").columns
    _full, want = full_ingest(feeds, rules, tmp_path / "w3")
    assert_same(snapshot(warehouse), want)


def test_columns_empty_in_every_row_are_not_stored_and_read_as_typed_nulls(
    tmp_path, warehouse, rules
):
    """The staged table stores only columns some row holds a value in (and those the
    staging model fills from another); stg__ shows every column of the model, typed (of
    the claims, kept whole, every column a run reads: person_id, filled from member_id,
    is not one). A column valued only in a file that is removed leaves the table, as a
    full ingest would build it."""
    feeds = month_one(tmp_path / "feeds")
    ingest(warehouse, feeds, rules, tmp_path / "w1")

    def stored():
        return set(warehouse.sql("select * from stg_checked__medical_claim").columns)

    def shown():
        return warehouse.sql("select * from stg__medical_claim")

    assert {"drg_code", "claim_line_end_date"}.isdisjoint(stored())
    assert "person_id" not in stored()
    view = shown()
    assert {"drg_code", "claim_line_end_date", "diagnosis_code_25"} <= set(view.columns)
    assert "person_id" not in view.columns
    kinds = dict(zip(view.columns, map(str, view.types), strict=True))
    assert kinds["claim_line_end_date"] == "DATE"
    drop(feeds, "medical_claim", "2026-02", [line("c9", "A", "2026-02-02", drg_code="470")])
    ingest(warehouse, feeds, rules, tmp_path / "w2")
    assert "drg_code" in stored()
    got = shown().pl().select("claim_id", "drg_code").sort("claim_id")
    assert got.filter(pl.col("claim_id") == "c9")["drg_code"].to_list() == ["470"]
    assert got.filter(pl.col("claim_id") == "c1")["drg_code"].to_list() == [None]
    (feeds / "medical_claim" / "2026-02.csv").unlink()
    ingest(warehouse, feeds, rules, tmp_path / "w3")
    assert "drg_code" not in stored()
    _full, want = full_ingest(feeds, rules, tmp_path / "w4")
    assert_same(snapshot(warehouse), want)


def test_a_warehouse_staged_before_the_files_table_is_staged_again_whole(
    tmp_path, warehouse, rules
):
    feeds = month_one(tmp_path / "feeds")
    ingest(warehouse, feeds, rules, tmp_path / "w1")
    warehouse.execute("drop table ingest_files")  # as an earlier ecm left it
    result = ingest(warehouse, feeds, rules, tmp_path / "w2")
    assert result.files["medical_claim"]["staged"] == ["medical_claim/2026-01.csv"]
    _full, want = full_ingest(feeds, rules, tmp_path / "w3")
    assert_same(snapshot(warehouse), want)


def test_a_kept_unknown_member_whose_eligibility_arrives_quarantined_changes_rule_in_place(
    tmp_path, warehouse, rules, read_files
):
    feeds = month_one(tmp_path / "feeds")
    ingest(warehouse, feeds, rules, tmp_path / "w1")
    read_files.clear()
    drop(feeds, "eligibility", "2026-02", [member("N", birth_date="not a date")])
    result = ingest(warehouse, feeds, rules, tmp_path / "w2")
    assert result.files["medical_claim"]["staged"] == []  # updated, not read again
    assert [Path(p).name for p in read_files] == ["2026-02.csv"]
    assert warehouse.execute(
        "select rule from quarantine where feed = 'medical_claim' order by line"
    ).fetchall() == [("member_eligibility_quarantined",), ("unparseable_date",)]
    full, want = full_ingest(feeds, rules, tmp_path / "w3")
    assert_same(snapshot(warehouse), want)
    assert result.feeds == full.feeds


def test_a_feed_whose_member_check_warns_is_staged_again_when_eligibility_changes(
    tmp_path, warehouse, rules, monkeypatch
):
    contracts = {
        name: dataclasses.replace(c, member_severity="warn") if name == "medical_claim" else c
        for name, c in load_contracts().items()
    }
    monkeypatch.setattr(ecm.ingest, "load_contracts", lambda: contracts)
    feeds = month_one(tmp_path / "feeds")
    first = ingest(warehouse, feeds, rules, tmp_path / "w1")
    assert first.feeds["medical_claim"].quarantined == 1  # only the bad date: N is a warning
    drop(feeds, "eligibility", "2026-02", [member("N")])
    result = ingest(warehouse, feeds, rules, tmp_path / "w2")
    assert result.files["medical_claim"]["staged"] == ["medical_claim/2026-01.csv"]
    assert [w["rule"] for w in first.warnings if w["feed"] == "medical_claim"] == ["unknown_member"]
    assert not [w for w in result.warnings if w["rule"] == "unknown_member"]
    _full, want = full_ingest(feeds, rules, tmp_path / "w3")
    assert_same(snapshot(warehouse), want)


def _counted(con: duckdb.DuckDBPyConnection) -> dict[str, int]:
    """The claim counts, counted from the staged lines themselves."""
    row = con.execute(
        "select (select count(*) from stg__medical_claim), "
        "(select count(*) from int__medical_claim_version), "
        "(select count(*) from int__medical_claim_current), "
        "(select count(distinct (data_source, claim_id)) from int__medical_claim_current)"
    ).fetchall()[0]
    return dict(
        zip(("staged_lines", "staged_claims", "current_lines", "current_claims"), row, strict=True)
    )


def test_the_claim_counts_are_the_current_claims_lines_full_and_incremental(
    tmp_path, warehouse, rules
):
    """current_lines comes from the version table's `lines`, not from a count over the
    current view: the same figure, after a full ingest and after a second month with a
    new version of c1 and a void of c2."""
    feeds = month_one(tmp_path / "feeds")
    first = ingest(warehouse, feeds, rules, tmp_path / "w1")
    assert first.claim_versions == _counted(warehouse)
    month_two(feeds)
    second = ingest(warehouse, feeds, rules, tmp_path / "w2")
    assert second.files["medical_claim"]["kept"]  # incremental
    assert second.claim_versions == _counted(warehouse)
    assert second.claim_versions["current_lines"] < second.claim_versions["staged_lines"]


@pytest.mark.parametrize("count", ["lines", "versions"])
def test_a_version_table_of_an_earlier_ecm_without_line_counts_is_rebuilt(
    tmp_path, warehouse, rules, count
):
    feeds = month_one(tmp_path / "feeds")
    ingest(warehouse, feeds, rules, tmp_path / "w1")
    warehouse.execute(f"alter table int__medical_claim_version drop column {count}")
    month_two(feeds)
    second = ingest(warehouse, feeds, rules, tmp_path / "w2")
    assert second.files["medical_claim"]["kept"]
    assert second.claim_versions == _counted(warehouse)
    _full, want = full_ingest(feeds, rules, tmp_path / "w3")
    assert_same(snapshot(warehouse), want)
