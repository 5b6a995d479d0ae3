-- stg__homelessness: HMIS / street-medicine spans renamed and cast.
-- Grain: one row per homelessness project entry.
-- The rows come checked: `checked__homelessness` is generated from the contract
-- (data_contracts/homelessness.toml, by data_contracts/sql.py) and carries `_reject`;
-- its typed columns (dates, whole numbers, codes) come parsed, once, by the checks, and
-- are not cast again here.
with

source as (
    select * from checked__homelessness
),

final as (
    select * replace (
        ecm_text(member_id) as member_id
    )
    from source
)

select * from final
