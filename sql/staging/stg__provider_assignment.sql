-- stg__provider_assignment: ECM provider assignment spans renamed and cast.
-- Grain: one row per member per ECM provider span.
-- The rows come checked: `checked__provider_assignment` is generated from the contract
-- (data_contracts/provider_assignment.toml, by data_contracts/sql.py) and carries `_reject`;
-- its typed columns (dates, whole numbers, codes) come parsed, once, by the checks, and
-- are not cast again here.
with

source as (
    select * from checked__provider_assignment
),

final as (
    select * replace (
        ecm_text(member_id) as member_id,
        ecm_text(provider_name) as provider_name
    )
    from source
)

select * from final
