"""The contracts load, agree with the rules file, and a malformed one names file and key."""

from __future__ import annotations

import datetime as dt
import re
import shutil
import tomllib
from dataclasses import replace
from pathlib import Path

import pytest

from data_contracts import (
    CONTRACT_DIR,
    ContractError,
    feed_order,
    header_key,
    load_contract,
    load_contracts,
    parse_contract,
    value_alias_tables,
)
from data_contracts.sql import row_checks
from transforms.populations.registry import POPULATIONS, populations_reading

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
    assert sorted(feed_order()) == sorted(
        p.stem for p in CONTRACT_DIR.glob("*.toml") if p.stem != "shapes"
    )
    contracts = load_contracts()
    assert list(contracts) == list(feed_order())
    assert [c.name for c in contracts.values() if c.required] == ["eligibility", "medical_claim"]


def test_the_feed_order_is_the_contracts_order():
    """Eligibility first: every other feed's rows are checked against its members."""
    assert feed_order() == (
        "eligibility",
        "medical_claim",
        "pharmacy_claim",
        "incarceration",
        "child_welfare",
        "ccs_enrollment",
        "homelessness",
        "nursing_facility_assessment",
        "provider_assignment",
        "program_enrollment",
        "provider_return",
        "outreach",
        "ecm_provider",
    )
    assert [c.order for c in load_contracts().values()] == sorted(
        c.order for c in load_contracts().values()
    )


def _folder(tmp_path, **changes: str | None) -> Path:
    """A copy of the contracts folder, with `changes`: file stem -> the text of a contract
    (None: the file removed)."""
    folder = tmp_path / "contracts"
    folder.mkdir()
    for path in CONTRACT_DIR.glob("*.toml"):
        shutil.copy(path, folder / path.name)
    for stem, text in changes.items():
        path = folder / f"{stem}.toml"
        if text is None:
            path.unlink()
        else:
            path.write_text(text, encoding="utf-8")
    return folder


TOY = """
name = "pantry_visit"
required = false
order = 75
grain = "one row per visit"
grain_key = ["member_id", "visit_date"]
member_key = "member_id"
required_columns = ["member_id", "visit_date"]
optional_columns = ["pantry"]
read_columns = ["member_id", "visit_date", "_source_file", "_line"]

[columns.visit_date]
type = "date"
"""


def test_a_new_contract_takes_its_place_in_the_feed_order(tmp_path):
    folder = _folder(tmp_path, pantry_visit=TOY)
    order = feed_order(folder)
    assert order.index("homelessness") + 1 == order.index("pantry_visit")
    assert order.index("pantry_visit") + 1 == order.index("nursing_facility_assessment")
    assert load_contracts(folder)["pantry_visit"].read_columns == (
        "member_id",
        "visit_date",
        "_source_file",
        "_line",
    )


@pytest.mark.parametrize(
    ("changes", "file", "message"),
    [
        (
            {"pantry_visit": TOY.replace("order = 75", "order = 70")},
            "pantry_visit.toml",
            "key 'order': 70 is the order of the homelessness contract too",
        ),
        (
            {"pantry_visit": TOY.replace("order = 75", "order = 5")},
            "pantry_visit.toml",
            "key 'order': 5 stages it before eligibility (order 10)",
        ),
        (
            {"eligibility": None},
            "medical_claim.toml",
            "key 'member_key': there is no eligibility contract",
        ),
    ],
)
def test_an_order_that_cannot_be_staged_names_the_file(tmp_path, changes, file, message):
    folder = _folder(tmp_path, **changes)
    with pytest.raises(ContractError) as err:
        load_contracts(folder)
    assert str(err.value).startswith(f"{folder / file}: {message}")


def test_affects_is_derived_from_the_registry_and_declared_by_no_contract():
    """A feed affects the populations whose rules read it (Population.feeds); a contract
    that names them too is refused (an unknown key)."""
    assert populations_reading("incarceration") == (
        "CCS_CHILD",
        "JUSTICE_ADULT",
        "JUSTICE_CHILD",
        "LTC_RISK_ADULT",
        "SMI_SUD_ADULT",
    )
    assert populations_reading("child_welfare") == ("CHILD_WELFARE",)
    assert populations_reading("eligibility") == tuple(POPULATIONS)
    assert populations_reading("pharmacy_claim") == ()
    assert populations_reading("provider_assignment") == ()
    for path in CONTRACT_DIR.glob("*.toml"):
        assert "affects" not in tomllib.loads(path.read_text(encoding="utf-8")), path.name
    data = _base() | {"affects": ["JUSTICE_ADULT"]}
    with pytest.raises(ContractError, match="key 'affects': is not a contract key"):
        parse_contract(CONTRACT_DIR / "incarceration.toml", data)


def test_every_feed_a_population_reads_has_a_contract():
    for population in POPULATIONS.values():
        assert population.feeds, population.code
        assert set(population.feeds) <= set(feed_order()), population.code
        assert "eligibility" in population.feeds, population.code  # `members`


def test_the_rules_file_reports_as_missing_only_feeds_a_population_reads(rules):
    """A population's required_feeds and partial_feeds (not, or partially, evaluated when
    absent) are exactly the optional feeds its rule reads."""
    contracts = load_contracts()
    for code, population in POPULATIONS.items():
        block = rules.population(code)
        optional = {f for f in population.feeds if not contracts[f].required}
        assert set(block["required_feeds"]) | set(block["partial_feeds"]) == optional, code


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
        (lambda d: d.pop("order"), "order"),
        (lambda d: d.update(order=0), "order"),
        (lambda d: d.update(read_columns=["member_id", "cell"]), "read_columns"),
        (lambda d: d.update(read_columns=["member_id", "member_id"]), "read_columns"),
        (lambda d: d.update(read_columns=["member_id", "_row"]), "read_columns"),
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
        (
            lambda d: d["columns"]["facility_type"].update(aliases="Type"),
            "columns.facility_type.aliases",
        ),
        (
            lambda d: d["columns"]["facility_type"].update(aliases=["(*)"]),
            "columns.facility_type.aliases",
        ),
        # a header that would name two columns: another column's name, another's alias
        (
            lambda d: d["columns"]["facility_type"].update(aliases=["Booking Date"]),
            "columns.facility_type.aliases",
        ),
        (
            lambda d: (
                d["columns"]["booking_date"].update(aliases=["Custody Start"]),
                d["columns"]["release_date"].update(aliases=["CUSTODY-START"]),
            ),
            "columns.release_date.aliases",
        ),
        (
            lambda d: d["columns"]["booking_date"].update(min_value=0),
            "columns.booking_date.min_value",
        ),
        (
            lambda d: d["columns"]["booking_date"].update(value_aliases_named_by="loop.aliases.x"),
            "columns.booking_date.value_aliases_named_by",
        ),
        (
            lambda d: d["columns"]["facility_type"].update(value_aliases_named_by="aliases"),
            "columns.facility_type.value_aliases_named_by",
        ),
        # names of values: a choice column's, each a value of it, each a non-empty text
        (
            lambda d: d["columns"]["booking_date"].update(value_names={"x": "an x"}),
            "columns.booking_date.value_names",
        ),
        (
            lambda d: d["columns"]["facility_type"].update(value_names=["jail"]),
            "columns.facility_type.value_names",
        ),
        (
            lambda d: d["columns"]["facility_type"].update(value_names={"castle": "a castle"}),
            "columns.facility_type.value_names",
        ),
        (
            lambda d: d["columns"]["facility_type"].update(value_names={"county_jail": " "}),
            "columns.facility_type.value_names",
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


def test_a_choice_column_may_name_its_values():
    data = _base()
    data["columns"]["facility_type"]["value_names"] = {"county_jail": "County jail"}
    spec = parse_contract(CONTRACT_DIR / "incarceration.toml", data).spec("facility_type")
    assert spec.names_of_values == {"county_jail": "County jail"}
    assert load_contract("incarceration").spec("facility_type").names_of_values == {}


def test_every_discontinuation_reason_code_has_its_dhcs_name():
    """loop.md, section 2: the twelve codes and their names are the contract's data (the
    report and the docs show the names; no code of ecm spells them)."""
    spec = load_contract("provider_return").spec("discontinuation_reason_code")
    names = spec.names_of_values
    assert list(names) == list(spec.allowed_values)
    assert names["WM"] == "well managed"
    assert names["UBE"] == "unsafe behaviour or environment"
    assert names["NE"] == "not enrolled in Medi-Cal with the plan"
    assert names["DNC"] == "data not collected"


def test_header_key_keeps_letters_and_digits_in_lower_case():
    assert header_key("Member Client Index Number (CIN)") == "memberclientindexnumbercin"
    assert header_key(" MEMBER_CLIENT-INDEX number/cin ") == "memberclientindexnumbercin"
    assert header_key("Telephonic/Video") == header_key("telephonic video") == "telephonicvideo"
    assert header_key("(*)") == ""


def test_each_column_of_the_providers_files_accepts_its_dhcs_header():
    """loop.md, section 2: the DHCS template headers, one per column of the spec's tables."""
    dhcs = {
        "provider_return": {
            "member_id": "Member Client Index Number (CIN)",
            "provider_npi": "ECM Provider NPI",
            "reporting_period": "Member Information File Reporting Period",
            "file_production_date": "Member Information Return Transmission File Production Date",
            "ecm_status": "Member ECM Status",
            "enrollment_start_date": "ECM Enrollment Start Date",
            "enrollment_end_date": "ECM Enrollment End Date",
            "discontinuation_date": "Discontinuation Date",
            "discontinuation_reason_code": "Discontinuation Reason Code",
            "referral_status": "Referral Status",
            "referral_status_date": "Date of Referral Status Update",
            "referral_closure_reason": "Reason for Referral Loop Closure",
            "in_person_encounters": "In Person",
            "telephonic_encounters": "Telephonic/Video",
        },
        "outreach": {
            "member_id": "Member CIN",
            "provider_npi": "NPI",
            "attempt_date": "Date of Outreach Attempt",
            "method": "Outreach Attempt Method",
            "successful": "Outreach Attempt Successful",
            "minutes": "Time Spent Performing Outreach",
        },
    }
    for feed, headers in dhcs.items():
        contract = load_contract(feed)
        assert set(headers) == set(contract.columns), feed
        for column, header in headers.items():
            assert contract.header_aliases[header_key(header)] == column


def test_the_value_alias_tables_are_those_the_contracts_name():
    tables = value_alias_tables()
    assert {key: table.columns for key, table in tables.items()} == {
        "loop.aliases.ecm_status": ("provider_return.ecm_status",),
        "loop.aliases.discontinuation_reason_code": (
            "provider_return.discontinuation_reason_code",
        ),
        "loop.aliases.referral_status": ("provider_return.referral_status",),
        "loop.aliases.referral_closure_reason": ("provider_return.referral_closure_reason",),
        "loop.aliases.method": ("outreach.method",),
        "loop.aliases.successful": ("outreach.successful",),
        "loop.aliases.program": ("program_enrollment.program",),
    }
    assert tables["loop.aliases.successful"].allowed == ("Y", "N")
    assert tables["loop.aliases.program"].allowed == ()  # any program is staged
    assert tables["loop.aliases.discontinuation_reason_code"].allowed[:2] == ("WM", "SC")


def test_two_columns_sharing_an_alias_table_must_allow_the_same_values(monkeypatch):
    import data_contracts

    contracts = load_contracts()
    method = contracts["outreach"].spec("method")
    other = replace(
        contracts["incarceration"],
        specs=(*contracts["incarceration"].specs, replace(method, name="source", values=("x",))),
    )
    monkeypatch.setattr(
        data_contracts, "load_contracts", lambda: {**contracts, "incarceration": other}
    )
    with pytest.raises(
        ContractError,
        match=re.escape(
            "outreach.toml: key 'columns.method.value_aliases_named_by': 'loop.aliases.method' "
            "serves incarceration.source too"
        ),
    ):
        value_alias_tables()


def test_with_value_aliases_takes_the_rules_tables_trimmed_and_lower_cased():
    contract = load_contract("outreach").with_value_aliases(
        {"loop.aliases.method": {" Telephone ": "phone"}, "loop.aliases.successful": {}}.__getitem__
    )
    assert contract.spec("method").value_aliases == (("telephone", "phone"),)
    assert contract.spec("successful").value_aliases == ()
    assert load_contract("outreach").spec("method").value_aliases == ()  # the cached one kept
