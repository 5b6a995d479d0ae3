"""Build a `Criteria` from a handful of facts, for population rule tests."""

from __future__ import annotations

import datetime as dt

import polars as pl

from ecm.config.reference import ReferenceData
from tests.conftest import eligibility
from transforms.criteria import FACT_SCHEMA, Criteria
from transforms.members import enrolled_members
from transforms.populations import PopulationResult, with_evidence_summaries
from transforms.windows import lookback

AS_OF = dt.date(2026, 10, 31)
WINDOW = lookback(AS_OF, 12)  # 2025-11-01 .. 2026-10-31
LONG_WINDOW = lookback(AS_OF, 24)
FIRST_DAY = WINDOW.start
DAY_BEFORE = FIRST_DAY - dt.timedelta(days=1)
ADULT = dt.date(1980, 5, 5)
CHILD = dt.date(2012, 5, 5)


def fact(
    member: str,
    criterion: str,
    day: dt.date,
    code: str | None = None,
    source_feed: str = "medical_claim",
    key: str | None = None,
) -> dict:
    return {
        "member_id": member,
        "criterion": criterion,
        "source_feed": source_feed,
        "source_key": key or f"{member}-{criterion}-{day}",
        "event_date": day,
        "code": code,
    }


def frame(rows: list[dict]) -> pl.LazyFrame:
    return pl.LazyFrame(rows, schema=FACT_SCHEMA)


def criteria(**fields: list[dict]) -> Criteria:
    names = Criteria.__dataclass_fields__
    unknown = set(fields) - set(names)
    assert not unknown, unknown
    return Criteria(**{n: frame(fields.get(n, [])) for n in names})


def members(*rows: tuple) -> pl.LazyFrame:
    """(member_id, birth_date[, extra dict])"""
    full = []
    for row in rows:
        extra = row[2] if len(row) > 2 else {}
        full.append({"member_id": row[0], "birth_date": row[1], **extra})
    return enrolled_members(eligibility(*full), AS_OF, 21)


def qualified(result) -> set[str]:
    return set(result.qualified.collect()["member_id"].to_list())


PHRASES = ReferenceData().evidence_phrases


def summaries(result: PopulationResult) -> dict[str, str]:
    """member_id -> evidence_summary, in the packaged phrases' words."""
    rows = with_evidence_summaries(result, PHRASES).collect()
    return dict(zip(rows["member_id"], rows["evidence_summary"], strict=True))
