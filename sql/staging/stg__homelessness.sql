-- stg__homelessness: HMIS / street-medicine spans renamed, cast and checked.
-- Grain: one row per homelessness project entry.
with

source as (
    select * from raw__homelessness
),

known_members as (
    select distinct member_id from stg__eligibility
),

checked as (
    select
        source.*,
        ecm_first_failure([
            ecm_check_present(source.member_id, 'member_id'),
            ecm_check_present(entry_date, 'entry_date'),
            ecm_check_date(entry_date, 'entry_date'),
            ecm_check_date(exit_date, 'exit_date'),
            ecm_check_order(entry_date, exit_date, 'entry_date', 'exit_date'),
            case when ecm_text(source.member_id) is not null and known_members.member_id is null
                 then 'unknown_member|member_id is not in the eligibility feed' end
        ]) as _reject
    from source
    left join known_members on ecm_text(source.member_id) = known_members.member_id
),

final as (
    select * replace (
        ecm_text(member_id) as member_id,
        ecm_date(entry_date) as entry_date,
        ecm_date(exit_date) as exit_date
    )
    from checked
)

select * from final
