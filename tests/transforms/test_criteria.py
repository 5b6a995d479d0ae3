"""Shared criteria built once: condition tagging, CSF, homelessness evidence, psychiatric
stays, visits, pregnancy ends."""

import datetime as dt

import polars as pl
import pytest

from tests.conftest import claim_line, claims
from transforms.criteria import build_criteria, span_covers
from transforms.windows import lookback

D = dt.date
AS_OF = D(2026, 10, 31)
WINDOW = lookback(AS_OF, 12)


def vs(name, *codes, match="prefix", system="icd10cm"):
    return pl.DataFrame(
        {
            "code_system": [system] * len(codes),
            "code": list(codes),
            "match": [match] * len(codes),
            "description": [""] * len(codes),
            "value_set": [name] * len(codes),
        },
        schema=dict.fromkeys(
            ("code_system", "code", "match", "description", "value_set"), pl.String
        ),
    )


CONDITIONS = pl.concat(
    [
        vs("smi", "F20"),
        vs("mh_sud", "F20", "F32"),
        vs("complex_social_factor_dx", "Z59", "Z60"),
        vs("homelessness_dx", "Z590", "Z5900", match="exact"),
        vs("pregnancy_end_dx", "O80"),
    ]
)
PROCEDURES = pl.concat(
    [
        vs("ace_screening", "G9919", match="exact", system="hcpcs"),
        vs("crisis_service", "H2011", "90839", match="exact", system="hcpcs"),
    ]
)


def diagnoses(*rows):
    return pl.LazyFrame(
        [
            {
                "member_id": m,
                "data_source": "t",
                "claim_id": c,
                "service_date": d,
                "code": code,
                "position": 1,
            }
            for m, c, d, code in rows
        ],
        schema={
            "member_id": pl.String,
            "data_source": pl.String,
            "claim_id": pl.String,
            "service_date": pl.Date,
            "code": pl.String,
            "position": pl.Int32,
        },
    )


def feed(rows, columns):
    schema = {
        "member_id": pl.String,
        **dict(columns.items()),
        "_source_file": pl.String,
        "_line": pl.Int64,
    }
    return pl.LazyFrame(
        [{**r, "_source_file": "f.csv", "_line": i} for i, r in enumerate(rows)], schema=schema
    )


STAY_SCHEMA = {
    "member_id": pl.String,
    "admission_date": pl.Date,
    "discharge_date": pl.Date,
    "principal_dx": pl.String,
    "discharge_disposition_code": pl.String,
    "revenue_codes": pl.List(pl.String),
    "source_key": pl.String,
    "stay_type": pl.String,
}


def build(dx=(), lines=(), stays=(), visits=None, incarceration=(), homelessness=()):
    return build_criteria(
        window=WINDOW,
        diagnoses=diagnoses(*dx),
        claim_lines=claims(*lines),
        ed_visits=visits
        if visits is not None
        else pl.LazyFrame(
            schema={
                "member_id": pl.String,
                "visit_date": pl.Date,
                "primary_dx": pl.String,
                "source_key": pl.String,
            }
        ),
        stays=pl.LazyFrame(list(stays), schema=STAY_SCHEMA),
        incarceration=feed(
            incarceration,
            {"facility_type": pl.String, "booking_date": pl.Date, "release_date": pl.Date},
        ),
        homelessness=feed(
            homelessness, {"project_type": pl.String, "entry_date": pl.Date, "exit_date": pl.Date}
        ),
        condition_value_sets=CONDITIONS,
        procedure_value_sets=PROCEDURES,
        mh_sud=vs("mh_sud", "F20", "F32"),
        psychiatric_revenue=vs(
            "psychiatric_revenue_code", "0114", match="exact", system="revenue_code"
        ),
        urgent_care_pos=vs("uc", "20", match="exact", system="place_of_service"),
        office_codes=vs("office", "99213", match="exact", system="hcpcs"),
        ed_pos=vs("ed", "23", match="exact", system="place_of_service"),
        delivery_drg=vs("drg", "807", match="exact", system="ms_drg"),
        community_discharge=vs("home", "01", "06", match="exact", system="discharge_disposition"),
    )


def members_with(frame):
    return sorted(set(frame.collect()["member_id"].to_list()))


def test_a_code_in_several_value_sets_is_a_fact_of_each():
    c = build(dx=[("a", "c1", D(2026, 1, 1), "F209"), ("b", "c2", D(2026, 1, 1), "Z5900")])
    got = c.conditions.collect().sort("member_id", "criterion")
    assert got.select("member_id", "criterion").rows() == [
        ("a", "mh_sud_dx"),
        ("a", "smi_dx"),
        ("b", "complex_social_factor_dx"),
        ("b", "homelessness_dx"),
    ]


@pytest.mark.parametrize(
    ("kwargs", "has_csf"),
    [
        ({"dx": [("a", "c", D(2026, 1, 1), "Z600")]}, True),
        ({"dx": [("a", "c", D(2025, 10, 31), "Z600")]}, False),  # before the lookback
        (
            {
                "lines": [
                    claim_line(
                        member_id="a",
                        claim_id="c",
                        hcpcs_code="G9919",
                        claim_start_date=D(2026, 1, 1),
                    )
                ]
            },
            True,
        ),
        (
            {
                "lines": [
                    claim_line(
                        member_id="a",
                        claim_id="c",
                        hcpcs_code="H2011",
                        claim_start_date=D(2026, 1, 1),
                    )
                ]
            },
            True,
        ),
        (
            {
                "incarceration": [
                    {
                        "member_id": "a",
                        "facility_type": "county_jail",
                        "booking_date": D(2026, 2, 1),
                        "release_date": None,
                    }
                ]
            },
            True,
        ),
        (
            {
                "incarceration": [
                    {
                        "member_id": "a",
                        "facility_type": "county_jail",
                        "booking_date": D(2024, 2, 1),
                        "release_date": D(2025, 11, 1),
                    }
                ]
            },
            True,
        ),
        (
            {
                "incarceration": [
                    {
                        "member_id": "a",
                        "facility_type": "county_jail",
                        "booking_date": D(2024, 2, 1),
                        "release_date": D(2025, 10, 31),
                    }
                ]
            },
            False,
        ),
        (
            {
                "homelessness": [
                    {
                        "member_id": "a",
                        "project_type": "ES",
                        "entry_date": D(2024, 1, 1),
                        "exit_date": None,
                    }
                ]
            },
            True,
        ),
        (
            {
                "homelessness": [
                    {
                        "member_id": "a",
                        "project_type": "ES",
                        "entry_date": D(2024, 1, 1),
                        "exit_date": D(2025, 10, 31),
                    }
                ]
            },
            False,
        ),
        ({"dx": [("a", "c", D(2026, 1, 1), "F209")]}, False),
    ],
    ids=[
        "z_code",
        "z_code_before",
        "ace",
        "crisis",
        "booking",
        "release_first_day",
        "release_day_before",
        "open_hmis",
        "hmis_ended_before",
        "no_csf",
    ],
)
def test_complex_social_factor(kwargs, has_csf):
    c = build(**kwargs)
    assert (members_with(c.complex_social_factors) == ["a"]) is has_csf


def test_homelessness_evidence_from_codes_or_feed():
    c = build(
        dx=[("a", "c", D(2026, 1, 1), "Z590"), ("b", "c", D(2026, 1, 1), "Z600")],
        homelessness=[
            {"member_id": "h", "project_type": "SO", "entry_date": AS_OF, "exit_date": None}
        ],
    )
    assert members_with(c.homelessness) == ["a", "h"]


def test_psychiatric_stays_by_principal_dx_or_revenue_code():
    stays = [
        {
            "member_id": "a",
            "admission_date": D(2026, 1, 1),
            "discharge_date": D(2026, 1, 5),
            "principal_dx": "F329",
            "discharge_disposition_code": "01",
            "revenue_codes": ["0120"],
            "source_key": "1",
            "stay_type": "acute",
        },
        {
            "member_id": "b",
            "admission_date": D(2026, 1, 1),
            "discharge_date": D(2026, 1, 5),
            "principal_dx": "J189",
            "discharge_disposition_code": "01",
            "revenue_codes": ["0114"],
            "source_key": "2",
            "stay_type": "acute",
        },
        {
            "member_id": "c",
            "admission_date": D(2026, 1, 1),
            "discharge_date": D(2026, 1, 5),
            "principal_dx": "J189",
            "discharge_disposition_code": "01",
            "revenue_codes": ["0120"],
            "source_key": "3",
            "stay_type": "acute",
        },
        {
            "member_id": "d",
            "admission_date": D(2026, 1, 1),
            "discharge_date": D(2026, 2, 5),
            "principal_dx": "F329",
            "discharge_disposition_code": "06",
            "revenue_codes": [],
            "source_key": "4",
            "stay_type": "nursing_facility",
        },
        {
            "member_id": "e",
            "admission_date": D(2026, 1, 1),
            "discharge_date": D(2026, 2, 5),
            "principal_dx": "I10",
            "discharge_disposition_code": "03",
            "revenue_codes": [],
            "source_key": "5",
            "stay_type": "nursing_facility",
        },
    ]
    c = build(stays=stays)
    assert members_with(c.psychiatric_stays) == ["a", "b"]
    assert members_with(c.mh_sud_acute_stays) == ["a"]
    assert members_with(c.nursing_facility_discharges_home) == ["d"]  # 03 is a SNF transfer


def test_office_and_urgent_care_visits_are_member_days():
    lines = [
        claim_line(
            member_id="a",
            claim_id="1",
            hcpcs_code="99213",
            place_of_service_code="11",
            claim_start_date=D(2026, 1, 1),
        ),
        claim_line(
            member_id="a",
            claim_id="2",
            hcpcs_code="99213",
            place_of_service_code="11",
            claim_start_date=D(2026, 1, 1),
        ),
        claim_line(
            member_id="a",
            claim_id="3",
            hcpcs_code="99213",
            place_of_service_code="23",
            claim_start_date=D(2026, 2, 1),
        ),  # an E/M in the ED is not an office visit
        claim_line(
            member_id="a", claim_id="4", place_of_service_code="20", claim_start_date=D(2026, 3, 1)
        ),
    ]
    c = build(lines=lines)
    assert c.office_visits.collect().height == 1
    assert c.urgent_care_visits.collect().height == 1


def test_pregnancy_end_by_diagnosis_or_delivery_drg():
    c = build(
        dx=[("a", "c", D(2026, 1, 1), "O80")],
        lines=[
            claim_line(
                member_id="b",
                claim_id="d",
                drg_code="807",
                claim_type="institutional",
                claim_start_date=D(2026, 2, 1),
            )
        ],
    )
    assert members_with(c.pregnancy_end) == ["a", "b"]


def test_span_covers():
    frame = pl.DataFrame(
        {
            "s": [AS_OF, AS_OF + dt.timedelta(days=1), D(2020, 1, 1)],
            "e": [None, None, D(2026, 10, 30)],
        }
    )
    got = frame.select(span_covers(pl.col("s"), pl.col("e"), AS_OF).alias("x"))["x"].to_list()
    assert got == [True, False, False]
