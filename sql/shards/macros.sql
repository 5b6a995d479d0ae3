-- The shard of a household key among `shards` shards: the first 15 hex digits (60 bits) of
-- the key's md5, modulo the shard count. md5 is fixed by its RFC, unlike DuckDB's hash(),
-- so a key lands in the same shard on every machine and version (ecm.shards.shard_of
-- computes the same in Python). A missing key hashes as the empty string. A temporary macro:
-- nothing is stored in the warehouse, and a read-only connection installs it too.
create or replace temp macro ecm_household_shard(household_key, shards) as
    cast(cast(('0x' || left(md5(coalesce(household_key, '')), 15)) as ubigint) % shards as integer);
