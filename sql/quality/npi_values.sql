-- npi_values: every NPI the staged feeds carry, with how many rows carry it, for the NPI
-- check-digit report (populations.md: an NPI that fails its check digit is reported,
-- never dropped). Grain: one row per feed × column × NPI.
select 'medical_claim' as feed, 'rendering_npi' as "column", rendering_npi as npi,
       count(*) as lines
from stg__medical_claim where rendering_npi is not null group by all
union all
select 'medical_claim', 'facility_npi', facility_npi, count(*)
from stg__medical_claim where facility_npi is not null group by all
union all
select 'provider_assignment', 'provider_npi', provider_npi, count(*)
from stg__provider_assignment where provider_npi is not null group by all
union all
select 'nursing_facility_assessment', 'facility_npi', ecm_text(facility_npi), count(*)
from stg__nursing_facility_assessment where ecm_text(facility_npi) is not null group by all
union all
select 'provider_return', 'provider_npi', provider_npi, count(*)
from stg__provider_return where provider_npi is not null group by all
union all
select 'outreach', 'provider_npi', provider_npi, count(*)
from stg__outreach where provider_npi is not null group by all
