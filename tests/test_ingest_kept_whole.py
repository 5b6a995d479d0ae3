"""A feed kept whole (issue #18; ecm.ingest.delivered, outputs.md "What the warehouse is"):
the claims' files are kept as delivered in the warehouse's folder, named by their sha256
and queryable as `delivered__medical_claim` (every column, unknown ones too, every row with
its file and line, quarantined rows too), while the staged table stores only the columns a
run reads. A file kept before is not copied again; a set removed by hand makes its file
staged again; a run prunes the sets its warehouse no longer names, and a refused run
changes none."""

from __future__ import annotations

import datetime as dt
import hashlib
import shutil
from pathlib import Path

import duckdb
import polars as pl
import pytest

from data_contracts import ContractError, load_contract, parse_contract
from data_contracts import _read_toml as read_toml
from ecm.errors import SanityGuardError
from ecm.ingest import ingest
from ecm.ingest.delivered import DELIVERED, PARQUET_NAME, named_sets_sql
from ecm.warehouse.kept import COMPLETE, files_folder
from tests.feeds import line, member, write_feed

CLAIMS = load_contract("medical_claim")


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _feeds(folder: Path, *, suffix: str = ".csv") -> Path:
    write_feed(folder, "eligibility", [member("A"), member("B")])
    rows = [
        line("c1", "A", "2026-01-05", paid_amount="12.50", plan_note="first"),
        line("c2", "B", "2026-02-05", paid_amount="7", plan_note="second"),
        line("c3", "Z", "2026-02-06", plan_note="no such member"),  # quarantined
    ]
    if suffix == ".parquet":
        folder.mkdir(parents=True, exist_ok=True)
        columns = [*CLAIMS.columns, "plan_note"]
        frame = pl.DataFrame([{c: r.get(c) for c in columns} for r in rows], schema=columns)
        frame.write_parquet(folder / "medical_claim.parquet")
    else:
        write_feed(folder, "medical_claim", rows, suffix=suffix)
    return folder


def _keys(house: Path) -> set[str]:
    """The sets the warehouse names (one per claims file it stages)."""
    with duckdb.connect(str(house), read_only=True) as con:
        return {key for (key,) in con.execute(named_sets_sql()).fetchall()}


def _set(house: Path) -> Path:
    (key,) = _keys(house)
    return files_folder(house) / DELIVERED / key


def _ingest(house: Path, feeds: Path, rules, work: Path, **options):
    with duckdb.connect(str(house)) as con:
        result = ingest(con, feeds, rules, work, **options)
        staged = con.sql("select * from stg__medical_claim").pl()
        stored = [r[0] for r in con.execute("describe stg_checked__medical_claim").fetchall()]
        delivered = con.sql("select * from delivered__medical_claim order by _line").pl()
    return result, staged, stored, delivered


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_the_claims_are_kept_as_delivered_and_the_table_stores_what_a_run_reads(
    tmp_path, rules, suffix
):
    feeds = _feeds(tmp_path / "feeds", suffix=suffix)
    house = tmp_path / "w" / "warehouse.duckdb"
    house.parent.mkdir()
    result, staged, stored, delivered = _ingest(house, feeds, rules, tmp_path / "work")
    claims = result.feeds["medical_claim"]
    assert (claims.read, claims.staged, claims.quarantined) == (3, 2, 1)

    # Every delivered row, the quarantined one too, every column, an unknown one too.
    assert delivered.height == claims.read
    # A text file's lines (the header is line 1), a Parquet file's rows.
    assert delivered["_line"].to_list() == ([2, 3, 4] if suffix == ".csv" else [1, 2, 3])
    assert delivered["_source_file"].unique().to_list() == [f"medical_claim{suffix}"]
    assert delivered["plan_note"].to_list() == ["first", "second", "no such member"]
    assert delivered["paid_amount"].to_list() == ["12.50", "7", None]
    assert delivered["claim_id"].to_list() == ["c1", "c2", "c3"]

    # The staged table: the row key, the verdicts and the stored columns it delivered.
    assert "paid_amount" not in stored and "plan_note" not in stored
    assert {"claim_id", "member_id", "diagnosis_code_1", "file_date"} <= set(stored)
    assert set(stored) <= {"_source_file", "_line", "_reject", "_warn", *CLAIMS.stored_columns}
    assert staged.columns == ["_source_file", "_line"] + [
        c for c in CLAIMS.columns if c in CLAIMS.stored_columns
    ]
    assert sorted(staged["claim_id"]) == ["c1", "c2"]

    # The set, in the folder beside the warehouse.
    source = feeds / f"medical_claim{suffix}"
    folder = _set(house)
    assert (folder / COMPLETE).is_file()
    if suffix == ".parquet":
        assert _sha256(folder / PARQUET_NAME) == _sha256(source)  # byte for byte


def test_a_file_kept_before_is_not_copied_again_and_a_set_removed_by_hand_is_kept_again(
    tmp_path, rules
):
    feeds = _feeds(tmp_path / "feeds", suffix=".parquet")
    house = tmp_path / "w" / "warehouse.duckdb"
    house.parent.mkdir()
    first = _ingest(house, feeds, rules, tmp_path / "work1")
    folder = _set(house)
    written = (folder / PARQUET_NAME).stat().st_mtime_ns

    again = _ingest(house, feeds, rules, tmp_path / "work2")
    assert again[0].files["medical_claim"]["staged"] == []
    assert (folder / PARQUET_NAME).stat().st_mtime_ns == written
    assert again[3].equals(first[3])

    shutil.rmtree(folder)
    third = _ingest(house, feeds, rules, tmp_path / "work3")
    assert third[0].files["medical_claim"]["staged"] == ["medical_claim.parquet"]
    assert (folder / COMPLETE).is_file()
    assert third[3].equals(first[3]) and third[1].sort("claim_id").equals(first[1].sort("claim_id"))


def test_a_set_missing_a_file_it_lists_is_not_kept_and_is_written_again(tmp_path, rules):
    feeds = _feeds(tmp_path / "feeds", suffix=".csv")
    house = tmp_path / "w" / "warehouse.duckdb"
    house.parent.mkdir()
    first = _ingest(house, feeds, rules, tmp_path / "work1")
    folder = _set(house)
    (part,) = [p for p in folder.iterdir() if p.suffix == ".parquet"]
    part.unlink()  # cut short: its .complete.json names a file that is not there
    again = _ingest(house, feeds, rules, tmp_path / "work2")
    assert again[0].files["medical_claim"]["staged"] == ["medical_claim.csv"]
    assert part.is_file()
    assert again[3].equals(first[3])


def test_the_view_reads_from_any_folder_when_the_warehouse_was_named_relatively(
    tmp_path, rules, monkeypatch
):
    feeds = _feeds(tmp_path / "feeds", suffix=".csv")
    (tmp_path / "w").mkdir()
    monkeypatch.chdir(tmp_path / "w")
    with duckdb.connect("warehouse.duckdb") as con:
        ingest(con, feeds, rules, tmp_path / "work")
    monkeypatch.chdir(tmp_path)
    with duckdb.connect(str(tmp_path / "w" / "warehouse.duckdb"), read_only=True) as con:
        rows = con.execute("select count(*) from delivered__medical_claim").fetchall()[0][0]
    assert rows == 3


def test_an_ingest_told_to_keep_nothing_keeps_nothing(tmp_path, rules):
    """`ecm validate` into its temporary warehouse: the claims staged narrow, no copy."""
    feeds = _feeds(tmp_path / "feeds", suffix=".parquet")
    house = tmp_path / "w" / "warehouse.duckdb"
    house.parent.mkdir()
    with duckdb.connect(str(house)) as con:
        result = ingest(con, feeds, rules, tmp_path / "work", keep_whole=False)
        views = con.execute(
            "select count(*) from duckdb_views() where view_name = 'delivered__medical_claim'"
        ).fetchall()[0][0]
    assert result.feeds["medical_claim"].staged == 2
    assert views == 0
    assert not files_folder(house).exists()


def test_a_kept_whole_contract_must_store_what_it_reads_of_the_staged_table():
    data = read_toml(CLAIMS.path)
    data["stored_columns"] = [c for c in data["stored_columns"] if c != "hcpcs_code"]
    with pytest.raises(ContractError, match=r"stored_columns.*lacks hcpcs_code"):
        parse_contract(CLAIMS.path, data)
    data["stored_columns"] = [*data["stored_columns"], "no_such_column"]
    with pytest.raises(ContractError, match="stored_columns"):
        parse_contract(CLAIMS.path, data)


# --- runs: the sets a warehouse names, pruned under the run's lock ---------------------

AS_OF = dt.date(2026, 10, 31)
RULES = Path(__file__).resolve().parent.parent / "reference" / "rules.toml"


@pytest.fixture(scope="module")
def generated(tmp_path_factory) -> Path:
    from ecm.generate import generate_feeds

    folder = tmp_path_factory.mktemp("kept_whole") / "feeds"
    generate_feeds(folder, members=400, months=24, end=AS_OF, seed=5, fmt="csv")
    return folder


def _run(feeds: Path, out: Path, warehouse: Path, rules=None) -> dict:
    from flows.monthly import monthly

    return monthly(input_dir=feeds, as_of=AS_OF, out_dir=out, warehouse=warehouse, rules_file=rules)


def _kept(warehouse: Path) -> set[str]:
    root = files_folder(warehouse) / DELIVERED
    return {d.name for d in root.iterdir()} if root.is_dir() else set()


def _claim_files(feeds: Path) -> list[Path]:
    return sorted(p for p in (feeds / "medical_claim").iterdir() if p.is_file())


@pytest.mark.flow
def test_a_run_keeps_the_claims_files_it_stages_and_prunes_those_gone(harness, generated, tmp_path):
    house = tmp_path / "w" / "warehouse.duckdb"
    _run(generated, tmp_path / "a", house)
    first = _kept(house)
    assert first == _keys(house) and len(first) == len(_claim_files(generated))
    modes = {p.stat().st_mode & 0o777 for p in files_folder(house).joinpath(DELIVERED).rglob("*")}
    assert all(m & 0o077 == 0 for m in modes)  # owner only, as the warehouse is
    assert not list(house.parent.glob(".*work*"))  # the run's work folder went

    changed = tmp_path / "feeds"
    shutil.copytree(generated, changed)
    _claim_files(changed)[-1].unlink()
    _run(changed, tmp_path / "b", house)
    after = _kept(house)
    assert after == _keys(house) and len(after) == len(_claim_files(changed))
    assert after < first  # the gone file's set removed, the others kept as they were
    with duckdb.connect(str(house), read_only=True) as con:
        files, rows = con.execute(
            "select count(distinct _source_file), count(*) from delivered__medical_claim"
        ).fetchall()[0]
        staged = con.execute(
            "select sum(rows_read) from ingest_files where feed = 'medical_claim'"
        ).fetchall()[0][0]
    assert (files, rows) == (len(_claim_files(changed)), staged)


@pytest.mark.flow
def test_a_refused_run_changes_no_kept_claims_file(harness, generated, tmp_path):
    house = tmp_path / "w" / "warehouse.duckdb"
    _run(generated, tmp_path / "a", house)
    before = {p: p.stat().st_mtime_ns for p in files_folder(house).rglob("*") if p.is_file()}
    changed = tmp_path / "feeds"
    shutil.copytree(generated, changed)
    sorted((changed / "medical_claim").iterdir())[-1].unlink()
    text = RULES.read_text(encoding="utf-8")
    strict = tmp_path / "strict.toml"
    strict.write_text(
        text.replace("min_enrolled_members = 1", "min_enrolled_members = 10000000", 1),
        encoding="utf-8",
    )
    with pytest.raises(SanityGuardError):
        _run(changed, tmp_path / "b", house, rules=strict)
    after = {p: p.stat().st_mtime_ns for p in files_folder(house).rglob("*") if p.is_file()}
    assert after == before  # no set added, moved or removed beside the warehouse
