-- int__claim_procedure: every ICD-10-PCS procedure code of the current institutional claims.
-- Reshaping only (no rule): one row per claim × code, with the first position the code
-- holds on the claim (any line). Staging passes procedure_code_1..25 through as delivered,
-- so codes are normalised here as diagnoses are (ecm_icd: upper case, no dots or spaces);
-- what is not shaped like an ICD-10-PCS code (7 characters, no I or O: e.g. ICD-9
-- procedure history) is left out. No date filter: stays are built from every current
-- claim, and the cms_planned method (populations.md, "Avoidable and unplanned") joins
-- these codes to a stay's claims, so a claim's procedures are read whole.
-- Grain: one row per (member_id, data_source, claim_id, code).
-- It reads int__medical_claim_current_codes (ecm.ingest.claim_versions): the current
-- claims with the positions some staged row holds a code in.
-- `position` is the number after 'procedure_code_' in the unpivoted column's name (a
-- replace, not a regular expression, as int__claim_diagnosis reads its positions).
with

lines as (
    select
        member_id,
        data_source,
        claim_id,
        columns('^procedure_code_[0-9]+$')
    from int__medical_claim_current_codes
    where claim_type = 'institutional'
),

long as (
    unpivot lines
    on columns('^procedure_code_[0-9]+$')
    into name position value raw_code
),

normalised as (
    select
        member_id,
        data_source,
        claim_id,
        ecm_icd(raw_code) as code,
        cast(replace(position, 'procedure_code_', '') as integer) as position
    from long
),

final as (
    select
        member_id,
        data_source,
        claim_id,
        code,
        min(position) as position
    from normalised
    where regexp_full_match(code, '[0-9A-HJ-NP-Z]{7}')
    group by all
)

select * from final
