"""Everything a run writes is health information (outputs.md, "Safety of what is already
on disk"): files owner-only (0600, folders 0700), or owner + group (0640 / 0750) with
`[output] group_readable = true`; never world-readable, whatever the umask."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.conftest import ROOT
from tests.story import AS_OF, write_story

OWNER_ONLY = {"file": 0o600, "folder": 0o700}
GROUP_READABLE = {"file": 0o640, "folder": 0o750}


@contextmanager
def umask(mask: int) -> Iterator[None]:
    previous = os.umask(mask)
    try:
        yield
    finally:
        os.umask(previous)


def current_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def rules_file(folder: Path, group_readable: bool) -> Path:
    """The packaged rules file with `[output] group_readable` set."""
    text = (ROOT / "reference" / "rules.toml").read_text(encoding="utf-8")
    assert "group_readable = false" in text
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "rules.toml"
    path.write_text(
        text.replace("group_readable = false", f"group_readable = {str(group_readable).lower()}"),
        encoding="utf-8",
    )
    return path


def modes_under(root: Path) -> dict[Path, int]:
    """Every path under `root` (and `root`) with its permission bits (links not followed)."""
    paths = [root, *root.rglob("*")]
    return {p: stat.S_IMODE(p.lstat().st_mode) for p in paths}


def check_private(modes: dict[Path, int], group_readable: bool) -> None:
    """No bit for others; group bits only with group_readable, and never group write."""
    for path, mode in modes.items():
        assert mode & 0o007 == 0, f"{path} is {oct(mode)}: others may reach it"
        assert mode & 0o020 == 0, f"{path} is {oct(mode)}: its group may write it"
        if not group_readable:
            assert mode & 0o070 == 0, f"{path} is {oct(mode)}: its group may reach it"


def check_exact(modes: dict[Path, int], group_readable: bool) -> None:
    """What a run publishes: exactly 0600 / 0700, or 0640 / 0750 with group_readable."""
    want = GROUP_READABLE if group_readable else OWNER_ONLY
    for path, mode in modes.items():
        kind = "folder" if path.is_dir() else "file"
        assert mode == want[kind], f"{path} is {oct(mode)}, expected {oct(want[kind])}"


@pytest.fixture(scope="module")
def story_feeds(tmp_path_factory):
    return write_story(tmp_path_factory.mktemp("modes") / "feeds")


def _run_and_look(monkeypatch, feeds: Path, run_root: Path, rules: Path) -> dict[Path, int]:
    """Run the monthly flow into `run_root/out/2026-10` (the warehouse beside it); returns
    the modes of everything under `run_root` just before the run swaps its files in (the
    lock files, the warehouse copy and its .wal, the work folder, the new output)."""
    from ecm.run.all_or_nothing import RunSpace
    from flows.monthly import monthly

    seen: dict[Path, int] = {}
    swap_in = RunSpace.swap_in

    def look_then_swap_in(*args, **kwargs):
        seen.update(modes_under(run_root))
        return swap_in(*args, **kwargs)

    monkeypatch.setattr(RunSpace, "swap_in", look_then_swap_in)
    monthly(input_dir=feeds, as_of=AS_OF, out_dir=run_root / "out" / "2026-10", rules_file=rules)
    return seen


@pytest.mark.parametrize(
    ("mask", "group_readable"),
    [(0o022, False), (0o000, True)],  # umask 000 owner-only: the rerun's test below
    ids=["umask-022", "umask-000-group-readable"],
)
def test_every_path_a_run_writes_is_private_whatever_the_umask(
    harness, story_feeds, tmp_path, monkeypatch, mask, group_readable
):
    rules = rules_file(tmp_path / "rules", group_readable)
    run_root = tmp_path / "run"
    with umask(mask):
        during = _run_and_look(monkeypatch, story_feeds, run_root, rules)
        assert current_umask() == mask  # the run's umask is its own, and given back
    names = {p.name for p in during}
    assert {".warehouse.duckdb.lock", ".2026-10.lock"} <= names  # the run's lock files
    assert any(n.startswith(".warehouse.duckdb.run-") for n in names)  # the warehouse copy
    assert any(n.startswith(".warehouse.duckdb.work-") for n in names)  # the work folder
    assert any(n.startswith(".2026-10.tmp-") for n in names)  # the output before it is moved
    check_private(during, group_readable)
    out = run_root / "out" / "2026-10"
    after = modes_under(run_root)
    check_private(after, group_readable)
    published = {p: m for p, m in after.items() if p == out or out in p.parents}
    assert len(published) > 10 and any(p.suffix == ".txt" for p in published)  # MIFs too
    check_exact(published, group_readable)
    house = {p: m for p, m in after.items() if p.name.startswith("warehouse.duckdb")}
    assert house
    check_exact(house, group_readable)


def test_a_rerun_keeps_the_modes_and_narrows_an_earlier_wide_output(
    harness, story_feeds, tmp_path, monkeypatch
):
    """Under umask 000, owner-only; then with the output and warehouse widened to 0644 /
    0755 (as an older ecm or another tool may leave them), the next run's are owner-only
    again."""
    rules = rules_file(tmp_path / "rules", group_readable=False)
    run_root = tmp_path / "run"
    out, warehouse = run_root / "out" / "2026-10", run_root / "out" / "warehouse.duckdb"
    with umask(0o000):
        during = _run_and_look(monkeypatch, story_feeds, run_root, rules)
        check_private(during, group_readable=False)
        check_private(modes_under(run_root), group_readable=False)
        for path in (run_root / "out").rglob("*"):
            path.chmod(0o755 if path.is_dir() else 0o644)
        during = _run_and_look(monkeypatch, story_feeds, run_root, rules)
    # what the rerun made (the earlier output and warehouse were still in place)
    # (the warehouse's own folder too: its kept shard inputs, read by the rerun)
    kept = warehouse.with_name("warehouse.duckdb.files")
    earlier = {warehouse, out, kept}
    check_private(
        {
            p: m
            for p, m in during.items()
            if p not in earlier and out not in p.parents and kept not in p.parents
        },
        group_readable=False,
    )
    after = modes_under(out)
    after[warehouse] = stat.S_IMODE(warehouse.stat().st_mode)
    check_exact(after, group_readable=False)
    check_private(modes_under(run_root), group_readable=False)


def test_validate_writes_its_report_and_warehouse_owner_only(story_feeds, tmp_path):
    """`ecm validate --report FILE.html --warehouse FILE`: health information too."""
    from click.testing import CliRunner

    from ecm.cli import main

    report = tmp_path / "checks" / "report.html"
    warehouse = tmp_path / "staged" / "validate.duckdb"
    with umask(0o000):
        result = CliRunner().invoke(
            main,
            [
                "validate",
                "--input",
                str(story_feeds),
                "--report",
                str(report),
                "--warehouse",
                str(warehouse),
                "--quiet",
            ],
        )
        assert current_umask() == 0o000
    assert result.exit_code in (0, 1), result.output
    assert report.is_file() and warehouse.is_file()
    written = {p: m for p, m in modes_under(tmp_path).items() if p != tmp_path}
    check_exact(written, group_readable=False)
