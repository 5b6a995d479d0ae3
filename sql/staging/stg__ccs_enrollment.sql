-- stg__ccs_enrollment: California Children's Services spans renamed and cast.
-- Grain: one row per CCS enrollment span.
-- The rows come checked: `checked__ccs_enrollment` is generated from the contract
-- (data_contracts/ccs_enrollment.toml, by data_contracts/sql.py) and carries `_reject`.
with

source as (
    select * from checked__ccs_enrollment
),

final as (
    select * replace (
        ecm_text(member_id) as member_id,
        upper(ecm_text(program)) as program,
        ecm_date(start_date) as start_date,
        ecm_date(end_date) as end_date
    )
    from source
)

select * from final
