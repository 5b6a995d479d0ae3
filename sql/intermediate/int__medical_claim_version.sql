-- int__medical_claim_version: the latest version of every claim, and whether it is a void.
-- A claim is (data_source, claim_id). The version with the latest file_date replaces
-- earlier ones whole (all lines). When two versions share a file_date a void wins.
-- A latest version whose type of bill ends in the void frequency ($void_frequency) removes
-- the claim: it is kept here with is_void (so the staged claims are counted from this
-- table), and int__medical_claim_current reads only the others.
-- `lines`: the staged lines of that version (what int__medical_claim_current holds of it);
-- `versions`: the claim's staged versions (file dates), so that int__medical_claim_current
-- need only look up the few claims with more than one, or a void.
-- Grain: one row per staged claim: (data_source, claim_id, file_date, is_void, lines,
-- versions).
with

versions as (
    select
        data_source,
        claim_id,
        file_date,
        bool_or(coalesce(right(bill_type_code, 1) = $void_frequency, false)) as is_void,
        count(*) as lines
    from stg__medical_claim
    group by all
),

latest as (
    select *, count(*) over (partition by data_source, claim_id) as versions
    from versions
    qualify row_number() over (
        partition by data_source, claim_id
        order by file_date desc nulls last, is_void desc
    ) = 1
),

final as (
    select data_source, claim_id, file_date, is_void, lines, versions
    from latest
)

select * from final
