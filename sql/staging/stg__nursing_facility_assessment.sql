-- stg__nursing_facility_assessment: MDS-style assessments renamed, cast and checked.
-- Grain: one row per assessment.
with

source as (
    select * from raw__nursing_facility_assessment
),

known_members as (
    select distinct member_id from stg__eligibility
),

checked as (
    select
        source.*,
        ecm_first_failure([
            ecm_check_present(source.member_id, 'member_id'),
            ecm_check_present(assessment_date, 'assessment_date'),
            ecm_check_date(assessment_date, 'assessment_date'),
            ecm_check_choice(residence_setting, ['nursing_facility', 'community'],
                             'residence_setting'),
            case when ecm_text(meets_snf_level_of_care) is not null
                      and ecm_yes_no(meets_snf_level_of_care) is null
                 then 'unknown_value|meets_snf_level_of_care ''' || meets_snf_level_of_care
                      || ''' is not Y or N' end,
            case when ecm_text(needs_lower_acuity_skilled_nursing) is not null
                      and ecm_yes_no(needs_lower_acuity_skilled_nursing) is null
                 then 'unknown_value|needs_lower_acuity_skilled_nursing '''
                      || needs_lower_acuity_skilled_nursing || ''' is not Y or N' end,
            case when ecm_text(interested_in_community_transition) is not null
                      and ecm_yes_no(interested_in_community_transition) is null
                 then 'unknown_value|interested_in_community_transition '''
                      || interested_in_community_transition || ''' is not Y or N' end,
            case when ecm_text(able_to_reside_in_community) is not null
                      and ecm_yes_no(able_to_reside_in_community) is null
                 then 'unknown_value|able_to_reside_in_community '''
                      || able_to_reside_in_community || ''' is not Y or N' end,
            case when ecm_text(source.member_id) is not null and known_members.member_id is null
                 then 'unknown_member|member_id is not in the eligibility feed' end
        ]) as _reject
    from source
    left join known_members on ecm_text(source.member_id) = known_members.member_id
),

final as (
    select * replace (
        ecm_text(member_id) as member_id,
        ecm_date(assessment_date) as assessment_date,
        ecm_text(facility_npi) as facility_npi,
        lower(ecm_text(residence_setting)) as residence_setting,
        ecm_yes_no(meets_snf_level_of_care) as meets_snf_level_of_care,
        ecm_yes_no(needs_lower_acuity_skilled_nursing) as needs_lower_acuity_skilled_nursing,
        ecm_yes_no(interested_in_community_transition) as interested_in_community_transition,
        ecm_yes_no(able_to_reside_in_community) as able_to_reside_in_community
    )
    from checked
)

select * from final
