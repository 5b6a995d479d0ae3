-- int__medical_claim_current: the current version of every claim, voids removed.
-- A claim is (data_source, claim_id). The version with the latest file_date replaces
-- earlier ones whole (all lines). When two versions share a file_date a void wins.
-- A latest version whose type of bill ends in the void frequency ($void_frequency) removes
-- the claim. Grain: one row per claim line of a current claim.
with

lines as (
    select * from stg__medical_claim
),

versions as (
    select
        data_source,
        claim_id,
        file_date,
        bool_or(coalesce(right(bill_type_code, 1) = $void_frequency, false)) as is_void
    from lines
    group by all
),

latest as (
    select
        data_source,
        claim_id,
        file_date,
        is_void
    from versions
    qualify row_number() over (
        partition by data_source, claim_id
        order by file_date desc nulls last, is_void desc
    ) = 1
),

final as (
    select lines.*
    from lines
    inner join latest
        on lines.data_source = latest.data_source
        and lines.claim_id = latest.claim_id
        and lines.file_date is not distinct from latest.file_date
    where not latest.is_void
)

select * from final
