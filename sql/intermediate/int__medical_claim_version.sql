-- int__medical_claim_version: the current version of every claim that is not voided.
-- A claim is (data_source, claim_id). The version with the latest file_date replaces
-- earlier ones whole (all lines). When two versions share a file_date a void wins.
-- A latest version whose type of bill ends in the void frequency ($void_frequency) removes
-- the claim. Grain: one row per current claim: (data_source, claim_id, file_date).
with

versions as (
    select
        data_source,
        claim_id,
        file_date,
        bool_or(coalesce(right(bill_type_code, 1) = $void_frequency, false)) as is_void
    from stg__medical_claim
    group by all
),

latest as (
    select *
    from versions
    qualify row_number() over (
        partition by data_source, claim_id
        order by file_date desc nulls last, is_void desc
    ) = 1
),

final as (
    select data_source, claim_id, file_date
    from latest
    where not is_void
)

select * from final
