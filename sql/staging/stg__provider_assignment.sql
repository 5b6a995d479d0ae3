-- stg__provider_assignment: ECM provider assignment spans renamed, cast and checked.
-- Grain: one row per member per ECM provider span.
with

source as (
    select * from raw__provider_assignment
),

known_members as (
    select distinct member_id from stg__eligibility
),

checked as (
    select
        source.*,
        ecm_first_failure([
            ecm_check_present(source.member_id, 'member_id'),
            ecm_check_present(provider_npi, 'provider_npi'),
            ecm_check_shape(ecm_text(provider_npi), provider_npi, 'provider_npi', '[0-9]{10}',
                            'an NPI (10 digits)'),
            ecm_check_present(start_date, 'start_date'),
            ecm_check_date(start_date, 'start_date'),
            ecm_check_date(end_date, 'end_date'),
            ecm_check_order(start_date, end_date, 'start_date', 'end_date'),
            case when ecm_text(source.member_id) is not null and known_members.member_id is null
                 then 'unknown_member|member_id is not in the eligibility feed' end
        ]) as _reject
    from source
    left join known_members on ecm_text(source.member_id) = known_members.member_id
),

final as (
    select * replace (
        ecm_text(member_id) as member_id,
        ecm_text(provider_npi) as provider_npi,
        ecm_text(provider_name) as provider_name,
        ecm_date(start_date) as start_date,
        ecm_date(end_date) as end_date
    )
    from checked
)

select * from final
