-- int__medical_claim_current: the claim lines of every current, unvoided claim version
-- (int__medical_claim_version). A view, not a copy: a semi-join keeps the staged lines of
-- the current versions, so a reader pays only for the columns it reads.
-- Grain: one row per claim line of a current claim.
select lines.*
from stg__medical_claim as lines
semi join int__medical_claim_version as current_version
    on lines.data_source = current_version.data_source
    and lines.claim_id = current_version.claim_id
    and lines.file_date is not distinct from current_version.file_date
    and not current_version.is_void
