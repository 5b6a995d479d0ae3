"""`ecm diff` reads a side a recorded run has answered (issue #18): a run records the key of
what its assignments were made from (ecm.shards.events.assignments_key); a diff side with the
same key (the same staged inputs, dates, rules file bytes, value sets and code) takes that
run's assignments from the warehouse's history instead of assigning again. The diff is byte
for byte the one that evaluates both sides; any difference in what the side is made from
(another as-of date, other rules bytes, other code) evaluates it."""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

import duckdb
import pytest

from ecm.config.rules import load_rules
from tests.test_kept_events import (  # noqa: F401 (fixtures)
    _evaluated_populations,
    _house,
    first,
    first_run,
)
from tests.test_kept_shard_inputs import (
    AS_OF,
    EARLIER,
    RULES,
    _rules,
    feeds,  # noqa: F401 (a fixture)
    lower_ed,  # noqa: F401 (a fixture)
)

pytestmark = pytest.mark.flow


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _evaluated(monkeypatch) -> list[str]:
    """The labels of the sides the diff evaluates (their populations' rules run)."""
    from ecm.diff import sides

    labels: list[str] = []
    evaluate, alike = sides.evaluate, sides.evaluate_alike

    def one(side, *args, **kwargs):
        labels.append(side.label)
        return evaluate(side, *args, **kwargs)

    def both(sides_, *args, **kwargs):
        labels.extend(side.label for side in sides_)
        return alike(sides_, *args, **kwargs)

    monkeypatch.setattr(sides, "evaluate", one)
    monkeypatch.setattr(sides, "evaluate_alike", both)
    return labels


def _never_recorded(monkeypatch) -> None:
    from ecm.warehouse import history

    monkeypatch.setattr(history, "run_assigned", lambda _con, _key: None)


def test_the_run_records_what_its_assignments_were_made_from(first):  # noqa: F811
    with duckdb.connect(str(first / "warehouse.duckdb"), read_only=True) as con:
        keys = con.execute("select assignments_key from runs").fetchall()
    assert len(keys) == 1 and len(keys[0][0]) == 64


def test_a_diff_against_the_run_reads_its_assignments_and_equals_evaluating_both(
    harness,
    first,  # noqa: F811
    lower_ed,  # noqa: F811
    tmp_path,
    monkeypatch,
):
    from ecm.diff.build import DIFF_FILE, PAGE, write_diff

    house = _house(first, tmp_path)
    evaluated = _evaluated(monkeypatch)
    with monkeypatch.context() as patched:
        populations = _evaluated_populations(patched)
        read = write_diff([lower_ed], tmp_path / "diff", house, AS_OF)
    assert read["sides_recorded"] == ["a"]
    assert evaluated == ["b"]
    # B reads the run's kept events and, with them, the rows of every population whose rule
    # it gives the same settings and windows: only the one it changes is evaluated.
    assert populations == ["HIGH_UTIL_ADULT"]

    evaluated.clear()
    with monkeypatch.context() as patched:
        _never_recorded(patched)
        built = write_diff([lower_ed], tmp_path / "diff2", house, AS_OF)
    assert built["sides_recorded"] == []
    assert evaluated == ["a", "b"]
    assert read["gained"] > 0
    for name in (DIFF_FILE, PAGE):
        assert _sha(tmp_path / "diff" / name) == _sha(tmp_path / "diff2" / name), name
    for part in ("gained", "lost", "populations", "age_groups", "providers"):
        assert read[part] == built[part], part


def test_both_sides_the_run_answered_evaluate_nothing(
    harness,
    first,  # noqa: F811
    tmp_path,
    monkeypatch,
):
    from ecm.diff.build import write_diff

    house = _house(first, tmp_path)
    evaluated = _evaluated(monkeypatch)
    summary = write_diff([RULES, RULES], tmp_path / "diff", house, AS_OF)
    assert summary["sides_recorded"] == ["a", "b"]
    assert evaluated == []
    assert summary["gained"] == summary["lost"] == 0
    members = [p["a"]["members"] for p in summary["populations"].values()]
    assert sum(m or 0 for m in members) > 0  # the run's counts, read back


def test_a_side_made_from_anything_else_is_evaluated(
    harness,
    first,  # noqa: F811
    tmp_path,
    monkeypatch,
):
    """Another as-of date, or the run's settings in a file of other bytes (a comment
    added): no recorded run was made from that."""
    from ecm.diff.build import write_diff

    house = _house(first, tmp_path)
    evaluated = _evaluated(monkeypatch)
    earlier = write_diff([RULES, RULES], tmp_path / "earlier", house, EARLIER)
    assert earlier["sides_recorded"] == []
    assert sorted(evaluated) == ["a", "b"]

    evaluated.clear()
    commented = tmp_path / "commented" / "rules.toml"
    commented.parent.mkdir()
    commented.write_text(
        RULES.read_text(encoding="utf-8") + "\n# the same settings, other bytes\n", "utf-8"
    )
    assert load_rules(commented).data == load_rules(RULES).data
    other = write_diff([RULES, commented], tmp_path / "other", house, AS_OF)
    assert other["sides_recorded"] == ["a"]
    assert evaluated == ["b"]
    assert other["gained"] == other["lost"] == 0


def test_a_warehouse_recorded_before_the_key_was_kept_evaluates_both(
    harness,
    first,  # noqa: F811
    lower_ed,  # noqa: F811
    tmp_path,
):
    from ecm.diff.build import write_diff

    house = _house(first, tmp_path)
    with duckdb.connect(str(house)) as con:
        con.execute("alter table runs drop column assignments_key")
    summary = write_diff([lower_ed], tmp_path / "diff", house, AS_OF)
    assert summary["sides_recorded"] == []
    assert summary["gained"] > 0


def test_the_code_that_merges_the_shards_is_in_the_assignments_key(monkeypatch, tmp_path):
    from ecm.shards import events

    rules = load_rules()

    def key(code):
        events._assign_code_digest.cache_clear()
        monkeypatch.setattr(events, "_ASSIGN_CODE", code)
        return events.assignments_key("e" * 64, rules)

    run = tmp_path / "run.py"
    shutil.copy(events._ASSIGN_CODE[0], run)
    base = key((run,))
    assert key((run,)) == base
    assert events.assignments_key("f" * 64, rules) != base
    assert events.assignments_key("e" * 64, load_rules(_lower(tmp_path))) != base
    run.write_text(run.read_text(encoding="utf-8") + "\n# a change\n", "utf-8")
    assert key((run,)) != base
    events._assign_code_digest.cache_clear()


def _lower(tmp_path: Path) -> Path:
    return _rules(tmp_path / "b", "min_avoidable_ed_visits = 5", "min_avoidable_ed_visits = 4")
