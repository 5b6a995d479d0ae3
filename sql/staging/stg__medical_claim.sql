-- stg__medical_claim: the medical_claim feed renamed, cast, codes normalised and checked.
-- Grain: one row per claim line per delivered version (data_source, claim_id,
-- claim_line_number, file_date). Versions and voids are resolved downstream
-- (intermediate/int__medical_claim_current.sql).
with

source as (
    select * from raw__medical_claim
),

known_members as (
    select distinct member_id from stg__eligibility
),

normalised as (
    select
        source.*,
        ecm_text(source.member_id) as _member_id,
        ecm_revenue_code(revenue_center_code) as _revenue_center_code,
        ecm_place_of_service(place_of_service_code) as _place_of_service_code,
        ecm_bill_type(bill_type_code) as _bill_type_code,
        ecm_hcpcs(hcpcs_code) as _hcpcs_code,
        list_value(*columns('^diagnosis_code_[0-9]+$')) as _dx_codes
    from source
),

located as (
    select
        *,
        -- The first diagnosis position holding a malformed code (0 when none); looked for
        -- position by position only in the rare row whose codes fail as a whole.
        case when ecm_all_diagnosis_codes(_dx_codes) then 0 else coalesce(list_position(
            list_transform(
                _dx_codes,
                lambda d: coalesce(ecm_icd(d) is not null and not ecm_is_diagnosis_code(ecm_icd(d)), false)
            ),
            true
        ), 0) end as _bad_dx_position
    from normalised
),

checked as (
    select
        located.*,
        ecm_first_failure([
            ecm_check_present(claim_id, 'claim_id'),
            ecm_check_present(located.member_id, 'member_id'),
            ecm_check_present(claim_start_date, 'claim_start_date'),
            ecm_check_choice(claim_type, ['institutional', 'professional'], 'claim_type'),
            case when ecm_text(claim_line_number) is not null
                      and try_cast(ecm_text(claim_line_number) as integer) is null
                 then 'malformed_value|claim_line_number ''' || claim_line_number
                      || ''' is not a whole number' end,
            ecm_check_date(claim_start_date, 'claim_start_date'),
            ecm_check_date(claim_end_date, 'claim_end_date'),
            ecm_check_date(claim_line_start_date, 'claim_line_start_date'),
            ecm_check_date(claim_line_end_date, 'claim_line_end_date'),
            ecm_check_date(admission_date, 'admission_date'),
            ecm_check_date(discharge_date, 'discharge_date'),
            ecm_check_date(file_date, 'file_date'),
            ecm_check_order(claim_start_date, claim_end_date, 'claim_start_date', 'claim_end_date'),
            ecm_check_order(claim_line_start_date, claim_line_end_date,
                            'claim_line_start_date', 'claim_line_end_date'),
            ecm_check_order(admission_date, discharge_date, 'admission_date', 'discharge_date'),
            ecm_check_shape(_revenue_center_code, revenue_center_code, 'revenue_center_code',
                            '[0-9]{4}', 'a revenue code (4 digits)'),
            ecm_check_shape(_place_of_service_code, place_of_service_code, 'place_of_service_code',
                            '[0-9]{2}', 'a place of service code (2 digits)'),
            ecm_check_shape(_bill_type_code, bill_type_code, 'bill_type_code',
                            '[0-9]{2}[0-9A-Z]', 'a type of bill (3 or 4 characters)'),
            ecm_check_shape(_hcpcs_code, hcpcs_code, 'hcpcs_code',
                            '[A-Z0-9][0-9]{3}[A-Z0-9]', 'a HCPCS/CPT code (5 characters)'),
            case when _bad_dx_position > 0
                 then 'malformed_code|diagnosis_code_' || _bad_dx_position || ' '''
                      || _dx_codes[_bad_dx_position]
                      || ''' is not an ICD-10-CM (or ICD-9-CM) code' end,
            case when _member_id is not null and known_members.member_id is null
                 then 'unknown_member|member_id is not in the eligibility feed' end
        ]) as _reject
    from located
    left join known_members on located._member_id = known_members.member_id
),

final as (
    select
        * exclude (
            _member_id, _revenue_center_code, _place_of_service_code, _bill_type_code,
            _hcpcs_code, _dx_codes, _bad_dx_position,
            member_id, claim_id, claim_line_number, claim_type, person_id,
            claim_start_date, claim_end_date, claim_line_start_date, claim_line_end_date,
            admission_date, discharge_date, admit_type_code, admit_source_code,
            discharge_disposition_code, place_of_service_code, bill_type_code, drg_code,
            revenue_center_code, hcpcs_code, facility_npi, rendering_npi, data_source, file_date,
            diagnosis_code_1,
            diagnosis_code_2,
            diagnosis_code_3,
            diagnosis_code_4,
            diagnosis_code_5,
            diagnosis_code_6,
            diagnosis_code_7,
            diagnosis_code_8,
            diagnosis_code_9,
            diagnosis_code_10,
            diagnosis_code_11,
            diagnosis_code_12,
            diagnosis_code_13,
            diagnosis_code_14,
            diagnosis_code_15,
            diagnosis_code_16,
            diagnosis_code_17,
            diagnosis_code_18,
            diagnosis_code_19,
            diagnosis_code_20,
            diagnosis_code_21,
            diagnosis_code_22,
            diagnosis_code_23,
            diagnosis_code_24,
            diagnosis_code_25
        ),
        _member_id as member_id,
        coalesce(ecm_text(person_id), _member_id) as person_id,
        coalesce(ecm_text(data_source), '') as data_source,
        ecm_text(claim_id) as claim_id,
        try_cast(ecm_text(claim_line_number) as integer) as claim_line_number,
        lower(ecm_text(claim_type)) as claim_type,
        ecm_date(claim_start_date) as claim_start_date,
        ecm_date(claim_end_date) as claim_end_date,
        ecm_date(claim_line_start_date) as claim_line_start_date,
        ecm_date(claim_line_end_date) as claim_line_end_date,
        ecm_date(admission_date) as admission_date,
        ecm_date(discharge_date) as discharge_date,
        ecm_admit_type(admit_type_code) as admit_type_code,
        ecm_text(admit_source_code) as admit_source_code,
        ecm_two_digit(discharge_disposition_code) as discharge_disposition_code,
        _place_of_service_code as place_of_service_code,
        _bill_type_code as bill_type_code,
        ecm_drg(drg_code) as drg_code,
        _revenue_center_code as revenue_center_code,
        _hcpcs_code as hcpcs_code,
        ecm_text(facility_npi) as facility_npi,
        ecm_text(rendering_npi) as rendering_npi,
        ecm_icd(diagnosis_code_1) as diagnosis_code_1,
        ecm_icd(diagnosis_code_2) as diagnosis_code_2,
        ecm_icd(diagnosis_code_3) as diagnosis_code_3,
        ecm_icd(diagnosis_code_4) as diagnosis_code_4,
        ecm_icd(diagnosis_code_5) as diagnosis_code_5,
        ecm_icd(diagnosis_code_6) as diagnosis_code_6,
        ecm_icd(diagnosis_code_7) as diagnosis_code_7,
        ecm_icd(diagnosis_code_8) as diagnosis_code_8,
        ecm_icd(diagnosis_code_9) as diagnosis_code_9,
        ecm_icd(diagnosis_code_10) as diagnosis_code_10,
        ecm_icd(diagnosis_code_11) as diagnosis_code_11,
        ecm_icd(diagnosis_code_12) as diagnosis_code_12,
        ecm_icd(diagnosis_code_13) as diagnosis_code_13,
        ecm_icd(diagnosis_code_14) as diagnosis_code_14,
        ecm_icd(diagnosis_code_15) as diagnosis_code_15,
        ecm_icd(diagnosis_code_16) as diagnosis_code_16,
        ecm_icd(diagnosis_code_17) as diagnosis_code_17,
        ecm_icd(diagnosis_code_18) as diagnosis_code_18,
        ecm_icd(diagnosis_code_19) as diagnosis_code_19,
        ecm_icd(diagnosis_code_20) as diagnosis_code_20,
        ecm_icd(diagnosis_code_21) as diagnosis_code_21,
        ecm_icd(diagnosis_code_22) as diagnosis_code_22,
        ecm_icd(diagnosis_code_23) as diagnosis_code_23,
        ecm_icd(diagnosis_code_24) as diagnosis_code_24,
        ecm_icd(diagnosis_code_25) as diagnosis_code_25,
        ecm_date(file_date) as file_date
    from checked
)

select * from final
