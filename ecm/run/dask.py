"""The shard tasks on Dask (`ecm run --dask`): the task runner, and its workers started
while the run ingests.

`dask_task_runner` builds a prefect-dask `DaskTaskRunner` (an existing cluster, or a local
one sized by the rules file's memory budget); `start_workers` tells the flow how many shards
its runner runs side by side and warms the workers up. Prefect, prefect-dask and
distributed are imported only when a run uses them.
"""

from __future__ import annotations

import importlib
import logging
import os
from typing import Any

from ecm.config.rules import Rules
from ecm.run.prefect_env import WORKER_ENVIRONMENT, configured_api_url

LOCAL_CLUSTER = "local"
"""`--dask` alone: a new local cluster for the run."""


def dask_task_runner(address: str, rules: Rules, workers: int | None = None):
    """A prefect-dask `DaskTaskRunner` for the shard tasks: on the existing cluster at
    `address` (e.g. tcp://host:8786), or for `address` LOCAL_CLUSTER on a new
    `distributed.LocalCluster` of `workers` processes (default: one per core), one
    thread each, each limited to the rules file's [run] memory budget divided over the
    workers. The local workers' environment turns analytics off."""
    from prefect_dask import DaskTaskRunner

    # distributed's own INFO lines (and its tracebacks of closed connections at
    # shutdown) would interleave with the run's log on stderr, and break --json.
    logging.getLogger("distributed").setLevel(logging.CRITICAL)
    if address != LOCAL_CLUSTER:
        return DaskTaskRunner(address=address)
    workers = workers or os.cpu_count() or 1
    budget = rules.setting("run.memory_budget_gib") * 2**30
    return DaskTaskRunner(
        cluster_class="distributed.LocalCluster",
        cluster_kwargs={
            "n_workers": workers,
            "threads_per_worker": 1,
            "processes": True,
            "memory_limit": int(budget / workers),
            "dashboard_address": None,
            "silence_logs": logging.CRITICAL,
            # Inherited from this process too; said here so the workers never send
            # analytics whatever this process's environment says.
            "env": {**WORKER_ENVIRONMENT, **_prefect_api_env()},
        },
    )


def _prefect_api_env() -> dict[str, str]:
    """PREFECT_API_URL for the workers: the server this process reports to."""
    url = configured_api_url()
    return {"PREFECT_API_URL": url} if url else {}


def _warm_up(module: str) -> None:
    """In a worker: import `module` (the flow's, and with it ecm, polars and duckdb) and
    Prefect's task engine, what a shard task needs, while the flow ingests."""
    importlib.import_module(module)
    importlib.import_module("prefect.task_engine")


def start_workers(flow_module: str) -> tuple[int, list[Any]]:
    """How many shards the flow's task runner runs side by side (the Dask cluster's
    threads, or 1 for the default runner, one thread) and, on Dask, the futures of a
    warm-up on every worker (importing `flow_module`, the module of the shard task): the
    cluster starts and the workers import their code while this process ingests and
    validates. The caller holds the futures until its shards are submitted (Dask drops a
    future nobody holds)."""
    from prefect.context import FlowRunContext

    context = FlowRunContext.get()
    runner = context.task_runner if context else None
    if type(runner).__name__ != "DaskTaskRunner":
        return 1, []
    client = runner.client  # type: ignore[union-attr]  # starts or connects to the cluster
    threads = client.nthreads()
    warming = [client.submit(_warm_up, flow_module, workers=[w], pure=False) for w in threads]
    return max(1, sum(threads.values())), warming
