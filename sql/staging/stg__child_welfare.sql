-- stg__child_welfare: child-welfare status spans renamed and cast.
-- Grain: one row per child-welfare status span.
-- The rows come checked: `checked__child_welfare` is generated from the contract
-- (data_contracts/child_welfare.toml, by data_contracts/sql.py) and carries `_reject`.
with

source as (
    select * from checked__child_welfare
),

final as (
    select * replace (
        ecm_text(member_id) as member_id,
        lower(ecm_text(status)) as status,
        ecm_date(start_date) as start_date,
        ecm_date(end_date) as end_date
    )
    from source
)

select * from final
