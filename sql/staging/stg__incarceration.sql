-- stg__incarceration: custody episodes renamed, cast and checked.
-- Grain: one row per custody episode.
with

source as (
    select * from raw__incarceration
),

known_members as (
    select distinct member_id from stg__eligibility
),

checked as (
    select
        source.*,
        ecm_first_failure([
            ecm_check_present(source.member_id, 'member_id'),
            ecm_check_present(facility_type, 'facility_type'),
            ecm_check_choice(facility_type,
                             ['state_prison', 'county_jail', 'youth_correctional', 'other'],
                             'facility_type'),
            ecm_check_date(booking_date, 'booking_date'),
            ecm_check_date(release_date, 'release_date'),
            ecm_check_order(booking_date, release_date, 'booking_date', 'release_date'),
            case when ecm_text(booking_date) is null and ecm_text(release_date) is null
                 then 'missing_value|booking_date and release_date are both empty' end,
            case when ecm_text(source.member_id) is not null and known_members.member_id is null
                 then 'unknown_member|member_id is not in the eligibility feed' end
        ]) as _reject
    from source
    left join known_members on ecm_text(source.member_id) = known_members.member_id
),

final as (
    select * replace (
        ecm_text(member_id) as member_id,
        lower(ecm_text(facility_type)) as facility_type,
        ecm_date(booking_date) as booking_date,
        ecm_date(release_date) as release_date
    )
    from checked
)

select * from final
