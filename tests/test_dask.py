"""`ecm run --dask`: the shard tasks on a local Dask cluster (two worker processes) give
the same files, byte for byte, as the shards run one after another in this process; the
workers write the shards' files as privately as the run (tests/test_file_modes.py)."""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from ecm.cli import _run_flow
from ecm.generate import generate_feeds
from tests.test_file_modes import check_private, modes_under, umask

END = dt.date(2026, 10, 31)
MEMBERS = 2_500
SHARDS = 3
FILES = (
    "assignments.parquet",
    "assignments.csv",
    "evidence.parquet",
    "member_metrics.parquet",
    "exclusions.parquet",
    "referrals.parquet",
    "review.parquet",
)


@pytest.mark.dask
def test_dask_run_is_byte_identical_to_a_plain_run(tmp_path, monkeypatch):
    import flows.monthly as monthly_module

    # the work folder as the workers left it, just before the shards are merged
    work: dict = {}
    merge = monthly_module.merge_shard_results

    def look_then_merge(results, out_dir):
        work.update(modes_under(out_dir.parent))
        return merge(results, out_dir)

    monkeypatch.setattr(monthly_module, "merge_shard_results", look_then_merge)
    feeds = tmp_path / "feeds"
    generate_feeds(feeds, members=MEMBERS, months=24, end=END, seed=7, fmt="parquet")
    plain = tmp_path / "plain" / "out"
    on_dask = tmp_path / "dask" / "out"
    plain_summary = _run_flow(feeds, END, plain, None, None, shards=SHARDS)
    work.clear()
    with umask(0o000):  # the workers' files are private whatever the umask
        dask_summary = _run_flow(
            feeds, END, on_dask, None, None, shards=SHARDS, dask="local", dask_workers=2
        )
    assert any("shard_results" in p.parts for p in work)  # the workers wrote there
    check_private(work, group_readable=False)
    check_private(modes_under(on_dask.parent), group_readable=False)
    summaries = {"plain": plain_summary, "dask": dask_summary}
    for name in FILES:
        assert (on_dask / name).read_bytes() == (plain / name).read_bytes(), name
    assert summaries["dask"]["shards"]["shards"] == SHARDS
    for summary in summaries.values():
        summary.pop("timings_seconds")
    assert summaries["dask"] == summaries["plain"]
    written = json.loads((on_dask / "summary.json").read_text())
    assert written["assignments"] == summaries["plain"]["assignments"] > 0
    assert written["exclusions"]["members"] > 0  # the generated programs and hospice claims

    # The workers wrote the shards' events under the run's work folder, privately, and the
    # run kept them; `ecm run --dask` again reads them where the run kept them
    # (ecm.shards.events) and writes the plain run's files. (A command of its own: a third
    # run through a temporary Prefect server here leaves events its client drains for
    # minutes at this process's exit.)
    assert any("events" in p.parts and p.suffix == ".parquet" for p in work)
    again = on_dask.parent / "again"
    command = [str(Path(sys.executable).with_name("ecm")), "run", "--input", str(feeds)]
    command += ["--as-of", END.isoformat(), "--out", str(again), "--shards", str(SHARDS)]
    command += ["--quiet", "--dask"]
    env = {k: v for k, v in os.environ.items() if k != "PREFECT_API_URL"}
    done = subprocess.run(command, check=False, capture_output=True, text=True, env=env)
    assert done.returncode == 0, done.stderr[-3000:]
    rerun = json.loads((again / "summary.json").read_text())
    assert rerun["shards"] == {**dask_summary["shards"], "inputs_kept": True, "events_kept": True}
    for name in FILES:
        assert (again / name).read_bytes() == (plain / name).read_bytes(), name


def test_the_local_workers_report_nothing_below_critical(rules):
    """A run interrupted while its local cluster runs: the workers outlive the scheduler
    for a moment and log `Failed to communicate with scheduler during heartbeat` with a
    traceback on the command's stderr (seen by a user on a loaded machine, 4 runs of 4);
    their `distributed` loggers are silenced to CRITICAL, as this process's are."""
    import logging

    from ecm.run.dask import LOCAL_CLUSTER, dask_task_runner

    runner = dask_task_runner(LOCAL_CLUSTER, rules, workers=2)
    assert runner.cluster_kwargs["silence_logs"] >= logging.CRITICAL


def test_outside_a_dask_run_the_flow_runs_one_shard_at_a_time_and_warms_nothing():
    from ecm.run.dask import start_workers

    assert start_workers("flows.monthly") == (1, [])
