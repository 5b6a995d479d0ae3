-- int__member_shard: the shard of every member of stg__eligibility, for a run in $shards
-- shards. Reads int__member_household (member_id, household_id: the smallest member_id of
-- the member's household, ecm/shards.py). A household never spans shards: the shard is a
-- hash of the household key (ecm_household_shard, sql/shards/macros.sql), stable across
-- DuckDB versions and machines. Grain: one row per member_id.
with

final as (
    select
        member_id,
        household_id,
        ecm_household_shard(household_id, $shards) as shard
    from int__member_household
)

select * from final
