-- stg__child_welfare: child-welfare status spans renamed, cast and checked.
-- Grain: one row per child-welfare status span.
with

source as (
    select * from raw__child_welfare
),

known_members as (
    select distinct member_id from stg__eligibility
),

checked as (
    select
        source.*,
        ecm_first_failure([
            ecm_check_present(source.member_id, 'member_id'),
            ecm_check_present(status, 'status'),
            ecm_check_choice(status,
                             ['foster_care', 'adoption_assistance', 'family_maintenance',
                              'aged_out_foster_care'],
                             'status'),
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
        lower(ecm_text(status)) as status,
        ecm_date(start_date) as start_date,
        ecm_date(end_date) as end_date
    )
    from checked
)

select * from final
