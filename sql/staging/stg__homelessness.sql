-- stg__homelessness: HMIS / street-medicine spans renamed and cast.
-- Grain: one row per homelessness project entry.
-- The rows come checked: `checked__homelessness` is generated from the contract
-- (data_contracts/homelessness.toml, by data_contracts/sql.py) and carries `_reject`.
with

source as (
    select * from checked__homelessness
),

final as (
    select * replace (
        ecm_text(member_id) as member_id,
        ecm_date(entry_date) as entry_date,
        ecm_date(exit_date) as exit_date
    )
    from source
)

select * from final
