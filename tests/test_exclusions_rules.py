"""The rules file's `[exclusions]` (docs/POPULATIONS.md, "Exclusions"): the programs in
force must be codes of reference/exclusion_programs.csv, the hospice claim days a whole
number of days from 1 to 366, the hospice bill types a value set of types of bill; a
wrong value stops the run with exit 2, naming the key; the program table is data."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

import ecm.cli
from ecm.config.reference import ReferenceData
from ecm.config.rules import load_rules, shown
from ecm.errors import RulesError
from tests.rules_file import REMOVED, rules_file_with

ALL_PROGRAMS = [
    "hospice",
    "pace",
    "ccm",
    "cct",
    "waiver_mcwp",
    "waiver_hcba",
    "waiver_alw",
    "waiver_hcbs_dd",
    "waiver_mssp",
    "waiver_sdp",
    "dsnp",
]


def refused(tmp_path, dotted, value) -> str:
    path = rules_file_with(tmp_path, dotted, value)
    with pytest.raises(RulesError) as caught:
        load_rules(path)
    message = str(caught.value)
    assert str(path) in message
    if value is REMOVED:
        assert f"{dotted} is missing: expected" in message
    else:
        assert f"{dotted} = {shown(value)}: expected" in message, message
    return message


def accepted(tmp_path, dotted, value):
    rules = load_rules(rules_file_with(tmp_path, dotted, value))
    assert rules.setting(dotted) == value


def test_the_program_table_is_the_packaged_reference_file_and_every_code_is_in_force():
    table = ReferenceData().exclusion_programs
    assert table.columns == ["code", "program", "source"]
    assert table["code"].to_list() == ALL_PROGRAMS
    assert load_rules().setting("exclusions.programs") == ALL_PROGRAMS


@pytest.mark.parametrize(
    ("value", "ok"),
    [
        (ALL_PROGRAMS, True),
        (["hospice"], True),
        (["dsnp", "pace"], True),
        ([], True),  # none in force
        (["smhs_tcm"], False),  # SMHS targeted case management runs alongside ECM
        (["hospise"], False),
        (["Hospice"], False),  # codes are lower case, as staged
        (["hospice", "hospice"], False),
        ("hospice", False),  # a list, not a code
    ],
)
def test_the_programs_in_force_are_codes_of_the_program_table(tmp_path, value, ok):
    if ok:
        accepted(tmp_path, "exclusions.programs", value)
    else:
        message = refused(tmp_path, "exclusions.programs", value)
        assert "program codes of reference/exclusion_programs.csv" in message


def test_an_unknown_program_suggests_the_known_one(tmp_path):
    message = refused(tmp_path, "exclusions.programs", ["hospise"])
    assert '"hospise" is not known (did you mean "hospice"?)' in message


@pytest.mark.parametrize(
    ("value", "ok"),
    [(0, False), (1, True), (60, True), (366, True), (367, False), (60.0, False), (True, False)],
)
def test_the_hospice_claim_days_at_their_boundaries(tmp_path, value, ok):
    if ok:
        accepted(tmp_path, "exclusions.hospice_claim_days", value)
    else:
        refused(tmp_path, "exclusions.hospice_claim_days", value)


@pytest.mark.parametrize(
    ("value", "said"),
    [
        ("ed_revenue_code", "codes, not bill_type"),  # revenue codes where bill types are read
        ("no_such_set", "no no_such_set.csv"),
        ("../hospice_bill_type", "is not a value set's name"),
    ],
)
def test_the_hospice_bill_types_are_a_value_set_of_types_of_bill(tmp_path, value, said):
    assert said in refused(tmp_path, "exclusions.hospice_bill_types", value)


@pytest.mark.parametrize(
    "dotted",
    ["exclusions.programs", "exclusions.hospice_claim_days", "exclusions.hospice_bill_types"],
)
def test_every_exclusions_key_must_be_present(tmp_path, dotted):
    refused(tmp_path, dotted, REMOVED)


def test_an_unknown_program_stops_ecm_run_with_exit_2_naming_the_key(tmp_path, monkeypatch):
    monkeypatch.setattr(ecm.cli, "_run_flow", lambda *_a, **_k: pytest.fail("ran"))
    rules = rules_file_with(tmp_path, "exclusions.programs", ["hospice", "smhs_tcm"])
    # Without --as-of the command reads the rules file for its time zone, before Prefect.
    args = ["run", "--input", tmp_path, "--out", tmp_path / "out", "--rules", rules, "--quiet"]
    result = CliRunner().invoke(ecm.cli.main, [str(a) for a in args])
    assert result.exit_code == 2, result.output
    assert "exclusions.programs" in result.output
    assert '"smhs_tcm" is not known' in result.output
    assert "Traceback" not in result.output
