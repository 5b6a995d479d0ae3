-- int__claim_diagnosis: every diagnosis code of the current claims, in any position.
-- Reshaping only (no rule): one row per claim × service date × code, with the first
-- position the code holds on the claim. Dated by the line's service date, else the claim
-- start (populations.md, Time). $since limits the history read to what a rule can reach;
-- a NULL $since reads it all (a shard's inputs, kept for runs of any as-of date, are
-- bounded when a shard reads them: ecm.shards.evaluate.scan_inputs).
-- It reads int__medical_claim_current_codes (ecm.ingest.claim_versions): the current
-- claims with the positions some staged row holds a code in.
-- `position` is the number after 'diagnosis_code_' in the unpivoted column's name (a
-- replace, not a regular expression: 0.7 cpu-s of 9.3M lines' diagnoses at 300k).
with

lines as (
    select
        member_id,
        data_source,
        claim_id,
        coalesce(claim_line_start_date, claim_start_date) as service_date,
        columns('^diagnosis_code_[0-9]+$')
    from int__medical_claim_current_codes
    where $since is null or coalesce(claim_line_start_date, claim_start_date) >= $since
),

long as (
    unpivot lines
    on columns('^diagnosis_code_[0-9]+$')
    into name position value code
),

final as (
    select
        member_id,
        data_source,
        claim_id,
        service_date,
        code,
        min(cast(replace(position, 'diagnosis_code_', '') as integer)) as position
    from long
    group by all
)

select * from final
