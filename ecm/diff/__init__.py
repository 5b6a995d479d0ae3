"""`ecm diff`: who would gain or lose which population under another rules file (a plan
trying the DHCS 6-month adult high-utiliser window, a new value-set version), a stage of
its own, run on demand over what the monthly runs staged.

Owns what the command makes of the warehouse (`build.write_diff`): what it reads of it,
read only and never locked, as `ecm quarterly` does (`staged`: the latest run and the
rules file kept with it, the feeds staged, the void frequency the claim versions were
resolved with); the shard inputs written once for both rules files, from a connection
that writes nothing to the warehouse, and each rules file's assignments evaluated over
them by the monthly run's own shards (`sides`: ecm.shards' `run_shard` per shard, then
`merge_shard_results`; no second copy of a rule); and `diff.parquet`, `diff.html` and
`manifest.json`, written all or nothing into `--out` (ecm.run.safety). The comparison is
pure, in `transforms/rules_diff.py`; the page is `ecm.deliver.diff_page`'s.

May import: `ecm.errors`, `ecm.files`, `ecm.config`, `ecm.run`, `ecm.warehouse`,
`ecm.ingest` (its readers of what an ingest recorded), `ecm.shards` (the shard inputs and
the rules' evaluation), `ecm.deliver` (the page), `transforms`, `data_contracts`. Imports
neither `ecm.loop` nor `ecm.quarterly`, nor `flows/`, nor `ecm.cli`.
"""
