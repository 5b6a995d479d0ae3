"""Starting the monthly flow: the one way `ecm run`, `ecm demo` and the scheduled flow
(flows.scheduled) run it.

`run_monthly` first checks, in a moment and before Prefect starts, what can be checked:
the rules file, the feed directory, `--out` (the run's one check of it before the run; the
flow checks it once more just before the swap), the locks and the warehouse. Then it
applies Prefect's settings, starts the run's temporary Prefect server (unless
PREFECT_API_URL names one) and runs the flow, on Dask when asked (ecm.run.dask). Nothing
here imports Prefect before its settings are applied, nor `ecm.cli`.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

from ecm.errors import InputError
from ecm.run import progress
from ecm.run.prefect_env import apply_prefect_defaults, quiet_prefect_failure_logs


def run_monthly(
    input_dir: Path,
    as_of: dt.date,
    out_dir: Path,
    warehouse: Path | None,
    rules_file: Path | None,
    encodings: dict[str, str] | None = None,
    shards: int | None = None,
    dask: str | None = None,
    dask_workers: int | None = None,
    wait: float = 0,
) -> dict[str, Any]:
    """Run the monthly flow. `dask`: None runs the shards one after another in this
    process; "local" on a new local Dask cluster (`dask_workers` processes, default one
    per core); an address (tcp://host:8786) on that cluster. One temporary Prefect server,
    started and stopped here, serves the whole run (its Dask workers too) unless
    PREFECT_API_URL names one. `wait`: the seconds to wait for another run holding the
    warehouse or `out_dir` (ecm.run.locks)."""
    from data_contracts import load_contracts
    from ecm.config.rules import load_rules
    from ecm.ingest.discover import discover_feeds
    from ecm.run.prefect_env import configured_api_url
    from ecm.run.safety import check_output_folder, check_warehouse, default_warehouse, followed

    # Fail fast, before Prefect starts, on what can be checked in a moment. A linked
    # --out or --warehouse stands for its target (the flow follows it too). --out is
    # checked before the locks: a lock file is never made beside an --out that lies in
    # the input folder.
    rules = load_rules(rules_file)
    discover_feeds(input_dir, load_contracts())
    out_dir = followed(out_dir, "output folder")
    warehouse = followed(warehouse, "warehouse") if warehouse else None
    check_output_folder(out_dir, input_dir, warehouse or default_warehouse(out_dir))
    if not wait:
        from ecm.run.locks import check_not_locked

        check_not_locked(warehouse or default_warehouse(out_dir), out_dir)
        # no run holds it (a moment ago): open it to see it is an ecm warehouse
        check_warehouse(warehouse or default_warehouse(out_dir))
    apply_prefect_defaults()
    if dask not in (None, "local") and not configured_api_url() and not _is_loopback(dask):
        raise InputError(
            f"--dask {dask}: the workers of an existing cluster report to the Prefect "
            f"server of the run, and a temporary one on this machine cannot be reached "
            f"from theirs. Set PREFECT_API_URL (here and on the workers) to a Prefect "
            f"server both can reach (prefect server start), then run again."
        )
    from flows.monthly import monthly  # Prefect is imported only when a flow runs

    quiet_prefect_failure_logs()
    # Until the flow's first stage: Prefect's start (a temporary local server, seconds).
    progress.reporter().begin("start_prefect")
    parameters = {
        "input_dir": input_dir,
        "as_of": as_of,
        "out_dir": out_dir,
        "warehouse": warehouse,
        "rules_file": rules_file,
        "encodings": encodings,
        "shards": shards,
        "lock_wait_seconds": wait,
    }
    from ecm.run.prefect_env import prefect_server_for_run

    # The run's temporary Prefect server is started here, not by Prefect's engine, so
    # that the run stops it on every path (an interrupted run too: ecm.run.interrupts).
    with prefect_server_for_run():
        if dask is None:
            return monthly(**parameters)
        from ecm.run.dask import dask_task_runner

        # The runner is built inside: the local workers inherit PREFECT_API_URL.
        runner = dask_task_runner(dask, rules, dask_workers)
        return monthly.with_options(task_runner=runner)(**parameters)


@contextmanager
def one_prefect_server() -> Iterator[str]:
    """One temporary Prefect server for several runs in a row (`ecm demo`'s months):
    every `run_monthly` inside finds PREFECT_API_URL set and starts none of its own (each
    start costs seconds). Unless PREFECT_API_URL names a server already; stopped after."""
    apply_prefect_defaults()
    from ecm.run.prefect_env import prefect_server_for_run

    with ExitStack() as server:
        with progress.reporter().stage("start_prefect"):
            url = server.enter_context(prefect_server_for_run())
        yield url


def _is_loopback(address: str) -> bool:
    """Whether a Dask scheduler address (tcp://host:port) names this machine."""
    from urllib.parse import urlsplit

    host = urlsplit(address if "://" in address else f"tcp://{address}").hostname or ""
    return host in {"localhost", "127.0.0.1", "::1"}
