-- stg__pharmacy_claim: the pharmacy_claim feed renamed and cast. No rule reads it yet.
-- Grain: one row per pharmacy claim line as delivered.
-- The rows come checked: `checked__pharmacy_claim` is generated from the contract
-- (data_contracts/pharmacy_claim.toml, by data_contracts/sql.py) and carries `_reject`;
-- its typed columns (dates, whole numbers, codes) come parsed, once, by the checks, and
-- are not cast again here.
with

source as (
    select * from checked__pharmacy_claim
),

final as (
    select * replace (
        ecm_text(member_id) as member_id,
        ecm_text(claim_id) as claim_id,
        try_cast(ecm_text(claim_line_number) as integer) as claim_line_number
    )
    from source
)

select * from final
