"""`ecm demo`: a plan's months on synthetic data, in one warehouse, with the ECM providers
answering between them.

`run_demo` generates a seeded feed folder (`DIR/feeds/`, the history ending on the last
as-of date), then runs the monthly flow once a month for `runs` months (as-of dates: the
last days of the months before `end`, then `end`; month −2, −1 and the default as-of date
by default) into `DIR/out/YYYY-MM/`, all in the warehouse `DIR/out/warehouse.duckdb`, which
each demo begins new. After each run but the last, the providers answer that run's member
information files (ecm.generate.providers): their RTF and OTF drops of the next month join
the feed folder (`provider_return/`, `outreach/`), and the next run stages them. The
members are the same every month: the feed folder is generated once, and each run reads
it as of its own date. One temporary Prefect server serves every run.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ecm.generate.calendar import add_months
from ecm.generate.providers import OTF, RTF, ProviderAnswers
from ecm.run import progress
from ecm.run.logs import get_logger

log = get_logger("demo")


@dataclass(frozen=True)
class DemoMonth:
    """One month of the demo: its run's summary and output folder, and the providers'
    answers to its member information files (None after the last month)."""

    as_of: dt.date
    out_dir: Path
    summary: dict[str, Any]
    answers: ProviderAnswers | None


def demo_as_of_dates(end: dt.date, runs: int) -> list[dt.date]:
    """The as-of dates of `runs` monthly runs ending on `end`: the last days of the
    `runs - 1` months before `end`'s month, then `end`."""
    first = end.replace(day=1)
    earlier = [add_months(first, -k + 1) - dt.timedelta(days=1) for k in range(runs - 1, 0, -1)]
    return [*earlier, end]


def run_demo(
    workdir: Path, *, members: int, months: int, seed: int, runs: int, end: dt.date
) -> list[DemoMonth]:
    """Generate the feeds, then run the months, the providers answering in between."""
    from ecm.generate import generate_feeds
    from ecm.generate.providers import simulate_providers
    from flows.launch import one_prefect_server, run_monthly

    workdir = Path(workdir)
    feeds, out_root = workdir / "feeds", workdir / "out"
    dates = demo_as_of_dates(end, runs)
    log.info("generating %s synthetic members, %d months to %s", f"{members:,}", months, end)
    with progress.reporter().stage("generate") as step:
        stats = generate_feeds(feeds, members=members, months=months, end=end, seed=seed)
        step.count(sum(stats.rows.values()), "rows written")
    log.info("wrote %s claim lines to %s/", f"{stats.rows.get('medical_claim', 0):,}", feeds)
    warehouse = out_root / "warehouse.duckdb"
    _begin_new_warehouse(warehouse)
    done: list[DemoMonth] = []
    with one_prefect_server():
        for number, as_of in enumerate(dates, start=1):
            log.info("month %d of %d: the run as of %s", number, len(dates), as_of)
            out_dir = out_root / as_of.strftime("%Y-%m")
            summary = run_monthly(feeds, as_of, out_dir, None, None)
            answers = None
            if number < len(dates):
                with progress.reporter().stage("providers") as step:
                    answers = simulate_providers(out_dir, feeds, as_of=as_of, seed=seed)
                    step.count(sum(answers.rows.values()), "rows written")
                log.info(
                    "the ECM providers answered the member information files of %s: %s RTF "
                    "rows, %s outreach attempts, in %s files",
                    as_of,
                    f"{answers.rows[RTF]:,}",
                    f"{answers.rows[OTF]:,}",
                    len(answers.files),
                )
            done.append(DemoMonth(as_of, out_dir, summary, answers))
    return done


def _begin_new_warehouse(warehouse: Path) -> None:
    """Each demo tells its months from the start: an earlier demo's warehouse (an ecm
    warehouse no run is using; anything else is refused) is removed, with its `.wal` and
    the folder a warehouse owns beside it (`<name>.files/`, outputs.md), so that no run of
    another demo's months (other members, another as-of date) counts as history."""
    if not warehouse.exists():
        return
    import shutil

    from ecm.run.locks import RunLock
    from ecm.run.safety import check_warehouse

    with RunLock(warehouse, "warehouse"):
        check_warehouse(warehouse)
        warehouse.unlink()
        warehouse.with_name(warehouse.name + ".wal").unlink(missing_ok=True)
        owned = warehouse.with_name(warehouse.name + ".files")
        if owned.is_dir() and not owned.is_symlink():
            shutil.rmtree(owned)
