-- stg__provider_return: the ECM providers' Return Transmission Files renamed and cast.
-- Grain: one row per member per ECM provider per reporting period (a file sent again for a
-- period repeats it: the later file_production_date wins, in the referral loop).
-- The rows come checked: `checked__provider_return` is generated from the contract
-- (data_contracts/provider_return.toml, by data_contracts/sql.py) and carries `_reject`;
-- its typed columns (dates, the reporting period as its month's first day, whole numbers,
-- codes) come parsed, once, by the checks, and are not cast again here; its coded values
-- come as the rules file's aliases say ([loop.aliases.<column>]). The template's other
-- columns stay text.
with

source as (
    select * from checked__provider_return
),

final as (
    select * replace (
        ecm_text(member_id) as member_id,
        lower(ecm_text(ecm_status)) as ecm_status,
        upper(ecm_text(discontinuation_reason_code)) as discontinuation_reason_code,
        lower(ecm_text(referral_status)) as referral_status,
        lower(ecm_text(referral_closure_reason)) as referral_closure_reason,
        cast(in_person_encounters as bigint) as in_person_encounters,
        cast(telephonic_encounters as bigint) as telephonic_encounters
    )
    from source
)

select * from final
