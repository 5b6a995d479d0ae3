-- int__medical_claim_current: the claim lines of every current, unvoided claim version
-- (int__medical_claim_version). A view, not a copy, so a reader pays only for the columns
-- it reads: the staged lines less those of a voided claim and those of a claim's earlier
-- versions. Every staged claim has its row in int__medical_claim_version, so this is the
-- semi-join of the lines with the current versions (line's claim and file date, not void),
-- looking up only the claims with a void or more than one version: a few thousand hash
-- entries where the semi-join built one a claim (300k members: 4.1M; 1.5 cpu-s a read).
-- Grain: one row per claim line of a current claim.
select lines.*
from stg__medical_claim as lines
anti join (
    select data_source, claim_id from int__medical_claim_version where is_void
) as voided
    on lines.data_source = voided.data_source
    and lines.claim_id = voided.claim_id
anti join (
    select data_source, claim_id, file_date
    from int__medical_claim_version
    where versions > 1 and not is_void
) as replaced
    on lines.data_source = replaced.data_source
    and lines.claim_id = replaced.claim_id
    and lines.file_date is distinct from replaced.file_date
where lines.data_source is not null and lines.claim_id is not null
