-- stg__program_enrollment: program enrollment spans renamed and cast.
-- Grain: one row per member per program enrollment span.
-- The rows come checked: `checked__program_enrollment` is generated from the contract
-- (data_contracts/program_enrollment.toml, by data_contracts/sql.py) and carries `_reject`;
-- its typed columns (dates, whole numbers, codes) come parsed, once, by the checks, and
-- are not cast again here. The program is any text, trimmed and lower case: the codes of
-- reference/exclusion_programs.csv are lower case.
with

source as (
    select * from checked__program_enrollment
),

final as (
    select * replace (
        ecm_text(member_id) as member_id,
        lower(ecm_text(program)) as program
    )
    from source
)

select * from final
