-- stg__medical_claim: the medical_claim feed renamed, cast and its codes normalised.
-- Grain: one row per claim line per delivered version (data_source, claim_id,
-- claim_line_number, file_date). Versions and voids are resolved downstream
-- (intermediate/int__medical_claim_current.sql).
-- The rows come checked: `checked__medical_claim` is generated from the contract
-- (data_contracts/medical_claim.toml, by data_contracts/sql.py) and carries `_reject`.
with

source as (
    select * from checked__medical_claim
),

final as (
    select * replace (
        ecm_text(member_id) as member_id,
        coalesce(ecm_text(person_id), ecm_text(member_id)) as person_id,
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
        ecm_place_of_service(place_of_service_code) as place_of_service_code,
        ecm_bill_type(bill_type_code) as bill_type_code,
        ecm_drg(drg_code) as drg_code,
        ecm_revenue_code(revenue_center_code) as revenue_center_code,
        ecm_hcpcs(hcpcs_code) as hcpcs_code,
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
    )
    from source
)

select * from final
