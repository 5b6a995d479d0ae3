"""Delivery: what a run hands its users, and `ecm explain`.

Owns the files a run writes under `--out`: `catalog` declares each one (name, grain,
columns and types, grain key, writer, command), `writers` holds a function per file,
`write.write_run_outputs` calls them in the catalog's order; `summary` builds summary.json
from the stages' counts, `quality` the quarantine and the data-quality counts,
`member_files` each provider's member information file, `report_page` report.html. Also
what the console says (`console`), `ecm explain` (`explain`), which reads a run's
output folder, and `ecm diff`'s page (`diff_page`, from report_page's pieces).

May import: `ecm.errors`, `ecm.files`, `ecm.config`, `ecm.run`, `ecm.warehouse`,
`ecm.loop` (its readers of the staged provider feeds and the roster), `transforms`,
`data_contracts`. Imports neither `ecm.ingest` nor `ecm.shards` (what they
hand on is read through small protocols: `summary.Ingested`, `summary.Split`), nor
`flows/`.
"""
