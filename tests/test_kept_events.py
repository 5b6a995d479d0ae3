"""Each shard's events kept between runs (ecm.shards.events, issue #18 item 2): a rerun
whose rules file differs only in population blocks reads the kept events instead of building
them, and its files equal a full run's byte for byte (1 and 3 shards); another as-of date,
another setting the events read or another value set's bytes build them again; a refused or
interrupted run changes neither the set nor the catalog; a set cut short is never read; only
`events/<64 hex>` folders are pruned; `ecm diff` reading the kept events equals the diff
without them."""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

import duckdb
import pytest

from ecm.config.reference import ReferenceData
from ecm.config.rules import load_rules
from ecm.errors import Interrupted, SanityGuardError
from ecm.warehouse.kept import COMPLETE, KEPT_TABLE, files_folder
from tests.test_kept_shard_inputs import (
    AS_OF,
    EARLIER,
    KEY_LENGTH,
    RULES,
    _rules,
    _run,
    feeds,  # noqa: F401 (a fixture)
    lower_ed,  # noqa: F401 (a fixture)
)
from tests.test_pinned_outputs import _hashes

pytestmark = pytest.mark.flow

EVENTS = "events"


def _sets(warehouse: Path) -> dict[str, dict[str, int]]:
    """The kept events sets beside `warehouse`: key → {file: mtime (ns)}."""
    root = files_folder(warehouse) / EVENTS
    if not root.is_dir():
        return {}
    return {
        d.name: {
            str(p.relative_to(d)): p.stat().st_mtime_ns for p in sorted(d.rglob("*")) if p.is_file()
        }
        for d in root.iterdir()
    }


def _named(warehouse: Path, kind: str = EVENTS) -> list[str]:
    with duckdb.connect(str(warehouse), read_only=True) as con:
        return [
            k
            for (k,) in con.execute(
                f"select key from {KEPT_TABLE} where kind = ? order by key", [kind]
            ).fetchall()
        ]


def _never_build(monkeypatch) -> None:
    """Building a shard's events fails: what runs now must read the kept ones."""
    from ecm.shards import run as shard_run

    def built(*_args, **_kwargs):
        raise AssertionError("the events were built again")

    monkeypatch.setattr(shard_run, "build_events", built)


def _evaluated_populations(monkeypatch) -> list[str]:
    """The codes of the populations whose rule runs from now on, one per shard evaluated."""
    from ecm.shards import evaluate

    codes: list[str] = []
    apply_rule = evaluate.apply_rule

    def applied(population, *args, **kwargs):
        codes.append(population.code)
        return apply_rule(population, *args, **kwargs)

    monkeypatch.setattr(evaluate, "apply_rule", applied)
    return codes


def _value_set_changed(folder: Path) -> Path:
    """The packaged rules file in `folder`, with its own ed_revenue_code value set beside
    it: the packaged codes less 0450, the emergency room's (fewer ED visits)."""
    folder.mkdir(parents=True)
    shutil.copy(RULES, folder / "rules.toml")
    (folder / "value_sets").mkdir()
    packaged = RULES.parent / "value_sets" / "ed_revenue_code.csv"
    lines = packaged.read_text(encoding="utf-8").rstrip("\n").split("\n")
    kept = [line for line in lines if ",0450," not in line]
    assert len(kept) == len(lines) - 1
    (folder / "value_sets" / packaged.name).write_text("\n".join(kept) + "\n", "utf-8")
    return folder / "rules.toml"


@pytest.fixture(scope="module")
def first_run(harness, feeds, tmp_path_factory) -> tuple[Path, dict]:  # noqa: F811
    """A run with the packaged rules: its warehouse folder (copied by each test that runs
    into it) and its summary."""
    folder = tmp_path_factory.mktemp("first")
    summary = _run(feeds, folder / "out", folder / "w" / "warehouse.duckdb")
    assert summary["shards"]["events_kept"] is False
    return folder / "w", summary


@pytest.fixture(scope="module")
def first(first_run) -> Path:
    return first_run[0]


def _house(first: Path, tmp_path: Path) -> Path:
    """A copy of the first run's warehouse and its own folder."""
    shutil.copytree(first, tmp_path / "w")
    return tmp_path / "w" / "warehouse.duckdb"


@pytest.mark.parametrize("shards", [None, 3])
def test_a_rerun_with_other_population_settings_reads_the_kept_events_and_equals_a_full_run(
    harness,
    feeds,  # noqa: F811
    lower_ed,  # noqa: F811
    tmp_path,
    monkeypatch,
    shards,
):
    house = tmp_path / "w" / "warehouse.duckdb"
    one = _run(feeds, tmp_path / "a", house, shards=shards)
    assert one["shards"]["events_kept"] is False
    kept = _sets(house)
    assert len(kept) == 1 and len(next(iter(kept))) == KEY_LENGTH
    (key,) = kept
    assert _named(house) == [key]
    assert {f.split("/")[0] for f in kept[key]} == {
        COMPLETE,
        *(f"shard={i}" for i in range(shards or 1)),
    }

    with monkeypatch.context() as patched:
        _never_build(patched)
        evaluated = _evaluated_populations(patched)
        again = _run(feeds, tmp_path / "b", house, rules=lower_ed, shards=shards)
    # The populations' rows the first run kept with its events are read for every
    # population whose rule B gives the same settings and windows: only the one B changes
    # is evaluated, in each shard.
    assert evaluated == ["HIGH_UTIL_ADULT"] * (shards or 1)
    assert again["shards"]["events_kept"] is True
    assert again["shards"]["inputs_kept"] is True
    assert _sets(house) == kept  # the same set, no file of it written again
    assert _named(house) == [key]

    full = _run(
        feeds,
        tmp_path / "b_full",
        tmp_path / "w2" / "warehouse.duckdb",
        rules=lower_ed,
        shards=shards,
    )
    assert full["shards"]["events_kept"] is False
    assert _hashes(tmp_path / "b") == _hashes(tmp_path / "b_full")
    for part in ("members", "events", "populations", "exclusions", "assignments", "loop"):
        assert again[part] == full[part], part
    # Rules B finds more high utilisers than A: the rerun is not the first run again.
    assert (
        again["populations"]["HIGH_UTIL_ADULT"]["members"]
        > one["populations"]["HIGH_UTIL_ADULT"]["members"]
    )


@pytest.mark.parametrize("case", ["as_of_date", "events_setting", "value_set"])
def test_what_the_events_read_changed_builds_them_again_and_equals_a_full_run(
    harness,
    feeds,  # noqa: F811
    first_run,
    tmp_path,
    case,
):
    first, first_summary = first_run
    house = _house(first, tmp_path)
    (before,) = _sets(house)
    as_of, rules = AS_OF, None
    if case == "as_of_date":
        as_of = EARLIER
    elif case == "events_setting":  # stays up to 30 days apart merge
        rules = _rules(tmp_path / "gap", "merge_gap_days = 1", "merge_gap_days = 30")
    else:
        rules = _value_set_changed(tmp_path / "plan")
    again = _run(feeds, tmp_path / "b", house, as_of=as_of, rules=rules)
    assert again["shards"] == {**again["shards"], "inputs_kept": True, "events_kept": False}
    (after,) = _sets(house)  # one set kept: the new one
    assert after != before and _named(house) == [after]
    full = _run(feeds, tmp_path / "full", tmp_path / "w2" / "warehouse.duckdb", as_of, rules)
    assert _hashes(tmp_path / "b") == _hashes(tmp_path / "full")
    assert again["events"] == full["events"]
    # The events differ from the kept ones: reusing them would have shown.
    assert (again["members"], again["events"]) != (
        first_summary["members"],
        first_summary["events"],
    )


def test_the_key_is_the_fingerprint_the_diff_compares(lower_ed, tmp_path):  # noqa: F811
    """events_alike and the kept events' key hold the same test: population blocks alone
    give one key; an events setting or a value set's bytes another."""
    from ecm.config.dates import RunDates
    from ecm.shards.events import events_fingerprint, events_key

    def key(path=None, as_of=AS_OF, shard_key="s" * 64):
        rules = load_rules(path)
        reference = ReferenceData.for_rules(rules)
        return events_key(shard_key, RunDates.of(rules, as_of), rules, reference)

    base = key()
    assert key(lower_ed) == base
    assert key(shard_key="t" * 64) != base
    assert key(as_of=EARLIER) != base
    gap = _rules(tmp_path / "gap", "merge_gap_days = 1", "merge_gap_days = 3")
    assert key(gap) != base
    plan = _value_set_changed(tmp_path / "plan")
    assert key(plan) != base
    rules = load_rules(plan)
    assert (
        events_fingerprint(rules, ReferenceData.for_rules(rules))["value_sets"]
        != (events_fingerprint(load_rules(), ReferenceData())["value_sets"])
    )


def test_the_code_that_builds_events_is_in_the_key(monkeypatch, tmp_path):
    """A developer's change to the transforms (or the published tables) is another key."""
    from ecm.config.dates import RunDates
    from ecm.shards import events

    rules = load_rules()
    dates = RunDates.of(rules, AS_OF)

    def key(code):
        events._code_digest.cache_clear()
        monkeypatch.setattr(events, "_EVENTS_CODE", code)
        return events.events_key("s" * 64, dates, rules, ReferenceData())

    transforms = tmp_path / "transforms"
    shutil.copytree(events._EVENTS_CODE[0], transforms)
    base = key((transforms,))
    assert key((transforms,)) == base
    stays = transforms / "stays.py"
    stays.write_text(stays.read_text(encoding="utf-8") + "\n# a change\n", "utf-8")
    assert key((transforms,)) != base
    events._code_digest.cache_clear()


def test_a_refused_run_changes_neither_the_kept_events_nor_the_catalog(
    harness,
    feeds,  # noqa: F811
    first,
    tmp_path,
):
    house = _house(first, tmp_path)
    kept, named = _sets(house), _named(house)
    # A guard setting is outside the population blocks: the run builds and writes events.
    strict = _rules(
        tmp_path / "strict", "min_enrolled_members = 1", "min_enrolled_members = 10000000"
    )
    with pytest.raises(SanityGuardError):
        _run(feeds, tmp_path / "b", house, rules=strict)
    assert _sets(house) == kept
    assert _named(house) == named


def test_an_interrupted_run_leaves_the_catalog_and_its_set_alone(
    harness,
    feeds,  # noqa: F811
    first,
    tmp_path,
    monkeypatch,
):
    """Interrupted just after its new set was moved in (before its copy is swapped in): the
    catalog still names the kept set, whose files are untouched; the new set is named by
    nothing, never read, and the next run that succeeds removes it."""
    import flows.monthly as monthly_module

    house = _house(first, tmp_path)
    kept, named = _sets(house), _named(house)
    adopt = monthly_module.adopt_events

    def adopt_then_stop(events, warehouse):
        adopt(events, warehouse)
        raise Interrupted(15)

    with monkeypatch.context() as patched:
        patched.setattr(monthly_module, "adopt_events", adopt_then_stop)
        with pytest.raises(Interrupted):
            _run(feeds, tmp_path / "b", house, as_of=EARLIER)
    assert _named(house) == named
    sets = _sets(house)
    assert sets[named[0]] == kept[named[0]]
    (orphan,) = set(sets) - set(kept)
    again = _run(feeds, tmp_path / "c", house)
    assert again["shards"]["events_kept"] is True
    assert set(_sets(house)) == set(named)
    assert orphan not in _sets(house)


def test_a_kept_set_cut_short_is_never_read(
    harness,
    feeds,  # noqa: F811
    first,
    lower_ed,  # noqa: F811
    tmp_path,
):
    house = _house(first, tmp_path)
    (key,) = _sets(house)
    (files_folder(house) / EVENTS / key / COMPLETE).unlink()
    again = _run(feeds, tmp_path / "b", house, rules=lower_ed)
    assert again["shards"]["events_kept"] is False
    assert (files_folder(house) / EVENTS / key / COMPLETE).is_file()  # written again
    _run(feeds, tmp_path / "full", tmp_path / "w2" / "warehouse.duckdb", rules=lower_ed)
    assert _hashes(tmp_path / "b") == _hashes(tmp_path / "full")


def test_only_events_folders_named_by_a_key_are_pruned(
    harness,
    feeds,  # noqa: F811
    first,
    tmp_path,
):
    house = _house(first, tmp_path)
    root = files_folder(house) / EVENTS
    orphan = root / ("ab" * 32)
    (orphan / "shard=0").mkdir(parents=True)
    (orphan / "shard=0" / "members.parquet").write_bytes(b"left by a run that died")
    theirs = [root / "notes", root / "README.txt", root / ("cd" * 31)]
    theirs[0].mkdir()
    theirs[1].write_text("a plan's note", encoding="utf-8")
    theirs[2].mkdir()
    again = _run(feeds, tmp_path / "b", house)
    assert again["shards"]["events_kept"] is True
    assert not orphan.exists()
    assert theirs[0].is_dir() and theirs[1].is_file() and theirs[2].is_dir()


@pytest.mark.parametrize("rules_b", ["populations", "events_setting"])
def test_the_diff_reading_the_kept_events_equals_the_diff_without(
    harness,
    first,
    lower_ed,  # noqa: F811
    tmp_path,
    monkeypatch,
    rules_b,
):
    """B differs from the run's rules in a population block (events alike: both sides read
    the kept events) or in an events setting (A reads them, B builds its own)."""
    from ecm.diff import sides
    from ecm.diff.build import DIFF_FILE, write_diff

    b = lower_ed
    if rules_b == "events_setting":
        b = _rules(tmp_path / "gap", "merge_gap_days = 1", "merge_gap_days = 3")
    house = _house(first, tmp_path)
    kept = _sets(house)
    read = []
    evaluate_sides = sides.evaluate_sides

    def seen(sides_, shard_set, work, timer, events=None, recorded=None):
        read.append(sorted((events or {}).items()))
        return evaluate_sides(sides_, shard_set, work, timer, events, recorded)

    monkeypatch.setattr(sides, "evaluate_sides", seen)
    with monkeypatch.context() as patched:
        if rules_b == "populations":
            _never_build(patched)
        with_kept = write_diff([b], tmp_path / "diff", house, AS_OF)
    labels = [label for label, _ in read[0]]
    assert labels == (["a", "b"] if rules_b == "populations" else ["a"])
    assert all(e.reused for _, e in read[0])
    assert _sets(house) == kept  # borrowed, not moved or changed

    shutil.rmtree(files_folder(house) / EVENTS)
    without = write_diff([b], tmp_path / "diff2", house, AS_OF)
    assert read[1] == []
    assert _sha(tmp_path / "diff" / DIFF_FILE) == _sha(tmp_path / "diff2" / DIFF_FILE)
    for part in ("gained", "lost", "populations", "age_groups", "providers"):
        assert with_kept[part] == without[part], part
    if rules_b == "populations":
        assert with_kept["gained"] > 0


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_a_diff_borrows_nothing_when_no_side_is_the_kept_events(
    harness,
    first,
    tmp_path,
):
    """Another as-of date: neither side's key is the kept set's."""
    from ecm.diff import sides
    from ecm.diff.staged import read_staged
    from ecm.run import interrupts

    house = _house(first, tmp_path)
    with interrupts.connect(str(house), read_only=True) as con:
        staged = read_staged(con, house)
        pair = [sides.Side.of(label, "--rules", load_rules(), EARLIER) for label in "ab"]
        shard_set = sides.shard_inputs(con, house, tmp_path / "shards", pair, staged.feeds)
        assert shard_set.reused
        assert sides.kept_events_of(con, house, tmp_path / "events", pair, shard_set) == {}
        now = [sides.Side.of(label, "--rules", load_rules(), AS_OF) for label in "ab"]
        found = sides.kept_events_of(con, house, tmp_path / "events", now, shard_set)
    assert set(found) == {"a", "b"} and found["a"] is found["b"]
    assert found["a"].root == tmp_path / "events"
    assert (tmp_path / "events" / COMPLETE).is_file()
