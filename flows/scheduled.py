"""The scheduled monthly run: the entry point of the `ecm-monthly` deployment (prefect.yaml).

A thin flow around the monthly one. When a run starts it works out the as-of date (the
last day of the month before the run's scheduled start in the rules file's time zone, as
`ecm run` does with no `--as-of`) and the month's output folder, `<out_root>/<YYYY-MM>/`,
so that monthly outputs sit side by side and share `<out_root>/warehouse.duckdb`. It then
runs the monthly flow exactly as `ecm run` does (flows.launch.run_monthly: the same checks
before Prefect work starts, the same Dask task runner for `dask`), as a subflow.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

from prefect import flow

from ecm.errors import EcmError
from ecm.run.logs import get_logger

log = get_logger("scheduled")


def as_of_for_run(started: dt.datetime, rules_file: Path | None = None) -> dt.date:
    """The as-of date of a run that started (or was scheduled to start) at `started`:
    the last day of the previous month in the plan's time zone (the rules file's
    time.timezone)."""
    from ecm.config.dates import default_as_of
    from ecm.config.rules import load_rules

    return default_as_of(load_rules(rules_file).timezone, now=started)


def month_folder(out_root: Path, as_of: dt.date) -> Path:
    """The run's output folder: `<out_root>/<YYYY-MM>` of the as-of month."""
    return Path(out_root) / as_of.strftime("%Y-%m")


def _scheduled_start() -> dt.datetime:
    """When this flow run was scheduled to start (the cron tick for a scheduled run, the
    moment of the request for one started by hand); now outside a flow run."""
    from prefect.runtime import flow_run

    return flow_run.scheduled_start_time


@flow(name="ecm-scheduled-monthly", log_prints=False, persist_result=False)
def scheduled_monthly(
    input_dir: Path,
    out_root: Path,
    warehouse: Path | None = None,
    rules_file: Path | None = None,
    shards: int | None = None,
    dask: str | None = None,
    lock_wait_seconds: float = 3600,
    as_of: dt.date | None = None,
) -> dict[str, Any]:
    """The monthly ECM run on a schedule: feeds in `input_dir`, files to
    `out_root/<YYYY-MM>/` of the as-of month, the warehouse `warehouse` (default
    `out_root/warehouse.duckdb`).

    `as_of` defaults to the last day of the month before the run's scheduled start in the
    rules file's time zone (time.timezone). `shards` and `dask` are `ecm run`'s `--shards`
    and `--dask`: `dask` None runs the shards one after another in the flow run's process,
    "local" on a new local Dask cluster, an address (tcp://host:8786) on that cluster.
    `lock_wait_seconds` is `ecm run --wait`: how long a scheduled run waits for another
    run using the warehouse or the month's folder (an analyst's, say) before it refuses.
    """
    from ecm.run.logs import configure_logging
    from flows.launch import run_monthly

    configure_logging()
    try:
        day = as_of or as_of_for_run(_scheduled_start(), Path(rules_file) if rules_file else None)
        out_dir = month_folder(out_root, day)
        return run_monthly(
            Path(input_dir),
            day,
            out_dir,
            Path(warehouse) if warehouse else None,
            Path(rules_file) if rules_file else None,
            shards=shards,
            dask=dask,
            wait=lock_wait_seconds,
        )
    except EcmError as exc:
        # The one-paragraph error `ecm run` prints, in the run's log (no member data).
        log.error("%s", exc)
        raise
