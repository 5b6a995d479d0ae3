-- stg__eligibility: the eligibility feed renamed, cast and checked.
-- Grain: one row per member per enrollment span (as delivered).
-- Rows failing a check carry `_reject` ('rule|detail') and are quarantined by the loader.
with

source as (
    select * from raw__eligibility
),

checked as (
    select
        *,
        ecm_first_failure([
            ecm_check_present(member_id, 'member_id'),
            ecm_check_present(birth_date, 'birth_date'),
            ecm_check_date(birth_date, 'birth_date'),
            ecm_check_present(enrollment_start_date, 'enrollment_start_date'),
            ecm_check_date(enrollment_start_date, 'enrollment_start_date'),
            ecm_check_date(enrollment_end_date, 'enrollment_end_date'),
            ecm_check_date(death_date, 'death_date'),
            ecm_check_date(file_date, 'file_date'),
            ecm_check_order(enrollment_start_date, enrollment_end_date,
                            'enrollment_start_date', 'enrollment_end_date'),
            ecm_check_order(birth_date, enrollment_start_date, 'birth_date', 'enrollment_start_date')
        ]) as _reject
    from source
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
    from checked
)

select * from final
