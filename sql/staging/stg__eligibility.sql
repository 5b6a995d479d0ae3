-- stg__eligibility: the eligibility feed renamed and cast.
-- Grain: one row per member per enrollment span (as delivered).
-- The rows come checked: `checked__eligibility` is generated from the contract
-- (data_contracts/eligibility.toml, by data_contracts/sql.py) and carries `_reject`.
with

source as (
    select * from checked__eligibility
),

final as (
    select * replace (
        ecm_text(member_id) as member_id,
        coalesce(ecm_text(person_id), ecm_text(member_id)) as person_id,
        ecm_text(subscriber_id) as subscriber_id,
        ecm_date(birth_date) as birth_date,
        ecm_date(death_date) as death_date,
        lower(ecm_text(gender)) as gender,
        lower(ecm_text(race)) as race,
        lower(ecm_text(ethnicity)) as ethnicity,
        ecm_date(enrollment_start_date) as enrollment_start_date,
        ecm_date(enrollment_end_date) as enrollment_end_date,
        ecm_text(dual_status_code) as dual_status_code,
        ecm_date(file_date) as file_date
    )
    from source
)

select * from final
