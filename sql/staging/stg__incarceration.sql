-- stg__incarceration: custody episodes renamed and cast.
-- Grain: one row per custody episode.
-- The rows come checked: `checked__incarceration` is generated from the contract
-- (data_contracts/incarceration.toml, by data_contracts/sql.py) and carries `_reject`;
-- its typed columns (dates, whole numbers, codes) come parsed, once, by the checks, and
-- are not cast again here.
with

source as (
    select * from checked__incarceration
),

final as (
    select * replace (
        ecm_text(member_id) as member_id,
        lower(ecm_text(facility_type)) as facility_type
    )
    from source
)

select * from final
