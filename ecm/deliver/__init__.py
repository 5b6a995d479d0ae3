"""Delivery: what a run hands its users.

Owns the files a run writes under `--out` (`member_files`: each provider's member
information file; `report_page`: report.html), what the console says (`console`) and
`ecm explain` (`explain`), which reads a run's output folder.

May import: `ecm.errors`, `ecm.files`, `ecm.config`, `ecm.warehouse`, `ecm.run`,
`transforms`, `data_contracts`. Imports neither `ecm.ingest` nor `ecm.shards`, nor
`flows/`.
"""
