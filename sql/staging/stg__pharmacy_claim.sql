-- stg__pharmacy_claim: the pharmacy_claim feed renamed, cast and checked. No rule reads it yet.
-- Grain: one row per pharmacy claim line as delivered.
with

source as (
    select * from raw__pharmacy_claim
),

known_members as (
    select distinct member_id from stg__eligibility
),

checked as (
    select
        source.*,
        ecm_first_failure([
            ecm_check_present(claim_id, 'claim_id'),
            ecm_check_present(source.member_id, 'member_id'),
            ecm_check_present(dispensing_date, 'dispensing_date'),
            ecm_check_date(dispensing_date, 'dispensing_date'),
            ecm_check_date(file_date, 'file_date'),
            ecm_check_shape(regexp_replace(ecm_text(ndc_code), '-', '', 'g'), ndc_code, 'ndc_code',
                            '[0-9]{10,11}', 'an NDC (10 or 11 digits)'),
            case when ecm_text(source.member_id) is not null and known_members.member_id is null
                 then 'unknown_member|member_id is not in the eligibility feed' end
        ]) as _reject
    from source
    left join known_members on ecm_text(source.member_id) = known_members.member_id
),

final as (
    select * replace (
        ecm_text(member_id) as member_id,
        ecm_text(claim_id) as claim_id,
        try_cast(ecm_text(claim_line_number) as integer) as claim_line_number,
        ecm_date(dispensing_date) as dispensing_date,
        regexp_replace(ecm_text(ndc_code), '-', '', 'g') as ndc_code,
        try_cast(ecm_text(days_supply) as integer) as days_supply,
        ecm_date(file_date) as file_date
    )
    from checked
)

select * from final
