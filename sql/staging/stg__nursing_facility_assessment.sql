-- stg__nursing_facility_assessment: MDS-style assessments renamed and cast.
-- Grain: one row per assessment.
-- The rows come checked: `checked__nursing_facility_assessment` is generated from the contract
-- (data_contracts/nursing_facility_assessment.toml, by data_contracts/sql.py) and carries `_reject`;
-- its typed columns (dates, whole numbers, codes) come parsed, once, by the checks, and
-- are not cast again here.
with

source as (
    select * from checked__nursing_facility_assessment
),

final as (
    select * replace (
        ecm_text(member_id) as member_id,
        lower(ecm_text(residence_setting)) as residence_setting,
        ecm_yes_no(meets_snf_level_of_care) as meets_snf_level_of_care,
        ecm_yes_no(needs_lower_acuity_skilled_nursing) as needs_lower_acuity_skilled_nursing,
        ecm_yes_no(interested_in_community_transition) as interested_in_community_transition,
        ecm_yes_no(able_to_reside_in_community) as able_to_reside_in_community
    )
    from source
)

select * from final
