"""The DHCS quarterly member file (loop.md, section 5): `ecm quarterly --quarter YYYYQn`,
a stage of its own, run on demand after the quarter's monthly runs.

Owns what the command makes of the warehouse (`build.write_quarterly`): the runs whose
as-of dates fall in the quarter and their assignments, the staged RTF and OTF
(`stg__provider_return`, `stg__outreach`) and eligibility (`inputs`: read only, from the
warehouse alone, never from an output folder); the file
`ECM_Quarterly_<plan code>_<YYYY>Q<n>.csv` and `.xlsx` and its `manifest.json`, written
all or nothing into `--out` (ecm.run.safety). The rules are pure, in
`transforms/quarterly.py`; the gap, the flag map and the code map come from the rules
file's `[plan]` and `[quarterly]`.

May import: `ecm.errors`, `ecm.files`, `ecm.config`, `ecm.run`, `ecm.warehouse`,
`ecm.loop` (its readers of the staged feeds), `ecm.deliver` (the output catalog),
`transforms`, `data_contracts`. Imports neither `ecm.ingest` nor `ecm.shards` (it reads
what they staged and recorded), nor `flows/`, nor `ecm.cli`.
"""
