"""Fill rates of the columns the rules lean on: declared in the medical_claim contract,
measured on the current claim lines, warned below the rules file's threshold (and only
then), at the boundaries."""

from __future__ import annotations

import dataclasses
import tomllib

import duckdb
import pytest

import data_contracts
from data_contracts import (
    CONTRACT_DIR,
    ContractError,
    fill_rate_check_names,
    load_contract,
    load_contracts,
    parse_contract,
)
from data_contracts.fill_rates import (
    BELOW,
    NO_ROWS,
    OK,
    FillRateRules,
    is_below,
    measure_fill_rates,
    percent,
)
from ecm.config.rules import load_rules
from ecm.ingest import ingest
from tests.feeds import line, member, write_feed
from transforms.populations.registry import POPULATIONS, populations_reading

HCPCS = "hcpcs_code_on_professional_lines"
ADMIT = "admit_type_code_on_inpatient_claims"
DX1 = "diagnosis_code_1_on_claim_lines"
CLAIM_COLUMNS = (
    "claim_type",
    "bill_type_code",
    "hcpcs_code",
    "diagnosis_code_1",
    "admit_type_code",
    "place_of_service_code",
    "revenue_center_code",
)


def _current_lines(con, rows: list[dict]):
    """A stand-in for the current claim lines (int__medical_claim_current), these rows."""
    cols = ", ".join(f"{c} varchar" for c in CLAIM_COLUMNS)
    con.execute(f"create or replace table int__medical_claim_current ({cols})")
    for row in rows:
        con.execute(
            "insert into int__medical_claim_current values (?, ?, ?, ?, ?, ?, ?)",
            [row.get(c) for c in CLAIM_COLUMNS],
        )


def _professional(n: int, coded: int) -> list[dict]:
    return [
        {"claim_type": "professional", "hcpcs_code": "99213" if i < coded else None}
        for i in range(n)
    ]


def _fill_rules(rules, ref, **thresholds) -> FillRateRules:
    def setting(dotted):
        name = dotted.removeprefix("fill_rates.")
        return thresholds[name] if name in thresholds else rules.setting(dotted)

    return FillRateRules(setting, ref.value_set)


def _measured(con, rules) -> dict:
    return {f.check.name: f for f in measure_fill_rates(con, ["medical_claim"], rules)}


# --- the boundary --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("filled", "rows", "threshold", "below"),
    [
        (5, 10, 0.5, False),  # exactly the threshold: no warning
        (4, 10, 0.5, True),  # one row short of it
        (5, 11, 0.5, True),  # one more empty row
        (9, 10, 0.9, False),
        (7, 10, 0.7, False),  # 0.7 * 10 is 7.000000000000001 in floats: not below
        (333, 1000, 0.333, False),
        (332, 1000, 0.333, True),
        (0, 10, 0.0, False),  # a threshold of 0 silences the check
        (10, 10, 1.0, False),
        (9, 10, 1.0, True),
        (0, 0, 0.5, False),  # nothing to lean on
    ],
)
def test_below_is_gx_mostly_exactly(filled, rows, threshold, below):
    assert is_below(filled, rows, threshold) is below


@pytest.mark.parametrize(
    ("share", "text"),
    [(12 / 221, "5.4%"), (0.5, "50%"), (0.49996, "49.9%"), (0.905, "90.5%"), (0.7, "70%"),
     (1.0, "100%"), (0.0, "0%")],
)  # fmt: skip
def test_a_share_reads_as_a_percent_never_rounded_up_to_its_threshold(share, text):
    assert percent(share) == text


@pytest.mark.parametrize(
    ("coded", "rows", "status"),
    [(5, 10, OK), (4, 10, BELOW), (10, 10, OK), (0, 10, BELOW)],
)
def test_the_threshold_is_met_exactly_or_warned(rules, ref, coded, rows, status):
    with duckdb.connect() as con:
        # institutional lines are not in the scope, whatever their HCPCS code
        _current_lines(con, [*_professional(rows, coded), {"claim_type": "institutional"}])
        rate = _measured(con, _fill_rules(rules, ref))[HCPCS]
    assert (rate.rows_in_scope, rate.rows_filled, rate.status) == (rows, coded, status)
    entry = rate.as_summary()
    assert (entry["threshold"], entry["fill_rate"]) == (0.5, coded / rows)
    if status == BELOW:
        warning = rate.as_warning()
        assert warning["rule"] == "fill_rate" and warning["column"] == "hcpcs_code"
        assert warning["populations"] == list(
            load_contract("medical_claim").fill_rates[0].populations
        )
        assert warning["detail"].startswith(
            f"hcpcs_code is filled on {percent(coded / rows)} of professional lines "
            f"({coded} of {rows}; the rules file's fill_rates.{HCPCS} is 50%): counts of ED "
            "visits, office visits, crisis services and ACE screenings are lowered for "
            "HOMELESS_ADULT, HIGH_UTIL_ADULT"
        )
    else:
        assert rate.sentence() == (
            f"hcpcs_code is filled on {percent(coded / rows)} of professional lines "
            f"({coded} of {rows}; the rules file's fill_rates.{HCPCS} is 50%)"
        )


def test_a_warning_names_only_the_populations_the_run_evaluates(rules, ref):
    """A user's trial: the warning named JUSTICE_ADULT and CCS_CHILD, which the run did not
    evaluate (no incarceration or CCS feed): their counts cannot be lowered, they are none."""
    evaluated = frozenset(POPULATIONS) - {"JUSTICE_ADULT", "CCS_CHILD"}
    fill_rules = FillRateRules(rules.setting, ref.value_set, evaluated=evaluated)
    with duckdb.connect() as con:
        _current_lines(con, _professional(10, 0))
        rate = _measured(con, fill_rules)[DX1]
    assert rate.status == BELOW
    declared = load_contract("medical_claim").fill_rates[1].populations
    assert {"JUSTICE_ADULT", "CCS_CHILD"} <= set(declared)
    said = [p for p in declared if p in evaluated]
    assert rate.as_warning()["populations"] == said
    assert rate.sentence().endswith(", ".join(said))


def test_an_empty_scope_is_reported_and_not_warned(rules, ref):
    with duckdb.connect() as con:
        _current_lines(con, _professional(3, 3))  # no institutional line at all
        rates = _measured(con, _fill_rules(rules, ref))
    for name in (ADMIT, "revenue_center_code_on_institutional_lines"):
        assert rates[name].status == NO_ROWS
        assert rates[name].as_summary()["fill_rate"] is None
    assert rates[ADMIT].sentence() == (
        "admit_type_code: no inpatient claim lines to measure it on "
        f"(the rules file's fill_rates.{ADMIT} is 50%)"
    )


def test_an_empty_table_measures_nothing_and_warns_nothing(rules, ref):
    with duckdb.connect() as con:
        _current_lines(con, [])
        rates = _measured(con, _fill_rules(rules, ref))
    assert {r.status for r in rates.values()} == {NO_ROWS}


def test_the_inpatient_scope_is_the_rules_acute_bill_types_and_9_is_empty(rules, ref):
    """Inpatient = institutional with a bill type of the value set the rules file names
    (events.stays.acute_bill_types: 11x, 12x); admit type 9 is empty for the rules
    (claims.admit_type_missing_codes), so it is empty here too."""
    inpatient = [
        {"claim_type": "institutional", "bill_type_code": "111", "admit_type_code": "1"},
        {"claim_type": "institutional", "bill_type_code": "121", "admit_type_code": "9"},
        {"claim_type": "institutional", "bill_type_code": "11A", "admit_type_code": None},
        {"claim_type": "institutional", "bill_type_code": "112", "admit_type_code": "2"},
    ]
    others = [
        {"claim_type": "institutional", "bill_type_code": "131", "admit_type_code": "1"},
        {"claim_type": "institutional", "bill_type_code": None, "admit_type_code": "1"},
        {"claim_type": "professional", "bill_type_code": "111", "admit_type_code": "1"},
    ]
    with duckdb.connect() as con:
        _current_lines(con, inpatient + others)
        rate = _measured(con, _fill_rules(rules, ref))[ADMIT]
        assert (rate.rows_in_scope, rate.rows_filled, rate.status) == (4, 2, OK)
        thin = _measured(con, _fill_rules(rules, ref, **{ADMIT: 0.51}))[ADMIT]
        assert thin.status == BELOW
        assert thin.as_summary()["scope"] == (
            "claim_type = institutional and bill_type_code in the value set of "
            "events.stays.acute_bill_types"
        )


def test_a_plan_silences_a_check_with_0_in_its_rules_file(tmp_path, ref):
    text = (CONTRACT_DIR.parent / "reference" / "rules.toml").read_text()
    assert f"{HCPCS} = 0.5" in text
    path = tmp_path / "rules.toml"
    path.write_text(text.replace(f"{HCPCS} = 0.5", f"{HCPCS} = 0"))
    plans = load_rules(path)
    with duckdb.connect() as con:
        _current_lines(con, _professional(10, 0))
        silenced = _measured(con, FillRateRules(plans.setting, ref.value_set))[HCPCS]
        default = _measured(con, FillRateRules(load_rules().setting, ref.value_set))[HCPCS]
    assert (silenced.threshold, silenced.status) == (0.0, OK)
    assert (default.threshold, default.status) == (0.5, BELOW)


def test_measured_on_the_current_versions_of_the_claims(tmp_path, rules, ref):
    """A claim re-delivered with its HCPCS code filled in counts once, as delivered last;
    a voided claim not at all: the rows the rules read, not every staged row."""
    feeds = tmp_path / "feeds"
    write_feed(feeds, "eligibility", [member("A")])
    old = {"file_date": "2026-01-01"}
    new = {"file_date": "2026-02-01", "hcpcs_code": "99213", "place_of_service_code": "11"}
    write_feed(
        feeds,
        "medical_claim",
        [
            line("c1", "A", "2026-01-05", **old),  # replaced by ...
            line("c1", "A", "2026-01-05", **new),  # ... this version
            line("c2", "A", "2026-01-06", **old),
            line("c2", "A", "2026-01-06", claim_type="institutional", bill_type_code="138",
                 file_date="2026-02-01"),  # voids c2
            line("c3", "A", "2026-01-07", **new),
        ],
    )  # fmt: skip
    with duckdb.connect() as con:
        ingest(con, feeds, rules, tmp_path / "work")
        rate = _measured(con, FillRateRules(rules.setting, ref.value_set))[HCPCS]
    assert (rate.rows_in_scope, rate.rows_filled, rate.status) == (2, 2, OK)


# --- the declaration -------------------------------------------------------------------------


def test_every_check_has_its_key_in_the_rules_file_and_back(rules):
    assert set(rules.data["fill_rates"]) == set(fill_rate_check_names())
    assert len(fill_rate_check_names()) == 5


def test_each_check_names_populations_the_contract_affects():
    """A column's effect is finer than its feed's: each check's populations read the feed
    (the registry's `feeds`: the feed's `affects`, derived)."""
    for feed, contract in load_contracts().items():
        for check in contract.fill_rates:
            reading = populations_reading(feed)
            assert check.populations and set(check.populations) <= set(reading), check.name
    contract = load_contract("medical_claim")
    by_name = {c.name: c for c in contract.fill_rates}
    assert "SMI_SUD_ADULT" in by_name[HCPCS].populations
    assert by_name[ADMIT].scope[1].in_value_set_named_by == "events.stays.acute_bill_types"
    assert by_name[ADMIT].empty_codes_named_by == "claims.admit_type_missing_codes"


def _claims() -> dict:
    return tomllib.loads((CONTRACT_DIR / "medical_claim.toml").read_text())


def _set(index: int, **values):
    return lambda d: d["fill_rates"][index].update(values)


@pytest.mark.parametrize(
    ("change", "key"),
    [
        (_set(0, column="nowhere"), "fill_rates[0].column"),
        (_set(0, colour="blue"), "fill_rates[0].colour"),
        (lambda d: d["fill_rates"][0].pop("effect"), "fill_rates[0].effect"),
        (lambda d: d["fill_rates"][0].pop("rows"), "fill_rates[0].rows"),
        (_set(0, name="Hcpcs Code"), "fill_rates[0].name"),
        (_set(1, name=HCPCS), "fill_rates[1].name"),
        (_set(0, where={"claim_type": "dental"}), "fill_rates[0].where.claim_type"),
        (_set(0, where={"claim_type": 3}), "fill_rates[0].where.claim_type"),
        (_set(0, where={"nowhere": "x"}), "fill_rates[0].where.nowhere"),
        (
            _set(2, where={"bill_type_code": {"in_value_set_named_by": "acute"}}),
            "fill_rates[2].where.bill_type_code.in_value_set_named_by",
        ),
        (
            _set(2, where={"bill_type_code": {"value_set": "acute_inpatient_bill_type"}}),
            "fill_rates[2].where.bill_type_code.in_value_set_named_by",
        ),
        (_set(2, empty_codes_named_by="nine"), "fill_rates[2].empty_codes_named_by"),
        (_set(0, populations=[]), "fill_rates[0].populations"),
        (lambda d: d.update(fill_rates="hcpcs"), "fill_rates"),
        (lambda d: d.update(fill_rates=["hcpcs"]), "fill_rates[0]"),
    ],
)
def test_a_malformed_check_names_the_file_and_key(change, key):
    data = _claims()
    change(data)
    path = CONTRACT_DIR / "medical_claim.toml"
    with pytest.raises(ContractError) as err:
        parse_contract(path, data)
    assert str(err.value).startswith(f"{path}: key '{key}'")


def test_a_check_declared_by_two_feeds_is_an_error(monkeypatch):
    claims = load_contract("medical_claim")
    pharmacy = dataclasses.replace(
        load_contract("pharmacy_claim"), fill_rates=claims.fill_rates[:1]
    )
    monkeypatch.setattr(
        data_contracts,
        "load_contracts",
        lambda: {"medical_claim": claims, "pharmacy_claim": pharmacy},
    )
    with pytest.raises(ContractError, match=f"'{HCPCS}' is declared by the medical_claim"):
        fill_rate_check_names()
