"""A feed directory with one member (or household) per Population of Focus and a near miss
for each, every partner feed included. As of 2026-10-31 (lookback 2025-11-01 ..).

Two members holding a population are excluded (docs/POPULATIONS.md, "Exclusions"): BE is
in the plan's Complex Care Management (program_enrollment), LTC had a hospice claim
(bill type 812) in the last 60 days; neither is in a member information file. SMI's SMHS
targeted case management and JA's D-SNP span, ended the day before the as-of date, do
not exclude.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from tests.feeds import line, member, write_feed

AS_OF = dt.date(2026, 10, 31)
ADULT = "1980-05-05"
CHILD = "2012-05-05"

EXPECTED = {
    ("HA", "HOMELESS_ADULT"),
    ("FAM_KID", "HOMELESS_FAMILY"),
    ("FAM_MOM", "HOMELESS_FAMILY"),
    ("FAM_SIB", "HOMELESS_FAMILY"),
    ("SMI", "SMI_SUD_ADULT"),
    ("SMIC", "SMI_SUD_CHILD"),
    ("JA", "JUSTICE_ADULT"),
    ("JC", "JUSTICE_CHILD"),
    ("LTC", "LTC_RISK_ADULT"),
    ("NF", "NF_TRANSITION_ADULT"),
    ("CCS", "CCS_CHILD"),
    ("CW", "CHILD_WELFARE"),
    ("CW_AGED", "CHILD_WELFARE"),
    ("BE", "BIRTH_EQUITY_ADULT"),
    ("BEC", "BIRTH_EQUITY_CHILD"),
}
PROVIDERS = {"HA": "1111111111", "FAM_MOM": "2222222222", "FAM_KID": "2222222222"}
EXCLUDED = {"BE": "ccm", "LTC": "hospice"}


def _dx(claim_id, member_id, day, *codes, **values):
    extra = {f"diagnosis_code_{i}": c for i, c in enumerate(codes[1:], start=2)}
    return line(
        claim_id,
        member_id,
        day,
        diagnosis_code_1=codes[0],
        hcpcs_code="99213",
        place_of_service_code="11",
        **extra,
        **values,
    )


def write_story(folder: Path) -> Path:
    members = [
        member("HA", ADULT),
        member("HA_MISS", ADULT),
        member("FAM_KID", CHILD, subscriber_id="S1"),
        member("FAM_MOM", ADULT, subscriber_id="S1"),
        member("FAM_SIB", "2015-01-01", subscriber_id="S1"),
        member("NEIGHBOUR", ADULT, subscriber_id="S2"),
        member("SMI", ADULT),
        member("SMI_MISS", ADULT),
        member("SMIC", CHILD),
        member("JA", ADULT),
        member("JC", "2007-03-03"),
        member("JA_MISS", ADULT),
        member("LTC", ADULT),
        member("NF", ADULT),
        member("NF_MISS", ADULT),
        member("CCS", CHILD),
        member("CCS_MISS", CHILD),
        member("CW", CHILD),
        member("CW_AGED", "2002-01-01"),
        member("CW_MISS", CHILD),
        member("BE", ADULT, race="black or african american"),
        member("BE_MISS", ADULT, race="white"),
        member("BEC", "2009-02-02", race="american indian or alaska native"),
    ]
    claims = [
        _dx("c-ha", "HA", "2026-04-01", "E11.9"),
        _dx("c-fam", "FAM_KID", "2026-05-01", "Z59.01"),
        _dx("c-smi1", "SMI", "2026-02-01", "F20.9", "Z60.2"),
        _dx("c-smi2", "SMI", "2026-03-01", "T40.1X1A", "F20.9"),
        _dx("c-smim", "SMI_MISS", "2026-02-01", "F20.9", "Z60.2"),  # no (a)/(b)/(c)
        _dx("c-smic1", "SMIC", "2026-01-10", "F32.9"),
        _dx("c-smic2", "SMIC", "2026-03-10", "F41.1"),
        _dx("c-ja", "JA", "2026-06-01", "F10.20"),
        _dx("c-jam", "JA_MISS", "2026-06-01", "F10.20"),
        line("c-ltc", "LTC", "2026-02-02", hcpcs_code="G9919", diagnosis_code_1="Z13.89"),
        _dx("c-ccs", "CCS", "2026-02-02", "Z63.0"),
        _dx("c-be", "BE", "2026-02-01", "Z34.80"),
        _dx("c-bem", "BE_MISS", "2026-02-01", "Z34.80"),
        _dx("c-bec", "BEC", "2026-03-01", "Z3A.20"),
        # hospice (bill type 812, routine home care) from 2026-09-15 on: 46 days before D
        line(
            "c-hospice",
            "LTC",
            "2026-09-15",
            claim_end_date="2026-09-30",
            claim_type="institutional",
            bill_type_code="812",
            revenue_center_code="0651",
            diagnosis_code_1="Z51.5",
        ),
    ]
    write_feed(folder, "eligibility", members)
    write_feed(folder, "medical_claim", claims)
    write_feed(
        folder,
        "homelessness",
        [
            {"member_id": "HA", "project_type": "ES", "entry_date": "2026-03-01", "exit_date": ""},
            {
                "member_id": "HA_MISS",
                "project_type": "ES",
                "entry_date": "2026-03-01",
                "exit_date": "",
            },
        ],
    )
    write_feed(
        folder,
        "incarceration",
        [
            {
                "member_id": "JA",
                "facility_type": "state_prison",
                "booking_date": "2024-01-01",
                "release_date": "2026-05-01",
                "source": "CDCR",
            },
            {
                "member_id": "JC",
                "facility_type": "county_jail",
                "booking_date": "2026-06-01",
                "release_date": "2026-07-01",
                "source": "sheriff",
            },
            {
                "member_id": "JA_MISS",
                "facility_type": "county_jail",
                "booking_date": "2025-09-01",
                "release_date": "2025-10-31",
                "source": "sheriff",
            },
        ],
    )
    write_feed(
        folder,
        "nursing_facility_assessment",
        [
            {
                "member_id": "LTC",
                "assessment_date": "2026-06-01",
                "facility_npi": "",
                "residence_setting": "community",
                "meets_snf_level_of_care": "Y",
                "needs_lower_acuity_skilled_nursing": "N",
                "interested_in_community_transition": "N",
                "able_to_reside_in_community": "Y",
            },
            {
                "member_id": "NF",
                "assessment_date": "2026-08-01",
                "facility_npi": "",
                "residence_setting": "nursing_facility",
                "meets_snf_level_of_care": "Y",
                "needs_lower_acuity_skilled_nursing": "N",
                "interested_in_community_transition": "Y",
                "able_to_reside_in_community": "Y",
            },
            {
                "member_id": "NF_MISS",
                "assessment_date": "2026-08-01",
                "facility_npi": "",
                "residence_setting": "nursing_facility",
                "meets_snf_level_of_care": "Y",
                "needs_lower_acuity_skilled_nursing": "N",
                "interested_in_community_transition": "N",
                "able_to_reside_in_community": "Y",
            },
        ],
    )
    write_feed(
        folder,
        "ccs_enrollment",
        [
            {"member_id": "CCS", "program": "CCS", "start_date": "2020-01-01", "end_date": ""},
            {
                "member_id": "CCS_MISS",
                "program": "CCS_WCM",
                "start_date": "2020-01-01",
                "end_date": "",
            },  # no complex social factor
        ],
    )
    write_feed(
        folder,
        "child_welfare",
        [
            {
                "member_id": "CW",
                "status": "foster_care",
                "start_date": "2024-01-01",
                "end_date": "",
            },
            {
                "member_id": "CW_AGED",
                "status": "aged_out_foster_care",
                "start_date": "2020-01-01",
                "end_date": "",
            },
            {
                "member_id": "CW_MISS",
                "status": "foster_care",
                "start_date": "2020-01-01",
                "end_date": "2025-10-31",
            },
        ],
    )
    write_feed(
        folder,
        "provider_assignment",
        [
            {
                "member_id": m,
                "provider_npi": npi,
                "provider_name": f"Provider {npi[0]}",
                "start_date": "2025-01-01",
                "end_date": "",
            }
            for m, npi in PROVIDERS.items()
        ],
    )
    write_feed(
        folder,
        "program_enrollment",
        [
            {"member_id": "BE", "program": "ccm", "start_date": "2026-09-01", "source": "CCM"},
            {"member_id": "SMI", "program": "smhs_tcm", "start_date": "2026-01-01"},
            {"member_id": "JA", "program": "dsnp", "start_date": "2025-01-01",
             "end_date": "2026-10-30"},
        ],
    )  # fmt: skip
    return folder
