-- stg__outreach: the ECM providers' Outreach Tracker Files renamed and cast.
-- Grain: one row per outreach attempt (member, provider, day and method; a repeat is
-- warned as a duplicate).
-- The rows come checked: `checked__outreach` is generated from the contract
-- (data_contracts/outreach.toml, by data_contracts/sql.py) and carries `_reject`; its typed
-- columns (dates, whole numbers, codes) come parsed, once, by the checks, and are not cast
-- again here; its coded values come as the rules file's aliases say
-- ([loop.aliases.<column>]).
with

source as (
    select * from checked__outreach
),

final as (
    select * replace (
        ecm_text(member_id) as member_id,
        lower(ecm_text(method)) as method,
        ecm_yes_no(successful) as successful,
        cast(minutes as bigint) as minutes
    )
    from source
)

select * from final
