-- stg__eligibility: the eligibility feed renamed and cast.
-- Grain: one row per member per enrollment span (as delivered).
-- The rows come checked: `checked__eligibility` is generated from the contract
-- (data_contracts/eligibility.toml, by data_contracts/sql.py) and carries `_reject`;
-- its typed columns (dates, whole numbers, codes) come parsed, once, by the checks, and
-- are not cast again here.
with

source as (
    select * from checked__eligibility
),

final as (
    select * replace (
        ecm_text(member_id) as member_id,
        coalesce(ecm_text(person_id), ecm_text(member_id)) as person_id,
        ecm_text(subscriber_id) as subscriber_id,
        lower(ecm_text(gender)) as gender,
        lower(ecm_text(race)) as race,
        lower(ecm_text(ethnicity)) as ethnicity,
        ecm_text(dual_status_code) as dual_status_code
    )
    from source
)

select * from final
