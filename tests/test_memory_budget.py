"""DuckDB's memory follows the rules file's `[run] memory_budget_gib` (issue #18: at 2.7M
members the ingest filled half of the machine, 12 GB, whatever the budget said): a share of
the budget, or of the machine when that is smaller, set on every connection the run
prepares."""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path

import duckdb
import pytest

from ecm.warehouse import sql
from ecm.warehouse.sql import DUCKDB_MEMORY_SHARE, install_macros, use_memory_budget

RULES = Path(__file__).resolve().parent.parent / "reference" / "rules.toml"
MACHINE = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")


@pytest.fixture(autouse=True)
def no_budget():
    use_memory_budget(None)
    yield
    use_memory_budget(None)


def _limit_mib(con: duckdb.DuckDBPyConnection) -> float:
    # DuckDB reports the limit in its own units (e.g. "512.0 MiB", "1.9 GiB").
    value, unit = con.sql("select current_setting('memory_limit')").fetchall()[0][0].split()
    return float(value) * {"KiB": 2**-10, "MiB": 1, "GiB": 2**10, "TiB": 2**20}[unit]


@pytest.mark.parametrize("gib", [0.5, 1, 2])
def test_duckdb_holds_a_share_of_the_budget(gib):
    use_memory_budget(gib)
    assert sql.duckdb_memory_limit() == int(gib * 2**30 * DUCKDB_MEMORY_SHARE)
    with duckdb.connect() as con:
        install_macros(con)
        assert _limit_mib(con) == pytest.approx(gib * 1024 * DUCKDB_MEMORY_SHARE, rel=0.01)


def test_a_budget_above_the_machine_gives_the_machines_share():
    use_memory_budget(MACHINE / 2**30 * 4)
    assert sql.duckdb_memory_limit() == int(MACHINE * DUCKDB_MEMORY_SHARE)
    use_memory_budget(None)
    assert sql.duckdb_memory_limit() == int(MACHINE * DUCKDB_MEMORY_SHARE)


@pytest.mark.flow
def test_a_run_bounds_duckdb_by_its_rules_files_budget(tmp_path, monkeypatch):
    from ecm.generate import generate_feeds
    from flows.monthly import monthly

    as_of = dt.date(2026, 10, 31)
    feeds = tmp_path / "feeds"
    generate_feeds(feeds, members=200, months=13, end=as_of, seed=5, fmt="csv")
    text = RULES.read_text(encoding="utf-8")
    assert "memory_budget_gib = 8\n" in text
    rules = tmp_path / "rules.toml"
    rules.write_text(text.replace("memory_budget_gib = 8\n", "memory_budget_gib = 1.5\n"), "utf-8")
    limits = []
    real = sql.duckdb_memory_limit

    def spied() -> int:
        limits.append(real())
        return limits[-1]

    monkeypatch.setattr(sql, "duckdb_memory_limit", spied)
    monthly(
        input_dir=feeds,
        as_of=as_of,
        out_dir=tmp_path / "out",
        warehouse=tmp_path / "w.duckdb",
        rules_file=rules,
    )
    expected = int(min(1.5 * 2**30, MACHINE) * DUCKDB_MEMORY_SHARE)
    assert limits and set(limits) == {expected}
