"""A small feed directory that tells the high-utiliser rules' boundary cases.

As of 2026-10-31 (lookback 2025-11-01 .. 2026-10-31). Expected HIGH_UTIL members:
A (5 avoidable ED visits), G (5, one coded R51.9, newer than the NYU table), I (5, one
re-delivered with a corrected diagnosis), K (3 unplanned stays), CH3 (child, 3 visits).
Near misses: B (a visit voided), C (a visit followed by an admission), E (died before
the as-of date), F (enrollment ended before it), H (child: one visit unclassified),
J (3 claims, a transfer chain makes 2 stays), L (5th visit the day before the lookback),
T (turns 21 on the as-of date: 3 visits are not enough for an adult).
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from tests.feeds import line, member, write_feed

AS_OF = dt.date(2026, 10, 31)
# The data files of a run's output (byte-identical on a re-run).
DATA_FILES = (
    "assignments.parquet",
    "assignments.csv",
    "evidence.parquet",
    "member_metrics.parquet",
    "quarantine.parquet",
)
EXPECTED = {
    ("A", "HIGH_UTIL_ADULT"),
    ("G", "HIGH_UTIL_ADULT"),
    ("I", "HIGH_UTIL_ADULT"),
    ("K", "HIGH_UTIL_ADULT"),
    ("CH3", "HIGH_UTIL_CHILD"),
}
VISIT_DAYS = ["2025-11-01", "2026-01-10", "2026-03-15", "2026-05-20", "2026-10-31"]


def _ed(claim_id, member_id, day, dx="J069", file_date="2026-11-01", bill_type="131"):
    return line(
        claim_id,
        member_id,
        day,
        claim_type="institutional",
        bill_type_code=bill_type,
        revenue_center_code="0450",
        diagnosis_code_1=dx,
        file_date=file_date,
    )


def _ip(claim_id, member_id, admit, discharge, admit_type="1"):
    return line(
        claim_id,
        member_id,
        admit,
        claim_end_date=discharge,
        claim_type="institutional",
        bill_type_code="111",
        revenue_center_code="0120",
        admission_date=admit,
        discharge_date=discharge,
        admit_type_code=admit_type,
        diagnosis_code_1="J189",
    )


def write_story(folder: Path) -> Path:
    members = [member(m) for m in ("A", "B", "C", "G", "I", "J", "K", "L")] + [
        member("E", death_date="2026-10-30"),
        member("F", enrollment_end_date="2026-10-30"),
        member("H", birth_date="2012-06-01"),
        member("CH3", birth_date="2012-06-01"),
        member("T", birth_date="2005-10-31"),
        member("NOCLAIMS"),
    ]
    claims = []
    for m in ("A", "B", "C", "E", "F", "G", "I"):
        for i, day in enumerate(VISIT_DAYS):
            dx = "R51.9" if (m == "G" and i == 2) else "J069"
            claims.append(_ed(f"{m}-ed{i}", m, day, dx=dx))
    # B: the visit of 2026-03-15 is voided by a later delivery
    claims.append(_ed("B-ed2", "B", "2026-03-15", file_date="2026-12-01", bill_type="138"))
    # C: the visit of 2026-05-20 is followed by an admission the next day
    claims.append(_ip("C-ip", "C", "2026-05-21", "2026-05-24"))
    # I: the visit of 2026-01-10 was first delivered as a psychiatric visit, then corrected
    claims = [c for c in claims if c["claim_id"] != "I-ed1"]
    claims.append(_ed("I-ed1", "I", "2026-01-10", dx="F329", file_date="2026-02-01"))
    claims.append(_ed("I-ed1", "I", "2026-01-10", dx="J069", file_date="2026-03-01"))
    # H (child): three visits, one with a code the NYU table cannot classify
    claims += [
        _ed("H-ed0", "H", "2026-01-01"),
        _ed("H-ed1", "H", "2026-02-01"),
        _ed("H-ed2", "H", "2026-03-01", dx="U07.1"),
    ]
    claims += [
        _ed(f"CH3-ed{i}", "CH3", d)
        for i, d in enumerate(["2026-01-01", "2026-02-01", "2026-03-01"])
    ]
    claims += [
        _ed(f"T-ed{i}", "T", d) for i, d in enumerate(["2026-01-01", "2026-02-01", "2026-03-01"])
    ]
    # J: three claims, but the second and third are a transfer: two stays
    claims += [
        _ip("J-ip1", "J", "2026-01-01", "2026-01-03"),
        _ip("J-ip2", "J", "2026-04-01", "2026-04-05"),
        _ip("J-ip3", "J", "2026-04-06", "2026-04-09"),
    ]
    # K: three separate unplanned stays (one with an empty admit type), plus an elective one
    claims += [
        _ip("K-ip1", "K", "2026-01-01", "2026-01-03"),
        _ip("K-ip2", "K", "2026-04-01", "2026-04-05", admit_type=""),
        _ip("K-ip3", "K", "2026-07-01", "2026-07-02", admit_type="2"),
        _ip("K-ip4", "K", "2026-08-01", "2026-08-02", admit_type="3"),
    ]
    # L: five visits, the first the day before the lookback starts
    claims += [_ed(f"L-ed{i}", "L", d) for i, d in enumerate(["2025-10-31", *VISIT_DAYS[1:]])]
    # A's rendering NPI fails its check digit: reported in the run summary, never dropped.
    for claim in claims:
        if claim["member_id"] == "A":
            claim["rendering_npi"] = "1234567890"
    write_feed(folder, "eligibility", members)
    write_feed(folder, "medical_claim", claims)
    return folder
