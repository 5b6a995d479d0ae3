"""Run safety and operations, around every stage of a run.

Owns the locks (`locks`), what is already on disk (`safety`: the output folder and the
warehouse copy, leftovers of a killed run), a run's hold on the disk from its locks to its
swap (`all_or_nothing`), file modes (`file_modes`), the machine's faults (`machine`: exit
4), interrupts (`interrupts`: SIGINT/SIGTERM, DuckDB queries interrupted, the run's
processes ended), the sanity guards (`guards`), progress, stage timings and logs
(`progress`, `logs`), Prefect's settings (`prefect_env`), the Dask task runner and its
workers (`dask`) and the scheduled deployment (`deployment`).

May import: `ecm.errors`, `ecm.files`, `ecm.config`, `data_contracts`. Imports no stage
(ingest, shards, deliver) and nothing under `flows/`.
"""
