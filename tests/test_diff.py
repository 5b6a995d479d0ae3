"""`ecm diff` (issue #18): what rules file B would change against A over what the warehouse
staged, on the high-utiliser story (tests/story.py). Each side equals a monthly run with
its rules file; the warehouse and every other output folder are left as they were; --out
is written all or nothing; the exit codes."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import shutil
import signal
import stat
import subprocess
import sys
from pathlib import Path

import duckdb
import polars as pl
import pytest
from click.testing import CliRunner

from ecm.cli import main
from ecm.config.paths import DEFAULT_RULES_FILE
from ecm.config.rules import load_rules
from ecm.errors import InputError, OutputError, RulesError
from tests.rules_file import DEFAULT_DATA, to_toml, with_setting
from tests.story import AS_OF, write_story
from transforms.rules_diff import GAINED, LOST, change_counts, members_changed, rules_diff

D = dt.date
B_SETTINGS = {
    # the DHCS 6-month adult window, with 2 avoidable ED visits enough: K's three stays
    # fall out of it (lost), B and L have 2 visits in it (gained)
    "populations.HIGH_UTIL_ADULT.lookback_months": 6,
    "populations.HIGH_UTIL_ADULT.min_avoidable_ed_visits": 2,
    # a higher ED threshold for children: CH3's 3 visits no longer qualify (lost)
    "populations.HIGH_UTIL_CHILD.min_avoidable_ed_visits": 4,
    # a longer long lookback: the shard inputs read the diagnoses from B's earlier start,
    # which must change nothing under A
    "time.long_lookback_months": 36,
}
SIDE_COLUMNS = [
    "member_id",
    "pof_code",
    "age_group",
    "qualifying_date",
    "provider_npi",
    "evidence_summary",
    "excluded_by",
]


def _rules_file(folder: Path, settings: dict, name: str) -> Path:
    data = DEFAULT_DATA
    for dotted, value in settings.items():
        data = with_setting(dotted, value, data)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(to_toml(data), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def story(tmp_path_factory) -> Path:
    return write_story(tmp_path_factory.mktemp("diff") / "feeds")


@pytest.fixture(scope="module")
def rules_b(tmp_path_factory) -> Path:
    return _rules_file(tmp_path_factory.mktemp("rules"), B_SETTINGS, "rules-b.toml")


@pytest.fixture(scope="module")
def run_a(harness, story, tmp_path_factory) -> Path:
    """A monthly run with the packaged rules (A): out/2026-10 and out/warehouse.duckdb."""
    from flows.monthly import monthly

    out = tmp_path_factory.mktemp("run-a") / "out"
    monthly(input_dir=story, as_of=AS_OF, out_dir=out / "2026-10")
    return out


@pytest.fixture(scope="module")
def run_b(harness, story, rules_b, tmp_path_factory) -> Path:
    """A monthly run with rules B over the same feeds, in a warehouse of its own."""
    from flows.monthly import monthly

    out = tmp_path_factory.mktemp("run-b") / "out"
    monthly(input_dir=story, as_of=AS_OF, out_dir=out / "2026-10", rules_file=rules_b)
    return out


def _assignments(run: Path) -> pl.DataFrame:
    return pl.read_parquet(run / "2026-10" / "assignments.parquet")


def _expected_diff(a: pl.DataFrame, b: pl.DataFrame) -> list[tuple]:
    keys = ["member_id", "pof_code"]
    gained = b.join(a, on=keys, how="anti").with_columns(change=pl.lit(GAINED))
    lost = a.join(b, on=keys, how="anti").with_columns(change=pl.lit(LOST))
    columns = ["member_id", "pof_code", "change", "provider_npi"]
    return sorted(pl.concat([gained.select(columns), lost.select(columns)]).rows())


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _listing(folder: Path) -> dict[str, tuple[int, int]]:
    """Every path under `folder` with its size and mtime (ns)."""
    return {
        str(p.relative_to(folder)): (p.stat().st_size, p.stat().st_mtime_ns)
        for p in sorted(folder.rglob("*"))
    }


# --- the comparison, pure --------------------------------------------------------------


def _side(*rows: tuple) -> pl.LazyFrame:
    return pl.LazyFrame(
        rows,
        schema=["member_id", "pof_code", "age_group", "provider_npi"],
        orient="row",
    )


def test_a_pair_held_under_one_rules_file_only_is_gained_or_lost():
    a = _side(
        ("M1", "HIGH_UTIL_ADULT", "adult", "1111111111"),
        ("M2", "HIGH_UTIL_CHILD", "child_youth", None),
        ("M3", "SMI_SUD_ADULT", "adult", "2222222222"),
    )
    b = _side(
        ("M1", "HIGH_UTIL_ADULT", "adult", "1111111111"),  # held under both: no row
        ("M0", "HIGH_UTIL_ADULT", "adult", "2222222222"),
        ("M3", "HOMELESS_ADULT", "adult", "2222222222"),
    )
    diff = rules_diff(a, b).collect()
    assert diff.columns == ["member_id", "pof_code", "change", "provider_npi", "age_group"]
    assert diff.rows() == [
        ("M0", "HIGH_UTIL_ADULT", GAINED, "2222222222", "adult"),
        ("M2", "HIGH_UTIL_CHILD", LOST, None, "child_youth"),
        ("M3", "HOMELESS_ADULT", GAINED, "2222222222", "adult"),
        ("M3", "SMI_SUD_ADULT", LOST, "2222222222", "adult"),
    ]
    assert rules_diff(a, a).collect().height == 0
    by_provider = change_counts(diff.lazy(), ["provider_npi"]).collect()
    assert by_provider.rows() == [("2222222222", 2, 1), (None, 0, 1)]  # no provider last
    assert change_counts(diff.lazy(), ["age_group"]).collect().rows() == [
        ("adult", 2, 1),
        ("child_youth", 0, 1),
    ]
    assert members_changed(diff.lazy()).collect().row(0) == (2, 2)  # M3 both gains and loses


def test_the_settings_that_differ_are_listed_with_both_values(rules_b):
    from ecm.diff.build import settings_changed

    changed = settings_changed(load_rules(), load_rules(rules_b))
    assert changed == [
        {"setting": "populations.HIGH_UTIL_ADULT.lookback_months", "a": "(not set)", "b": "6"},
        {"setting": "populations.HIGH_UTIL_ADULT.min_avoidable_ed_visits", "a": "5", "b": "2"},
        {"setting": "populations.HIGH_UTIL_CHILD.min_avoidable_ed_visits", "a": "3", "b": "4"},
        {"setting": "time.long_lookback_months", "a": "24", "b": "36"},
    ]
    assert settings_changed(load_rules(), load_rules()) == []


# --- each side is a monthly run's ------------------------------------------------------


@pytest.mark.flow
def test_each_side_equals_a_monthly_run_with_its_rules_file(run_a, run_b, rules_b, tmp_path):
    """Both rules files over one set of shard inputs (B's longer history, 3 shards): each
    side's assignments are those `ecm run` with that rules file wrote."""
    from ecm.diff import sides
    from ecm.diff.staged import read_staged
    from ecm.run import interrupts

    warehouse = run_a / "warehouse.duckdb"
    with interrupts.connect(str(warehouse), read_only=True) as con:
        staged = read_staged(con, warehouse)
        pair = [
            sides.Side.of("a", "--rules", load_rules(), AS_OF),
            sides.Side.of("b", "--rules", load_rules(rules_b), AS_OF),
        ]
        assert pair[1].dates.history_start < pair[0].dates.history_start
        shard_set = sides.shard_inputs(
            con, warehouse, tmp_path / "shards", pair, staged.feeds, shards=3
        )
    assert shard_set.shards == 3 and not shard_set.reused  # the run kept 1 shard's
    for side, run in zip(pair, (run_a, run_b), strict=True):
        merged = sides.evaluate(side, shard_set, tmp_path / "results")
        got = pl.read_parquet(merged.files["assignments"]).select(SIDE_COLUMNS)
        assert got.equals(_assignments(run).select(SIDE_COLUMNS)), side.label
    monthly_b = json.loads((run_b / "2026-10" / "summary.json").read_text())
    assert merged.counts["population_status"] == {
        code: {"status": p["status"], "missing_feeds": p["missing_feeds"]}
        for code, p in monthly_b["populations"].items()
    }


@pytest.mark.flow
def test_the_diff_borrows_the_shard_inputs_the_last_run_kept(run_a, rules_b, tmp_path):
    """The last run's kept set (ecm.shards.inputs), linked into the diff's work folder, not
    written again; the set beside the warehouse keeps its files."""
    from ecm.diff import sides
    from ecm.diff.staged import read_staged
    from ecm.run import interrupts
    from ecm.warehouse.kept import files_folder

    warehouse = run_a / "warehouse.duckdb"
    kept = {p: p.read_bytes() for p in files_folder(warehouse).rglob("*") if p.is_file()}
    assert kept
    with interrupts.connect(str(warehouse), read_only=True) as con:
        staged = read_staged(con, warehouse)
        pair = [
            sides.Side.of("a", "--rules", load_rules(), AS_OF),
            sides.Side.of("b", "--rules", load_rules(rules_b), AS_OF),
        ]
        shard_set = sides.shard_inputs(con, warehouse, tmp_path / "shards", pair, staged.feeds)
    assert shard_set.reused and shard_set.root == tmp_path / "shards"
    assert {p: p.read_bytes() for p in files_folder(warehouse).rglob("*") if p.is_file()} == kept


@pytest.mark.flow
def test_diff_gains_and_losses_are_those_of_two_monthly_runs(run_a, run_b, rules_b):
    from ecm.diff.build import write_diff

    out = run_a / "diff-b"
    summary = write_diff([DEFAULT_RULES_FILE, rules_b], out)
    diff = pl.read_parquet(out / "diff.parquet")
    assert diff.columns == ["member_id", "pof_code", "change", "provider_npi"]
    assert diff.rows() == _expected_diff(_assignments(run_a), _assignments(run_b))
    assert set(diff["change"]) == {GAINED, LOST}
    assert diff.rows() == diff.sort("member_id", "pof_code").rows()
    assert (summary["gained"], summary["lost"]) == (2, 2)
    adult = summary["populations"]["HIGH_UTIL_ADULT"]
    assert (adult["gained"], adult["lost"]) == (2, 1)
    assert adult["a"] == {"status": "evaluated", "missing_feeds": [], "members": 4}
    assert adult["b"]["members"] == 5
    assert summary["populations"]["HIGH_UTIL_CHILD"]["by_age_group"]["child_youth"] == {
        GAINED: 0,
        LOST: 1,
    }
    assert summary["populations"]["JUSTICE_ADULT"]["a"]["members"] is None  # not evaluated
    assert summary["age_groups"] == {
        "adult": {GAINED: 2, LOST: 1},
        "child_youth": {GAINED: 0, LOST: 1},
    }
    assert summary["providers"] == [{"provider_npi": None, GAINED: 2, LOST: 2}]
    assert summary["rules"]["b"]["sha256"] == load_rules(rules_b).sha256
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["written_by"] == "ecm" and manifest["command"] == "ecm diff"
    assert {f["path"] for f in manifest["files"]} == {"diff.parquet", "diff.html"}
    assert sorted(p.name for p in out.iterdir()) == ["diff.html", "diff.parquet", "manifest.json"]
    page = (out / "diff.html").read_text()
    for fact in ("HIGH_UTIL_ADULT", "2026-10-31", summary["rules"]["a"]["sha256"],
                 load_rules(rules_b).sha256, "populations.HIGH_UTIL_ADULT.lookback_months",
                 "<svg", "no ECM provider on the as-of date"):  # fmt: skip
        assert fact in page, fact
    assert "<script" not in page
    # counts only: no member id of the diff is on the page
    for member_id in diff["member_id"]:
        assert f"<td>{member_id}</td>" not in page and f"<code>{member_id}</code>" not in page
    assert "CH3" in diff["member_id"] and "CH3" not in page
    # owner-only, as a run's folder
    assert stat.S_IMODE(out.stat().st_mode) == 0o700
    assert {stat.S_IMODE(p.stat().st_mode) for p in out.iterdir()} == {0o600}


@pytest.mark.flow
def test_with_one_rules_file_a_is_the_latest_runs_rules_read_back_from_history(
    run_a, run_b, rules_b
):
    from ecm.diff.build import write_diff

    out = run_a / "diff-one"
    summary = write_diff([rules_b], out)
    assert summary["rules"]["a"]["sha256"] == load_rules().sha256
    assert summary["rules"]["a"]["from"].startswith("the rules file of the run of 2026-10-31")
    assert summary["rules"]["a"]["path"] == str(DEFAULT_RULES_FILE.resolve())
    assert summary["as_of_date"] == "2026-10-31"  # the latest run's, by default
    diff = pl.read_parquet(out / "diff.parquet")
    assert diff.rows() == _expected_diff(_assignments(run_a), _assignments(run_b))


@pytest.mark.flow
def test_identical_rules_give_an_empty_diff_with_its_columns(run_a):
    from ecm.diff.build import write_diff

    out = run_a / "diff-same"
    summary = write_diff([DEFAULT_RULES_FILE, DEFAULT_RULES_FILE], out)
    diff = pl.read_parquet(out / "diff.parquet")
    assert diff.height == 0
    assert diff.schema == pl.Schema(
        {"member_id": pl.String, "pof_code": pl.String, "change": pl.String,
         "provider_npi": pl.String}
    )  # fmt: skip
    assert (summary["gained"], summary["lost"], summary["settings_changed"]) == (0, 0, [])
    assert summary["providers"] == []
    assert "No member gains or loses a population." in (out / "diff.html").read_text()


@pytest.mark.flow
def test_the_warehouse_and_the_runs_output_are_left_as_they_were(run_a, rules_b):
    """Bytes and mtime of the warehouse, and of every file beside it (the run's folder
    among them): only --out is new."""
    from ecm.diff.build import write_diff

    warehouse = run_a / "warehouse.duckdb"
    before_sha, before = _sha(warehouse), _listing(run_a)
    out = run_a / "diff-untouched"
    write_diff([DEFAULT_RULES_FILE, rules_b], out, as_of=D(2026, 9, 30))
    after = _listing(run_a)
    assert _sha(warehouse) == before_sha
    assert {k: v for k, v in after.items() if not k.startswith("diff-untouched")} == before
    assert json.loads((out / "manifest.json").read_text())["as_of_date"] == "2026-09-30"
    with duckdb.connect(str(warehouse), read_only=True) as con:
        names = {r[0] for r in con.sql("select table_name from duckdb_tables()").fetchall()}
    assert not names & {"int__member_household", "int__member_shard"}  # no run wrote them


@pytest.mark.flow
def test_a_failed_diff_leaves_the_earlier_diff_as_it_was(run_a, rules_b, monkeypatch):
    from ecm.diff import build

    out = run_a / "diff-kept"
    build.write_diff([DEFAULT_RULES_FILE, DEFAULT_RULES_FILE], out)
    before = {p.name: _sha(p) for p in out.iterdir()}

    def broken(_summary):
        raise RuntimeError("the page failed")

    monkeypatch.setattr(build, "render_diff_page", broken)
    with pytest.raises(RuntimeError, match="the page failed"):
        build.write_diff([DEFAULT_RULES_FILE, rules_b], out)
    assert {p.name: _sha(p) for p in out.iterdir()} == before
    assert [p.name for p in run_a.iterdir() if ".diff-kept" in p.name] == []  # no temporary
    monkeypatch.undo()
    build.write_diff([DEFAULT_RULES_FILE, rules_b], out)  # a diff replaces its own output
    assert pl.read_parquet(out / "diff.parquet").height == 4


# --- what is refused (exit 2) ----------------------------------------------------------


def _diff(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, ["diff", *args])
    return result.exit_code, result.output


@pytest.mark.flow
def test_the_command_prints_the_changes_or_json(run_a, rules_b):
    code, output = _diff(
        "--rules", str(DEFAULT_RULES_FILE), "--rules", str(rules_b), "--out",
        str(run_a / "diff-cli"),
    )  # fmt: skip
    assert code == 0, output
    assert "ecm diff as of 2026-10-31" in output
    assert "populations.HIGH_UTIL_ADULT.min_avoidable_ed_visits 5 -> 2" in output
    line = next(x for x in output.splitlines() if x.startswith("HIGH_UTIL_ADULT"))
    assert line.split() == ["HIGH_UTIL_ADULT", "4", "5", "2", "1"]
    assert "2 member-populations gained (2 members), 2 lost (2 members)" in output
    # A is the run's rules file over what the run read: its recorded assignments are read.
    assert "A: the assignments a recorded run made from the same staged inputs" in output
    code, output = _diff(
        "--rules", str(rules_b), "--out", str(run_a / "diff-cli"), "--json", "--quiet"
    )
    assert code == 0, output
    summary = json.loads(output.strip().splitlines()[-1])
    assert (summary["gained"], summary["lost"]) == (2, 2)
    assert summary["sides_recorded"] == ["a"]
    assert {"shard_inputs", "recorded", "rules_b", "write"} <= set(summary["timings_seconds"])


@pytest.mark.flow
def test_a_run_recorded_before_its_rules_were_kept_needs_two_rules_files(run_a, rules_b, tmp_path):
    old = tmp_path / "old" / "warehouse.duckdb"
    old.parent.mkdir()
    shutil.copyfile(run_a / "warehouse.duckdb", old)
    with duckdb.connect(str(old)) as con:
        con.execute("update runs set rules_text = null, rules_path = null")
    code, output = _diff("--rules", str(rules_b), "--out", str(old.parent / "diff"))
    assert code == 2
    assert "was recorded before ecm kept a run's rules file" in output
    assert "Pass two --rules" in output
    code, output = _diff(
        "--rules", str(DEFAULT_RULES_FILE), "--rules", str(rules_b), "--out",
        str(old.parent / "diff"), "--quiet",
    )  # fmt: skip
    assert code == 0, output


@pytest.mark.flow
@pytest.mark.parametrize(
    ("case", "message"),
    [
        ("no warehouse", "There is no warehouse"),
        ("not a warehouse", "is not a DuckDB database file"),
        ("no run", "records no ecm run"),
        ("bad rules", "time.lookback_months = 0: expected a whole number of months"),
        ("void frequency", 'claims.void_bill_type_frequency = "7"'),
        ("a run's folder", "holds the output of ecm run"),
        ("inside a run's folder", "an earlier ecm output"),
        ("three rules", "--rules is given 3 times"),
    ],
)
def test_what_cannot_be_used_is_exit_2(run_a, rules_b, tmp_path, case, message):
    warehouse = run_a / "warehouse.duckdb"
    rules = [str(DEFAULT_RULES_FILE), str(rules_b)]
    out = tmp_path / "diff"
    if case == "no warehouse":
        warehouse = tmp_path / "none.duckdb"
    elif case == "not a warehouse":
        warehouse = tmp_path / "notes.duckdb"
        warehouse.write_text("not a database\n")
    elif case == "no run":
        warehouse = tmp_path / "staged.duckdb"
        with duckdb.connect(str(warehouse)) as con:
            con.execute("create table ingest_files (feed varchar)")
    elif case == "bad rules":
        rules[1] = str(_rules_file(tmp_path, {"time.lookback_months": 0}, "bad.toml"))
    elif case == "void frequency":
        rules[1] = str(_rules_file(tmp_path, {"claims.void_bill_type_frequency": "7"}, "void.toml"))
    elif case == "a run's folder":
        out = run_a / "2026-10"
    elif case == "inside a run's folder":
        out = run_a / "2026-10" / "diff"
    elif case == "three rules":
        rules.append(str(rules_b))
    before = _listing(run_a)
    args = [x for r in rules for x in ("--rules", r)]
    code, output = _diff(*args, "--warehouse", str(warehouse), "--out", str(out))
    assert code == 2, output
    assert message in " ".join(output.split()), output
    assert _listing(run_a) == before
    assert not out.exists() or case == "a run's folder"


def test_the_errors_are_the_projects(tmp_path):
    """Each refusal is one of ecm.errors' (exit 2), raised before anything is written."""
    from ecm.diff.build import write_diff

    with pytest.raises(InputError, match="two rules files"):
        write_diff([], tmp_path / "out")
    with pytest.raises(RulesError, match="does not exist"):
        write_diff([tmp_path / "missing.toml"], tmp_path / "out")
    with pytest.raises(InputError, match="There is no warehouse"):
        write_diff([DEFAULT_RULES_FILE], tmp_path / "out")
    assert list(tmp_path.iterdir()) == []


def test_an_output_folder_of_another_command_or_not_ecms_is_refused(tmp_path):
    from ecm.diff.build import refuse_other_outputs

    refuse_other_outputs(tmp_path / "new")  # new, empty: fine
    quarterly = tmp_path / "q"
    quarterly.mkdir()
    (quarterly / "manifest.json").write_text('{"written_by": "ecm", "command": "ecm quarterly"}')
    with pytest.raises(OutputError, match="holds the output of ecm quarterly"):
        refuse_other_outputs(quarterly)
    with pytest.raises(OutputError, match="lies inside"):
        refuse_other_outputs(quarterly / "diff")
    earlier = tmp_path / "d"
    earlier.mkdir()
    (earlier / "manifest.json").write_text('{"written_by": "ecm", "command": "ecm diff"}')
    refuse_other_outputs(earlier)


@pytest.mark.flow
def test_an_interrupted_diff_ends_and_leaves_everything_as_it_was(run_a, rules_b):
    """SIGTERM while rules B is evaluated (A is the run's, read from its history): exit 143
    with the sentence, --out (an earlier diff) and the warehouse's folder as they were, no
    temporary folder or lock left."""
    from ecm.diff.build import write_diff

    out = run_a / "diff-interrupted"
    write_diff([DEFAULT_RULES_FILE, DEFAULT_RULES_FILE], out)
    before = _listing(run_a)
    ecm = Path(sys.executable).parent / "ecm"
    args = [str(ecm), "diff", "--rules", str(DEFAULT_RULES_FILE), "--rules", str(rules_b)]
    process = subprocess.Popen(
        [*args, "--out", str(out)], stderr=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    said = []
    for line in process.stderr:
        said.append(line)
        if "rules_b: started" in line:
            process.send_signal(signal.SIGTERM)
            break
    else:
        pytest.fail("".join(said))
    rest = process.stderr.read()
    assert process.wait(timeout=30) == 143, rest
    assert rest.strip().splitlines()[-1] == (
        "ecm: interrupted; nothing was replaced (SIGTERM): --out and the warehouse are as "
        "they were."
    )
    assert _listing(run_a) == before


def _staged(tmp_path: Path, text: str | None, sha256: str, path: str | None = None):
    from ecm.diff.staged import Staged
    from ecm.warehouse.history import RecordedRun

    run = RecordedRun("r1", AS_OF, "v", sha256, path or str(tmp_path / "rules.toml"), text)
    return Staged(tmp_path / "warehouse.duckdb", run, frozenset(), "8")


def test_the_latest_runs_rules_are_read_back_as_the_file_they_were(tmp_path):
    """Its text, as the file at its recorded path: a plan value set beside that path is
    found; a text that is not the recorded sha256's, or no longer valid, is refused."""
    from ecm.diff.staged import rules_of_run

    text = DEFAULT_RULES_FILE.read_text(encoding="utf-8")
    sha = hashlib.sha256(text.encode()).hexdigest()
    rules = rules_of_run(_staged(tmp_path, text, sha))
    assert (rules.sha256, rules.text, rules.path) == (sha, text, tmp_path / "rules.toml")
    assert rules.value_set_folders == (tmp_path / "value_sets",)
    with pytest.raises(InputError, match="does not match the sha256 the run recorded"):
        rules_of_run(_staged(tmp_path, text, "0" * 64))
    with pytest.raises(InputError, match="recorded before ecm kept a run's rules file"):
        rules_of_run(_staged(tmp_path, None, sha))
    broken = text.replace("lookback_months = 12", "lookback_months = 0")
    digest = hashlib.sha256(broken.encode()).hexdigest()
    with pytest.raises(RulesError, match=r"cannot be used by this ecm: .*lookback_months = 0"):
        rules_of_run(_staged(tmp_path, broken, digest))


@pytest.mark.flow
def test_the_shard_inputs_read_procedure_codes_when_either_side_needs_them(run_a, tmp_path):
    from ecm.diff import sides
    from ecm.run import interrupts

    planned = _rules_file(tmp_path, {"methods.unplanned_stay": "cms_planned"}, "planned.toml")
    warehouse = run_a / "warehouse.duckdb"
    tables = {}
    for name, b in (("admit_type", DEFAULT_RULES_FILE), ("cms_planned", planned)):
        pair = [
            sides.Side.of("a", "--rules", load_rules(), AS_OF),
            sides.Side.of("b", "--rules", load_rules(b), AS_OF),
        ]
        with interrupts.connect(str(warehouse), read_only=True) as con:
            shard_set = sides.shard_inputs(
                con, warehouse, tmp_path / name, pair, frozenset({"eligibility"}), shards=2
            )
        tables[name] = set(shard_set.tables)
    assert tables["cms_planned"] - tables["admit_type"] == {"procedures"}


# --- events built once when only population blocks differ -----------------------------


def test_events_are_alike_only_when_population_blocks_alone_differ(rules_b, tmp_path):
    """B_SETTINGS' population blocks alone: alike. A shared setting the events read (the
    long lookback, the lookback, the stays' merge gap) or other bytes of a value set: not
    alike."""
    from ecm.diff.sides import Side, events_alike

    def side(label, path=None):
        return Side.of(label, "--rules", load_rules(path), AS_OF)

    a = side("a")
    assert events_alike(a, side("b", _population_rules(tmp_path)))
    assert events_alike(a, side("b"))
    assert not events_alike(a, side("b", rules_b))  # it sets time.long_lookback_months too
    lookback = _rules_file(tmp_path / "lb", {"time.lookback_months": 6}, "r.toml")
    assert not events_alike(a, side("b", lookback))
    merge = _rules_file(tmp_path / "gap", {"events.stays.merge_gap_days": 2}, "r.toml")
    assert not events_alike(a, side("b", merge))
    # the same settings, but a plan's value set beside B with other codes
    plan = _rules_file(tmp_path / "plan", {}, "rules.toml")
    (tmp_path / "plan" / "value_sets").mkdir()
    packaged = Path(DEFAULT_RULES_FILE).parent / "value_sets"
    name = next(
        p.name
        for p in sorted(packaged.glob("*.csv"))
        if len(p.read_text(encoding="utf-8").splitlines()) > 3
    )
    text = (packaged / name).read_text(encoding="utf-8")
    (tmp_path / "plan" / "value_sets" / name).write_text(
        text.rstrip("\n").rsplit("\n", 1)[0] + "\n"
    )
    assert not events_alike(a, side("b", plan))
    # the same bytes in a plan's folder: alike
    (tmp_path / "plan" / "value_sets" / name).write_text(text, encoding="utf-8")
    assert events_alike(a, side("b", plan))


def _population_rules(folder: Path) -> Path:
    """B_SETTINGS' population blocks alone (the 6-month adult window and the thresholds)."""
    only = {k: v for k, v in B_SETTINGS.items() if k.startswith("populations.")}
    return _rules_file(folder / "populations-only", only, "rules.toml")


@pytest.mark.flow
def test_events_built_once_give_each_side_the_files_of_its_own_evaluation(run_a, tmp_path):
    """evaluate_alike (events once, each side's rules) writes the bytes evaluate writes for
    each side on its own, in 3 shards."""
    import hashlib

    from ecm.diff import sides
    from ecm.diff.staged import read_staged
    from ecm.run import interrupts

    warehouse = run_a / "warehouse.duckdb"
    with interrupts.connect(str(warehouse), read_only=True) as con:
        staged = read_staged(con, warehouse)
        pair = [
            sides.Side.of("a", "--rules", load_rules(), AS_OF),
            sides.Side.of("b", "--rules", load_rules(_population_rules(tmp_path)), AS_OF),
        ]
        shard_set = sides.shard_inputs(
            con, warehouse, tmp_path / "shards", pair, staged.feeds, shards=3
        )
    assert sides.events_alike(*pair)
    once = sides.evaluate_alike(pair, shard_set, tmp_path / "once")
    for side in pair:
        alone = sides.evaluate(side, shard_set, tmp_path / "alone")
        for name, path in alone.files.items():
            got = hashlib.sha256(once[side.label].files[name].read_bytes()).hexdigest()
            assert got == hashlib.sha256(path.read_bytes()).hexdigest(), (side.label, name)
        assert once[side.label].counts == alone.counts


def test_a_shard_reads_the_diagnoses_from_its_runs_since(tmp_path, monkeypatch):
    """The kept shard inputs hold every diagnosis; run_shard bounds them by the shard's
    `since` as it scans them (ecm.shards.evaluate.scan_inputs)."""
    import datetime as dt

    from ecm.shards import run as shard_run
    from ecm.shards.inputs import ShardPaths

    seen = {}

    def scanned(files, present, since=None):
        seen["since"] = since
        raise RuntimeError("stop here")

    monkeypatch.setattr(shard_run, "scan_inputs", scanned)
    shard = ShardPaths(tmp_path, 0, ("diagnoses",), frozenset(), dt.date(2024, 11, 1))
    with pytest.raises(RuntimeError, match="stop here"):
        shard_run.run_shard(shard, load_rules(), sides_dates(), tmp_path / "out")
    assert seen == {"since": dt.date(2024, 11, 1)}


def sides_dates():
    from ecm.config.dates import RunDates

    return RunDates.of(load_rules(), AS_OF)
