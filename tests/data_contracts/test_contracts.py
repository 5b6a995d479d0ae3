"""The contracts load, agree with the rules file, and a malformed one names file and key."""

from __future__ import annotations

import datetime as dt
import tomllib

import pytest

from data_contracts import (
    CONTRACT_DIR,
    FEED_ORDER,
    ContractError,
    load_contract,
    load_contracts,
    parse_contract,
)
from data_contracts.sql import row_checks

KNOWN_RULES = {
    "missing_value",
    "unparseable_date",
    "end_before_start",
    "malformed_code",
    "unknown_value",
    "malformed_value",
    "unknown_member",
    "implausible_date",
}


def test_every_feed_has_a_contract_and_no_contract_is_orphaned():
    assert sorted(FEED_ORDER) == sorted(
        p.stem for p in CONTRACT_DIR.glob("*.toml") if p.stem != "shapes"
    )
    contracts = load_contracts()
    assert list(contracts) == list(FEED_ORDER)
    assert [c.name for c in contracts.values() if c.required] == ["eligibility", "medical_claim"]


def test_affects_agrees_with_the_rules_file(rules):
    populations = rules.data["populations"]
    for name, contract in load_contracts().items():
        if contract.required:
            # a required feed is read by every population's rule
            expected = set(populations)
        else:
            expected = {
                code
                for code, pop in populations.items()
                if name in pop["required_feeds"] or name in pop["partial_feeds"]
            }
        assert set(contract.affects) == expected, name


def test_every_check_has_a_known_rule_and_a_grain_key():
    for contract in load_contracts().values():
        assert contract.grain_key, contract.name
        for check in row_checks(contract):
            assert check.rule in KNOWN_RULES, (contract.name, check.rule)
            assert check.severity in ("error", "warn")


def test_the_old_loader_api_still_works():
    c = load_contract("eligibility")
    assert c.columns[: len(c.required_columns)] == c.required_columns
    assert "member_id" in c.required_columns and "race" in c.optional_columns
    assert c.spec("birth_date").type == "date" and c.spec("birth_date").not_null
    assert c.spec("plan").type == "text"


def _base() -> dict:
    return tomllib.loads((CONTRACT_DIR / "incarceration.toml").read_text())


@pytest.mark.parametrize(
    ("change", "key"),
    [
        (lambda d: d.update(colour="blue"), "colour"),
        (lambda d: d.pop("grain_key"), "grain_key"),
        (lambda d: d.update(required="yes"), "required"),
        (
            lambda d: d["columns"]["facility_type"].update(severity="fatal"),
            "columns.facility_type.severity",
        ),
        (
            lambda d: d["columns"]["booking_date"].update(type="datetime"),
            "columns.booking_date.type",
        ),
        (lambda d: d["columns"].update(nowhere={"type": "date"}), "columns.nowhere"),
        (lambda d: d["columns"]["facility_type"].pop("values"), "columns.facility_type.values"),
        (lambda d: d["columns"]["booking_date"].update(shape="npi"), "columns.booking_date.shape"),
        (lambda d: d["date_order"][0].update(end="exit_date"), "date_order[0].start"),
        (lambda d: d["row_rules"][0].update(kind="exactly_one"), "row_rules[0].kind"),
        (lambda d: d.update(grain_key=["member_id", "cell"]), "grain_key"),
        (lambda d: d.update(grain_severity="error"), "grain_severity"),
        (lambda d: d.update(name="jail"), "name"),
        (
            lambda d: d["columns"]["facility_type"].update(empty_before=dt.date(1901, 1, 1)),
            "columns.facility_type.empty_before",
        ),
        (
            lambda d: d["columns"]["release_date"].update(empty_before="1901-01-01"),
            "columns.release_date.empty_before",
        ),
        (
            lambda d: d["columns"]["release_date"].update(empty_before_column="source"),
            "columns.release_date.empty_before_column",
        ),
    ],
)
def test_a_malformed_contract_names_the_file_and_key(change, key):
    data = _base()
    change(data)
    path = CONTRACT_DIR / "incarceration.toml"
    with pytest.raises(ContractError) as err:
        parse_contract(path, data)
    assert str(err.value).startswith(f"{path}: key '{key}'")


def test_the_unchanged_contract_parses():
    assert parse_contract(CONTRACT_DIR / "incarceration.toml", _base()).row_rules
