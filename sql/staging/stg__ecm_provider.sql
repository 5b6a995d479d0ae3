-- stg__ecm_provider: the plan's roster of contracted ECM providers renamed and cast.
-- Grain: one row per provider (provider_npi; a repeat is warned as a duplicate).
-- The rows come checked: `checked__ecm_provider` is generated from the contract
-- (data_contracts/ecm_provider.toml, by data_contracts/sql.py) and carries `_reject`; its
-- typed columns (whole numbers, codes) come parsed, once, by the checks, and are not cast
-- again here. `populations` is kept as delivered (`;`-joined codes, compared trimmed and
-- in upper case by the proposals); empty means every population.
with

source as (
    select * from checked__ecm_provider
),

final as (
    select * replace (
        ecm_text(provider_name) as provider_name,
        ecm_text(county) as county,
        ecm_text(populations) as populations,
        ecm_text(languages) as languages,
        cast(capacity as bigint) as capacity
    )
    from source
)

select * from final
