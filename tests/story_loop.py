"""Three months of the referral loop in one warehouse: identify → refer → outreach →
enrolled or declined → review (loop.md, section 3).

Runs as of 2026-08-31, 2026-09-30 and 2026-10-31. Every member but U holds
HIGH_UTIL_ADULT (five avoidable ED visits) with provider P or Q; the providers answer the
August files (RTF and OTF) before the September run:

- ENR (P): outreach, reached, `pending`, then `enrolled` from 2026-09-20;
- DEC (P): `declined` on 2026-09-03: left out of P's file (`loop_closed`);
- GAIN (P): `unable_to_reach` on 2026-09-12, left out in September; a homelessness span
  from 2026-10-05 gives it HOMELESS_ADULT in October: a `re-referral`;
- LATE (Q): nothing back: `referred`, 61 days open on 2026-10-31, overdue;
- OUT (Q): an unsuccessful attempt: `outreach`, overdue in October too;
- ELSE (P): Q says it is enrolled with Q (Q was never sent it: a warning): left out of P's
  file (`enrolled_elsewhere`); P never answers, so P's loop stays open;
- LEAVE, DIED (P): enrolled; LEAVE's eligibility ends 2026-10-15, DIED dies 2026-10-20:
  `left_plan`, reviewed;
- FEW (P): enrolled; its first ED visit leaves the lookback in October, so it holds
  HOMELESS_ADULT only: reviewed, `fewer_populations`;
- NOPOP (P): enrolled; holds nothing in October: reviewed, `no_population`;
- U: no provider (`unassigned/`): `new`, then `continuing`.

The RTF and OTF go into the feed folder as files when the contracts for them exist
(docs/FEEDS.md); until then straight into the warehouse as the staged tables the loop reads.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import duckdb
import polars as pl

from data_contracts import load_contracts
from tests.feeds import line, member, write_feed
from transforms.loop import OTF_SCHEMA, RTF_SCHEMA

AUGUST, SEPTEMBER, OCTOBER = dt.date(2026, 8, 31), dt.date(2026, 9, 30), dt.date(2026, 10, 31)
MONTHS = (AUGUST, SEPTEMBER, OCTOBER)
P, Q = "1111111111", "2222222222"
PROVIDER = {
    "ENR": P,
    "DEC": P,
    "GAIN": P,
    "LATE": Q,
    "OUT": Q,
    "ELSE": P,
    "LEAVE": P,
    "DIED": P,
    "FEW": P,
    "NOPOP": P,
}
VISITS = ["2026-01-10", "2026-02-10", "2026-03-10", "2026-04-10", "2026-05-10"]
# The first visit of FEW and NOPOP is in August's and September's lookbacks, not October's.
LEAVING_VISITS = ["2025-10-15", *VISITS[:4]]


def _ed(claim_id: str, member_id: str, day: str) -> dict:
    return line(
        claim_id,
        member_id,
        day,
        claim_type="institutional",
        bill_type_code="131",
        revenue_center_code="0450",
        diagnosis_code_1="J069",
        file_date="2026-06-01",
    )


def write_story(folder: Path) -> Path:
    members = [member(m) for m in (*PROVIDER, "U") if m not in ("LEAVE", "DIED")] + [
        member("LEAVE", enrollment_end_date="2026-10-15"),
        member("DIED", death_date="2026-10-20"),
    ]
    claims = [
        _ed(f"{m}-ed{i}", m, day)
        for m in (*PROVIDER, "U")
        for i, day in enumerate(LEAVING_VISITS if m in ("FEW", "NOPOP") else VISITS)
    ]
    write_feed(folder, "eligibility", members)
    write_feed(folder, "medical_claim", claims)
    write_feed(
        folder,
        "homelessness",
        [
            {"member_id": "GAIN", "project_type": "ES", "entry_date": "2026-10-05"},
            {"member_id": "FEW", "project_type": "ES", "entry_date": "2026-01-01"},
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
                "start_date": "2026-01-01",
                "end_date": "",
            }
            for m, npi in PROVIDER.items()
        ],
    )
    return folder


def _rtf(m, npi, period, status, produced, **values) -> dict:
    return {
        "member_id": m,
        "provider_npi": npi,
        "reporting_period": dt.date.fromisoformat(f"{period}-01"),
        "file_production_date": dt.date.fromisoformat(produced),
        "ecm_status": status,
        **{k: dt.date.fromisoformat(v) if k.endswith("_date") else v for k, v in values.items()},
    }


def provider_returns() -> list[dict]:
    """What the providers send back after the August files: the RTF of periods 2026-08
    and 2026-09."""
    enrolled = {"enrollment_start_date": "2026-09-01"}
    return [
        _rtf("ENR", P, "2026-08", "pending", "2026-09-08", referral_status_date="2026-09-05"),
        _rtf("ENR", P, "2026-09", "enrolled", "2026-10-06", enrollment_start_date="2026-09-20"),
        _rtf(
            "DEC",
            P,
            "2026-08",
            "declined",
            "2026-09-08",
            referral_status_date="2026-09-03",
            referral_status="closed",
            referral_closure_reason="declined",
        ),
        _rtf(
            "GAIN", P, "2026-08", "unable_to_reach", "2026-09-13", referral_status_date="2026-09-12"
        ),
        _rtf("ELSE", Q, "2026-09", "enrolled", "2026-10-06", **enrolled),
        *(
            _rtf(m, P, "2026-08", "enrolled", "2026-09-08", **enrolled)
            for m in ("LEAVE", "DIED", "FEW", "NOPOP")
        ),
    ]


def outreach() -> list[dict]:
    """The outreach attempts the providers report."""
    rows = [
        ("ENR", P, "2026-09-02", "phone", "N"),
        ("ENR", P, "2026-09-04", "in_person", "Y"),
        ("OUT", Q, "2026-09-10", "phone", "N"),
    ]
    return [
        {"member_id": m, "provider_npi": npi, "attempt_date": dt.date.fromisoformat(day),
         "method": method, "successful": ok}
        for m, npi, day, method, ok in rows
    ]  # fmt: skip


def deliver_provider_files(feeds: Path, warehouse: Path) -> None:
    """The providers' answers to the August files: as feed files when the contracts for
    them exist, else as the staged tables in the warehouse (ecm.loop reads those)."""
    rtf, otf = provider_returns(), outreach()
    contracts = load_contracts()
    if "provider_return" in contracts and "outreach" in contracts:

        def text(row: dict) -> dict:
            return {
                k: (v.strftime("%Y-%m") if k == "reporting_period" else str(v))
                for k, v in row.items()
                if v is not None
            }

        write_feed(feeds, "provider_return", [text(r) for r in rtf])
        write_feed(feeds, "outreach", [text(r) for r in otf])
        return
    frames = {
        "stg__provider_return": (rtf, RTF_SCHEMA),
        "stg__outreach": (otf, OTF_SCHEMA),
    }
    with duckdb.connect(str(warehouse)) as con:
        for table, (rows, schema) in frames.items():
            frame = pl.DataFrame(
                [
                    {**dict.fromkeys(schema), **r, "_source_file": f"{table}.csv", "_line": i + 2}
                    for i, r in enumerate(rows)
                ],
                schema=schema,
            )
            con.register("_rows", frame)
            con.execute(f"create or replace table {table} as select * from _rows")
            con.unregister("_rows")
