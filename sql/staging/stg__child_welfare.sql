-- stg__child_welfare: child-welfare status spans renamed and cast.
-- Grain: one row per child-welfare status span.
-- The rows come checked: `checked__child_welfare` is generated from the contract
-- (data_contracts/child_welfare.toml, by data_contracts/sql.py) and carries `_reject`;
-- its typed columns (dates, whole numbers, codes) come parsed, once, by the checks, and
-- are not cast again here.
with

source as (
    select * from checked__child_welfare
),

final as (
    select * replace (
        ecm_text(member_id) as member_id,
        lower(ecm_text(status)) as status
    )
    from source
)

select * from final
