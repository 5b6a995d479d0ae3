"""A quarter of ECM told by hand: three monthly runs (as of 2026-07-31, 2026-08-31 and
2026-09-30) into one warehouse, then `ecm quarterly --quarter 2026Q3` (loop.md, section 5).
tests/flows/test_quarterly_story.py derives the expected file from this story, row by row.

Every adult but the household's holds HIGH_UTIL_ADULT (five avoidable ED visits
2026-01-10 .. 2026-05-10, inside every run's lookback), KID HIGH_UTIL_CHILD (three).
Providers P and Q. The providers' files arrive as monthly drops (`provider_return/<month>/`,
`outreach/<month>/`): the drops of June and July before the July run, August's before
the August run, September's before the September run.

- CHAIN (P, then Q from 2026-07-24): P's span 2026-05-01 .. 2026-07-10, discontinued
  `CAP`; Q's from 2026-07-24, open (14 days later: one span). Q's OTF: a successful
  in-person visit on 07-20 and on 08-05, a phone and a video call on 08-05, an
  unsuccessful phone call on 09-02, a successful in-person visit on 06-15 (before the
  quarter). The RTF's counts (7 and 7 a month) are not read: CHAIN has OTF rows. A
  homelessness entry on 2026-09-10 gives CHAIN HOMELESS_ADULT in September's run only.
- GAP15 (P): 2026-05-01 .. discontinued 2026-07-10 `DP`, then 2026-07-25, open (15 days
  later: two spans). RTF counts only: June 9/9 (before the quarter), July 1/2 (the first
  span's), August 3/4 and September 1/1 (the second's).
- LATE (P): 2026-08-03 .. 2026-11-30 (ends after the quarter). RTF counts August 2/0,
  September 1/3. Moves from Alameda to Kern on 2026-09-01.
- OPEN (Q): enrolled since 2026-03-01, open; RTF counts 2/2 every month; one OTF
  attempt, an unsuccessful phone call on 08-10.
- KID (P, a child holding HIGH_UTIL_CHILD): enrolled from 2026-07-15; RTF counts 5/5
  (not read); OTF: in person 07-10 (before the span), video 07-20, phone and video 07-21.
- The household H1 (Q; subscriber_id H1): HKID (8) has a homelessness entry of their own
  (2026-02-01), HMOM (36) and HSIB (5) share the subscriber: all three hold
  HOMELESS_FAMILY, HKID as its index. HMOM enrolled from 2026-07-01 (RTF 1/0 a month);
  HKID from 2026-07-01, discontinued 2026-09-30 `WM` (RTF 0/1 a month); HSIB from
  2026-08-15 (RTF August 0/0, September 1/0).
- OLDSIB (Q), 13, of the household H1 too: a homelessness stay of their own ended in 2024,
  before every run's lookback: HOMELESS_FAMILY through the household, not an index.
  Enrolled from 2026-09-01 (RTF 0/0).
- ZKID (Q; subscriber H2, alone): an index child whose only evidence is a claim coded
  Z59.01 (sheltered homelessness) on 2026-04-01, no homelessness row. Enrolled from
  2026-08-01 (RTF August 0/2, September 1/0).
- LEAVER (P): leaves the plan 2026-08-15 (Fresno): enrolled from 2026-06-01,
  discontinued 2026-08-15 `NE` (RTF June 4/4, July 1/1, August 0/1); September's run
  does not assign LEAVER.
- ENDED (P): 2026-02-01 .. discontinued 2026-06-30 `SC`, the day before the quarter.
- NOSPAN (P): `pending` in July, never enrolled.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from tests.feeds import line, member, write_feed

JULY, AUGUST, SEPTEMBER = dt.date(2026, 7, 31), dt.date(2026, 8, 31), dt.date(2026, 9, 30)
MONTHS = (JULY, AUGUST, SEPTEMBER)
P, Q = "1111111111", "2222222222"
VISITS = ["2026-01-10", "2026-02-10", "2026-03-10", "2026-04-10", "2026-05-10"]
ADULTS = ("CHAIN", "GAP15", "LATE", "OPEN", "LEAVER", "ENDED", "NOSPAN")


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


def _person(member_id, first, last, birth, county="Alameda", **values) -> dict:
    return member(member_id, birth, first_name=first, last_name=last, county=county, **values)


def write_story(folder: Path) -> Path:
    """The plan's feeds (eligibility, claims, homelessness, provider spans)."""
    members = [
        _person("CHAIN", "Carla", "Chain", "1980-01-02"),
        _person("GAP15", "Gil", "Gap", "1975-03-04"),
        _person("LATE", "Lena", "Late", "1969-12-31", enrollment_end_date="2026-08-31"),
        _person(
            "LATE", "Lena", "Late", "1969-12-31", county="Kern", enrollment_start_date="2026-09-01"
        ),
        _person("OPEN", "Otto", "Open", "1988-08-08", county="Napa"),
        _person("KID", "Kim", "Kid", "2014-05-05"),
        _person("HKID", "Hal", "Home", "2018-04-04", county="Fresno", subscriber_id="H1"),
        _person("HMOM", "Hana", "Home", "1990-06-06", county="Fresno", subscriber_id="H1"),
        _person("HSIB", "Hugo", "Home", "2021-02-02", county="Fresno", subscriber_id="H1"),
        _person(
            "LEAVER",
            "Lou",
            "Leaver",
            "1970-07-07",
            county="Fresno",
            enrollment_end_date="2026-08-15",
        ),
        _person("OLDSIB", "Olga", "Home", "2012-12-12", county="Fresno", subscriber_id="H1"),
        _person("ZKID", "Zoe", "Zed", "2016-03-03", county="Kern", subscriber_id="H2"),
        _person("ENDED", "Eve", "Ended", "1960-06-16"),
        _person("NOSPAN", "Ned", "Nospan", "1985-05-15"),
    ]
    claims = [_ed(f"{m}-ed{i}", m, day) for m in ADULTS for i, day in enumerate(VISITS)]
    claims += [_ed(f"KID-ed{i}", "KID", day) for i, day in enumerate(VISITS[:3])]
    claims.append(line("ZKID-ov", "ZKID", "2026-04-01", diagnosis_code_1="Z5901"))
    write_feed(folder, "eligibility", members)
    write_feed(folder, "medical_claim", claims)
    write_feed(
        folder,
        "homelessness",
        [
            {"member_id": "HKID", "project_type": "ES", "entry_date": "2026-02-01"},
            {"member_id": "CHAIN", "project_type": "ES", "entry_date": "2026-09-10"},
            {
                "member_id": "OLDSIB",
                "project_type": "ES",
                "entry_date": "2024-01-01",
                "exit_date": "2024-06-30",
            },
        ],
    )
    spans = [(m, P, "2026-01-01", "") for m in ("GAP15", "LATE", "LEAVER", "ENDED", "NOSPAN")]
    spans += [(m, Q, "2026-01-01", "") for m in ("OPEN", "HKID", "HMOM", "HSIB", "OLDSIB", "ZKID")]
    spans += [
        ("KID", P, "2026-01-01", ""),
        ("CHAIN", P, "2026-01-01", "2026-07-23"),
        ("CHAIN", Q, "2026-07-24", ""),
    ]
    rows = [
        {"member_id": m, "provider_npi": npi, "provider_name": f"Provider {npi[0]}",
         "start_date": start, "end_date": end}
        for m, npi, start, end in spans
    ]  # fmt: skip
    write_feed(folder, "provider_assignment", rows)
    return folder


def _rtf(m, npi, status, start="", ip="", tel="", **values) -> dict:
    return {
        "member_id": m,
        "provider_npi": npi,
        "ecm_status": status,
        "enrollment_start_date": start,
        "in_person_encounters": ip,
        "telephonic_encounters": tel,
        **values,
    }


def _enrolled(m, npi, start, ip, tel, **values) -> dict:
    return _rtf(m, npi, "enrolled", start, ip, tel, **values)


def _ended(m, npi, start, day, reason, ip, tel) -> dict:
    return _rtf(
        m, npi, "discontinued", start, ip, tel,
        discontinuation_date=day, discontinuation_reason_code=reason,
    )  # fmt: skip


RETURNS: dict[str, list[dict]] = {
    "2026-06": [
        _enrolled("CHAIN", P, "2026-05-01", 7, 7),
        _enrolled("GAP15", P, "2026-05-01", 9, 9),
        _enrolled("OPEN", Q, "2026-03-01", 2, 2),
        _enrolled("LEAVER", P, "2026-06-01", 4, 4),
        _ended("ENDED", P, "2026-02-01", "2026-06-30", "SC", 1, 1),
    ],
    "2026-07": [
        _rtf(
            "CHAIN",
            P,
            "discontinued",
            "2026-05-01",
            7,
            7,
            enrollment_end_date="2026-07-10",
            discontinuation_reason_code="CAP",
        ),
        _enrolled("CHAIN", Q, "2026-07-24", 7, 7),
        _ended("GAP15", P, "2026-05-01", "2026-07-10", "DP", 1, 2),
        _enrolled("OPEN", Q, "2026-03-01", 2, 2),
        _enrolled("KID", P, "2026-07-15", 5, 5),
        _enrolled("HMOM", Q, "2026-07-01", 1, 0),
        _enrolled("HKID", Q, "2026-07-01", 0, 1),
        _enrolled("LEAVER", P, "2026-06-01", 1, 1),
        _rtf("NOSPAN", P, "pending"),
    ],
    "2026-08": [
        _enrolled("CHAIN", Q, "2026-07-24", 7, 7),
        _enrolled("GAP15", P, "2026-07-25", 3, 4),
        _enrolled("LATE", P, "2026-08-03", 2, 0, enrollment_end_date="2026-11-30"),
        _enrolled("OPEN", Q, "2026-03-01", 2, 2),
        _enrolled("KID", P, "2026-07-15", 5, 5),
        _enrolled("HMOM", Q, "2026-07-01", 1, 0),
        _enrolled("HKID", Q, "2026-07-01", 0, 1),
        _enrolled("HSIB", Q, "2026-08-15", 0, 0),
        _enrolled("ZKID", Q, "2026-08-01", 0, 2),
        _ended("LEAVER", P, "2026-06-01", "2026-08-15", "NE", 0, 1),
    ],
    "2026-09": [
        _enrolled("CHAIN", Q, "2026-07-24", 7, 7),
        _enrolled("GAP15", P, "2026-07-25", 1, 1),
        _enrolled("LATE", P, "2026-08-03", 1, 3, enrollment_end_date="2026-11-30"),
        _enrolled("OPEN", Q, "2026-03-01", 2, 2),
        _enrolled("KID", P, "2026-07-15", 5, 5),
        _enrolled("HMOM", Q, "2026-07-01", 1, 0),
        _ended("HKID", Q, "2026-07-01", "2026-09-30", "WM", 0, 1),
        _enrolled("HSIB", Q, "2026-08-15", 1, 0),
        _enrolled("OLDSIB", Q, "2026-09-01", 0, 0),
        _enrolled("ZKID", Q, "2026-08-01", 1, 0),
    ],
}
ATTEMPTS: dict[str, list[tuple[str, str, str, str, str]]] = {
    # member, provider, date, method, successful
    "2026-06": [("CHAIN", Q, "2026-06-15", "in_person", "Y")],
    "2026-07": [
        ("CHAIN", Q, "2026-07-20", "in_person", "Y"),
        ("KID", P, "2026-07-10", "in_person", "Y"),
        ("KID", P, "2026-07-20", "video", "Y"),
        ("KID", P, "2026-07-21", "phone", "Y"),
        ("KID", P, "2026-07-21", "video", "Y"),
    ],
    "2026-08": [
        ("CHAIN", Q, "2026-08-05", "in_person", "Y"),
        ("CHAIN", Q, "2026-08-05", "phone", "Y"),
        ("CHAIN", Q, "2026-08-05", "video", "Y"),
        ("OPEN", Q, "2026-08-10", "phone", "N"),
    ],
    "2026-09": [("CHAIN", Q, "2026-09-02", "phone", "N")],
}
DROPS = {JULY: ("2026-06", "2026-07"), AUGUST: ("2026-08",), SEPTEMBER: ("2026-09",)}
"""The providers' monthly drops in the feed folder by the run of each as-of date."""


def deliver_provider_files(folder: Path, as_of: dt.date) -> None:
    """The RTF and OTF drops that arrive before the run of `as_of`, each in its month's
    sub-folder of `provider_return/` and `outreach/`."""
    for month in DROPS[as_of]:
        write_feed(
            folder / "provider_return" / month,
            "provider_return",
            [{**r, "reporting_period": month} for r in RETURNS[month]],
        )
        attempts = [
            {"member_id": m, "provider_npi": npi, "attempt_date": day, "method": method,
             "successful": ok}
            for m, npi, day, method, ok in ATTEMPTS.get(month, [])
        ]  # fmt: skip
        if attempts:
            write_feed(folder / "outreach" / month, "outreach", attempts)
