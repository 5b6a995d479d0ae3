"""Shared test builders: tiny frames in the staged shapes, the packaged rules and value sets."""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path

import polars as pl
import pytest

from data_contracts import load_contract
from ecm.config.reference import ReferenceData
from ecm.config.rules import load_rules

ROOT = Path(__file__).resolve().parents[1]
# The Tuva Project's synthetic sample, vendored (see its README for source and licence).
CONFORMANCE = ROOT / "tests" / "conformance" / "tuva_synthetic"

# Prefect keeps its state in the project; set before any test imports prefect.
os.environ.setdefault("PREFECT_HOME", str(ROOT / ".prefect"))
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("DO_NOT_TRACK", "1")  # no usage-data notice or events from Prefect
os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")

D = dt.date
# The columns the rules read of the claims' lines and of eligibility: the contracts' own.
CLAIM_LINE_COLUMNS = load_contract("medical_claim").read_columns
ELIGIBILITY_COLUMNS = load_contract("eligibility").read_columns


def claim_line(**values) -> dict:
    """One staged claim line (current version); unspecified columns are empty."""
    row = dict.fromkeys(CLAIM_LINE_COLUMNS)
    row.update(data_source="test", claim_line_number=1)
    row.update(values)
    if row.get("claim_start_date") is None:
        row["claim_start_date"] = row.get("admission_date") or row.get("claim_line_start_date")
    if row.get("claim_end_date") is None:
        row["claim_end_date"] = row.get("discharge_date") or row["claim_start_date"]
    return row


CLAIM_SCHEMA = {
    "member_id": pl.String,
    "data_source": pl.String,
    "claim_id": pl.String,
    "claim_line_number": pl.Int32,
    "claim_type": pl.String,
    "bill_type_code": pl.String,
    "claim_start_date": pl.Date,
    "claim_end_date": pl.Date,
    "claim_line_start_date": pl.Date,
    "claim_line_end_date": pl.Date,
    "admission_date": pl.Date,
    "discharge_date": pl.Date,
    "admit_type_code": pl.String,
    "discharge_disposition_code": pl.String,
    "drg_code": pl.String,
    "revenue_center_code": pl.String,
    "hcpcs_code": pl.String,
    "place_of_service_code": pl.String,
    "diagnosis_code_1": pl.String,
}


def claims(*rows: dict) -> pl.LazyFrame:
    return pl.LazyFrame(list(rows), schema=CLAIM_SCHEMA)


def ed_facility(member: str, day: dt.date, claim_id: str, dx: str = "J069", **extra) -> dict:
    """An outpatient ED facility line (bill type 131, revenue 0450)."""
    values = {
        "claim_type": "institutional",
        "bill_type_code": "131",
        "revenue_center_code": "0450",
        **extra,
    }
    return claim_line(
        member_id=member, claim_id=claim_id, claim_start_date=day, diagnosis_code_1=dx, **values
    )


def ed_professional(member: str, day: dt.date, claim_id: str, dx: str = "J069", **extra) -> dict:
    """An ED physician line (POS 23, HCPCS 99283)."""
    values = {
        "claim_type": "professional",
        "place_of_service_code": "23",
        "hcpcs_code": "99283",
        **extra,
    }
    return claim_line(
        member_id=member, claim_id=claim_id, claim_start_date=day, diagnosis_code_1=dx, **values
    )


def inpatient(
    member: str,
    admit: dt.date,
    discharge: dt.date,
    claim_id: str,
    *,
    admit_type: str | None = "1",
    dx: str = "J189",
    bill_type: str = "111",
    **extra,
) -> dict:
    """An acute inpatient claim line."""
    values = {
        "claim_type": "institutional",
        "bill_type_code": bill_type,
        "revenue_center_code": "0120",
        **extra,
    }
    return claim_line(
        member_id=member,
        claim_id=claim_id,
        admission_date=admit,
        discharge_date=discharge,
        admit_type_code=admit_type,
        diagnosis_code_1=dx,
        **values,
    )


def nursing_stay(member: str, admit: dt.date, discharge: dt.date, claim_id: str, **extra) -> dict:
    return inpatient(member, admit, discharge, claim_id, bill_type="211", **extra)


def eligibility(*rows: dict) -> pl.LazyFrame:
    schema = dict.fromkeys(ELIGIBILITY_COLUMNS, pl.String)
    schema.update(
        birth_date=pl.Date,
        death_date=pl.Date,
        enrollment_start_date=pl.Date,
        enrollment_end_date=pl.Date,
    )
    full = []
    for r in rows:
        row = dict.fromkeys(ELIGIBILITY_COLUMNS)
        row.update(enrollment_start_date=D(2020, 1, 1))
        row.update(r)
        full.append(row)
    return pl.LazyFrame(full, schema=schema)


@pytest.fixture(scope="session")
def harness():
    """One Prefect test server for the session's flow runs (tests/flows, and the test of
    what a run logs)."""
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=120):
        yield


@pytest.fixture(scope="session")
def rules():
    return load_rules()


@pytest.fixture(scope="session")
def ref():
    return ReferenceData()
