-- stg__medical_claim: the medical_claim feed renamed, cast and its codes normalised.
-- Grain: one row per claim line per delivered version (data_source, claim_id,
-- claim_line_number, file_date). Versions and voids are resolved downstream
-- (intermediate/int__medical_claim_current.sql).
-- The rows come checked: `checked__medical_claim` is generated from the contract
-- (data_contracts/medical_claim.toml, by data_contracts/sql.py) and carries `_reject`;
-- its typed columns (dates, whole numbers, codes) come parsed, once, by the checks, and
-- are not cast again here.
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
        lower(ecm_text(claim_type)) as claim_type,
        ecm_admit_type(admit_type_code) as admit_type_code,
        ecm_text(admit_source_code) as admit_source_code,
        ecm_two_digit(discharge_disposition_code) as discharge_disposition_code,
        ecm_drg(drg_code) as drg_code,
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
        ecm_icd(diagnosis_code_25) as diagnosis_code_25
    )
    from source
)

select * from final
