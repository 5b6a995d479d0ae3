"""Shards: the members split into household shards, and each shard's events and rules.

Owns the households, the shard map and the inputs each shard reads (`inputs`), the wiring
from those inputs to the pure transforms (`evaluate`: events, then every population's
rule), each shard's events kept between runs (`events`), one shard's run (`run`: paths in,
result files out; picklable, so Dask can run it) and the merge of the shards' results.

May import: `ecm.errors`, `ecm.files`, `ecm.config`, `ecm.warehouse`, `transforms`,
`data_contracts`. Imports neither `ecm.ingest` nor `ecm.deliver`, nor `flows/`.
"""
