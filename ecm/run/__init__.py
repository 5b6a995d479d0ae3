"""Run safety and operations, around every stage of a run.

Owns the locks (`locks`), what is already on disk (`safety`: the output folder and the
warehouse copy, leftovers of a killed run), file modes (`file_modes`), the machine's
faults (`machine`: exit 4), interrupts (`interrupts`: SIGINT/SIGTERM, DuckDB queries
interrupted, the run's processes ended), the sanity guards (`guards`), progress and logs
(`progress`, `logs`), Prefect's settings (`prefect_env`), the Dask task runner (`dask`)
and the scheduled deployment (`deployment`).

May import: `ecm.errors`, `ecm.files`, `ecm.config`, `data_contracts`. Imports no stage
(ingest, shards, deliver) and nothing under `flows/`.
"""
