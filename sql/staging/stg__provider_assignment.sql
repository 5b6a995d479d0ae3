-- stg__provider_assignment: ECM provider assignment spans renamed and cast.
-- Grain: one row per member per ECM provider span.
-- The rows come checked: `checked__provider_assignment` is generated from the contract
-- (data_contracts/provider_assignment.toml, by data_contracts/sql.py) and carries `_reject`.
with

source as (
    select * from checked__provider_assignment
),

final as (
    select * replace (
        ecm_text(member_id) as member_id,
        ecm_text(provider_npi) as provider_npi,
        ecm_text(provider_name) as provider_name,
        ecm_date(start_date) as start_date,
        ecm_date(end_date) as end_date
    )
    from source
)

select * from final
