-- stg__ccs_enrollment: California Children's Services spans renamed and cast.
-- Grain: one row per CCS enrollment span.
-- The rows come checked: `checked__ccs_enrollment` is generated from the contract
-- (data_contracts/ccs_enrollment.toml, by data_contracts/sql.py) and carries `_reject`;
-- its typed columns (dates, whole numbers, codes) come parsed, once, by the checks, and
-- are not cast again here.
with

source as (
    select * from checked__ccs_enrollment
),

final as (
    select * replace (
        ecm_text(member_id) as member_id,
        upper(ecm_text(program)) as program
    )
    from source
)

select * from final
