"""The referral loop with ECM providers (loop.md, section 3): a stage after the merge of
the shards and before delivery, run once per run (not per shard: the members in the loop
are those listed or enrolled in ECM, few beside the plan).

Owns what a run makes of the loop (`stage.run_loop`): the referrals known on the as-of
date and each one's state, the Assignment Status of every member the member information
files could list (or why a member is left out), the review of members enrolled in ECM, and
the RTF rows of members a provider was never sent; what it reads from the run's warehouse
copy (`inputs`: eligibility, the staged RTF and OTF, the warehouse's history). The rules
are pure, in `transforms/loop.py`; the thresholds come from the rules file's `[loop]`.

May import: `ecm.errors`, `ecm.files`, `ecm.config`, `ecm.run`, `ecm.warehouse`,
`transforms`, `data_contracts`. Imports neither `ecm.ingest` nor `ecm.shards` (it reads
their results as files and tables), nor `ecm.deliver` (which reads its files), nor
`flows/`.
"""
