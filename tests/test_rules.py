"""The rules file is checked up front against the settings of the code and the populations
it registers: a missing or mistyped key is a RulesError naming the file, the key and what
was expected (never a KeyError half-way through a run)."""

from __future__ import annotations

import math
import re

import pytest

from ecm.config.paths import DEFAULT_RULES_FILE, REFERENCE_DIR
from ecm.config.reference import ReferenceData
from ecm.config.rules import SETTINGS, has_type, load_rules, shown
from ecm.errors import RulesError
from tests.rules_file import (
    DEFAULT_DATA,
    REMOVED,
    leaf_keys,
    rules_file_with,
    to_toml,
    with_setting,
)
from transforms.populations import Population
from transforms.populations.registry import POPULATIONS, collect

DEFAULT_TEXT = DEFAULT_RULES_FILE.read_text()


def block_of(code: str, text: str = DEFAULT_TEXT) -> str:
    """The text of one [populations.CODE] block, up to the next block or the end."""
    match = re.search(rf"^\[populations\.{code}\]\n(?:(?!^\[).*\n?)*", text, flags=re.MULTILINE)
    assert match, code
    return match.group(0)


def write_rules(tmp_path, old: str, new: str, text: str = DEFAULT_TEXT):
    assert old in text, old
    path = tmp_path / "rules.toml"
    path.write_text(text.replace(old, new, 1))
    return path


def in_block(code: str, old: str, new: str) -> tuple[str, str]:
    """(old, new) texts replacing `old` by `new` inside one population's block only."""
    block = block_of(code)
    assert old in block, (code, old)
    return block, block.replace(old, new, 1)


def rules_error(path) -> str:
    with pytest.raises(RulesError) as caught:
        load_rules(path)
    message = str(caught.value)
    assert str(path) in message  # every error names the file
    return message


def test_the_packaged_rules_file_matches_the_registry():
    rules = load_rules()
    assert rules.population_codes == sorted(POPULATIONS)


def test_a_missing_population_setting_names_the_key_and_its_type(tmp_path):
    path = write_rules(tmp_path, *in_block("HIGH_UTIL_ADULT", "min_avoidable_ed_visits = 5\n", ""))
    message = rules_error(path)
    assert "populations.HIGH_UTIL_ADULT.min_avoidable_ed_visits is missing" in message
    assert "expected a number" in message
    assert "HIGH_UTIL_CHILD" not in message  # the child block still has its own


def test_a_string_where_an_integer_is_expected(tmp_path):
    path = write_rules(
        tmp_path, *in_block("SMI_SUD_CHILD", "min_mh_sud_dx_dates = 2", 'min_mh_sud_dx_dates = "2"')
    )
    message = rules_error(path)
    assert 'populations.SMI_SUD_CHILD.min_mh_sud_dx_dates = "2": expected a whole number' in message


@pytest.mark.parametrize(
    ("code", "old", "new", "expected"),
    [
        # a boolean is not an integer, though Python says True == 1
        ("SMI_SUD_ADULT", "min_acute_care_events = 2", "min_acute_care_events = true", "whole"),
        (
            "HIGH_UTIL_CHILD",
            "min_avoidable_ed_visits = 3",
            'min_avoidable_ed_visits = "3"',
            "a number",
        ),
        ("BIRTH_EQUITY_ADULT", 'age_group = "adult"', "age_group = 21", "one of: adult"),
        (
            "BIRTH_EQUITY_CHILD",
            'races = ["black or african american",',
            "races = [1,",
            "race values",
        ),
        (
            "HOMELESS_FAMILY",
            "required_feeds = []",
            'required_feeds = "homelessness"',
            "a list of feed names",
        ),
    ],
)
def test_mistyped_population_settings(tmp_path, code, old, new, expected):
    path = write_rules(tmp_path, *in_block(code, old, new))
    message = rules_error(path)
    assert f"populations.{code}." in message
    assert expected in message


def test_an_unknown_population_code(tmp_path):
    extra = '\n[populations.HIGH_UTIL_SENIOR]\ntitle = "Seniors"\nage_group = "adult"\n'
    path = tmp_path / "rules.toml"
    path.write_text(DEFAULT_TEXT + extra)
    message = rules_error(path)
    assert "[populations.HIGH_UTIL_SENIOR] is a population no rule implements" in message


def test_a_registered_population_missing_from_the_file(tmp_path):
    path = write_rules(tmp_path, block_of("CHILD_WELFARE"), "")
    message = rules_error(path)
    assert "[populations.CHILD_WELFARE] is missing" in message


def test_a_misspelt_key_is_not_silently_ignored(tmp_path):
    path = write_rules(
        tmp_path,
        *in_block("HIGH_UTIL_CHILD", "min_avoidable_ed_visits = 3", "min_avoidable_ed_visit = 3"),
    )
    message = rules_error(path)
    assert "populations.HIGH_UTIL_CHILD.min_avoidable_ed_visit is not a setting" in message
    assert "populations.HIGH_UTIL_CHILD.min_avoidable_ed_visits is missing" in message


def test_own_lookback_is_accepted_where_declared(tmp_path):
    path = write_rules(
        tmp_path,
        *in_block(
            "HIGH_UTIL_ADULT", "partial_feeds = []", "partial_feeds = []\nlookback_months = 6"
        ),
    )
    assert load_rules(path).population("HIGH_UTIL_ADULT")["lookback_months"] == 6


@pytest.mark.parametrize("value", ["0", '"6"', "6.5", "true"])
def test_own_lookback_must_be_a_positive_integer(tmp_path, value):
    path = write_rules(
        tmp_path,
        *in_block(
            "HIGH_UTIL_ADULT",
            "partial_feeds = []",
            f"partial_feeds = []\nlookback_months = {value}",
        ),
    )
    assert "populations.HIGH_UTIL_ADULT.lookback_months" in rules_error(path)


def test_own_lookback_is_refused_for_a_rule_reading_the_shared_criteria(tmp_path):
    path = write_rules(
        tmp_path,
        *in_block("JUSTICE_CHILD", "partial_feeds = []", "partial_feeds = []\nlookback_months = 6"),
    )
    assert "JUSTICE_CHILD.lookback_months is set" in rules_error(path)


def test_a_missing_shared_setting_is_named_once(tmp_path):
    path = write_rules(tmp_path, "pregnancy_carryover_months = 9\n", "")
    message = rules_error(path)
    assert message.count("time.pregnancy_carryover_months is missing: expected a whole") == 1


@pytest.mark.parametrize(
    ("old", "new", "named"),
    [
        ("lookback_months = 12", 'lookback_months = "12"', 'time.lookback_months = "12"'),
        ("merge_gap_days = 1", "", "events.stays.merge_gap_days is missing"),
        ("nyu_avoidable_threshold = 0.5", "nyu_avoidable_threshold = [0.5]", "a number"),
    ],
)
def test_required_settings_are_present_and_typed(tmp_path, old, new, named):
    assert named in rules_error(write_rules(tmp_path, old, new))


@pytest.mark.parametrize(
    ("value", "expected", "matches"),
    [
        (1, int, True),
        (True, int, False),
        (1, float, True),
        (0.5, float, True),
        (False, float, False),
        ("1", int, False),
        (True, bool, True),
        (1, bool, False),
        (["a", "b"], list[str], True),
        ([], list[str], True),
        (["a", 1], list[str], False),
        ("a", list[str], False),
    ],
)
def test_setting_types(value, expected, matches):
    assert has_type(value, expected) is matches


def test_load_rules_checks_against_the_registry_it_is_given():
    """With a registry lacking a population, the packaged file's block for it is unknown."""
    fewer = collect(p for code, p in POPULATIONS.items() if code != "CCS_CHILD")
    with pytest.raises(RulesError, match=r"\[populations\.CCS_CHILD\] is a population no rule"):
        load_rules(None, fewer)


def _registry_with_high_util_adult_settings(settings: dict) -> dict:
    def rule(pof_code, members, *, age_group, min_acute_care_events=2, min_visits=1):
        raise AssertionError("not called")

    return collect(
        [
            *(p for code, p in POPULATIONS.items() if code != "HIGH_UTIL_ADULT"),
            Population("HIGH_UTIL_ADULT", rule, reads=("members",), settings=settings),
        ]
    )


def test_a_population_declaring_a_setting_not_in_the_file():
    wider = _registry_with_high_util_adult_settings(
        {"age_group": str, "min_acute_care_events": int}
    )
    with pytest.raises(RulesError, match=r"HIGH_UTIL_ADULT\.min_acute_care_events is missing"):
        load_rules(None, wider)


def test_a_population_setting_without_a_declared_range_is_a_bug_not_a_rules_error():
    """Every setting a population reads has its range in ecm.config.rules.SETTINGS."""
    undeclared = _registry_with_high_util_adult_settings({"age_group": str, "min_visits": int})
    with pytest.raises(TypeError, match=r"populations\.\*\.min_visits"):
        load_rules(None, undeclared)


# --- the whole file against its declaration (outputs.md, "Exit codes", last paragraph) ---


def refused(tmp_path, dotted: str, value) -> str:
    """The RulesError of the packaged file with `dotted` set to `value`: it names the file,
    the key, the value as the file writes it, and what was expected."""
    message = rules_error(rules_file_with(tmp_path, dotted, value))
    if value is REMOVED:
        assert f"{dotted} is missing: expected" in message
    else:
        assert f"{dotted} = {shown(value)}: expected" in message, message
    return message


def accepted(tmp_path, dotted: str, value):
    rules = load_rules(rules_file_with(tmp_path, dotted, value))
    assert rules.setting(dotted) == value
    return rules


# (key, value, whether the rules file is accepted), each range at its boundaries.
BOUNDARIES = [
    # lookbacks: 1 to 60 months (the run's, the long one, a population's own)
    *[
        (key, value, ok)
        for key in (
            "time.lookback_months",
            "time.long_lookback_months",
            "populations.HIGH_UTIL_ADULT.lookback_months",
        )
        for value, ok in ((-1, False), (0, False), (1, True), (60, True), (61, False))
    ],
    ("time.lookback_months", 1000, False),
    ("time.lookback_months", 100000, False),
    ("time.lookback_months", 6.0, False),
    ("time.pregnancy_carryover_months", -1, False),
    ("time.pregnancy_carryover_months", 0, True),
    ("time.pregnancy_carryover_months", 60, True),
    ("time.pregnancy_carryover_months", 61, False),
    # count thresholds: at least 1 (fractional where the counts are: nyu_expected)
    *[
        (f"populations.{code}.{key}", value, ok)
        for code, key in (
            ("HIGH_UTIL_ADULT", "min_avoidable_ed_visits"),
            ("HIGH_UTIL_CHILD", "min_avoidable_unplanned_stays"),
        )
        for value, ok in (
            (-1, False),
            (0, False),
            (0.99, False),
            (1, True),
            (2.5, True),
            (10_000, True),
            (10_001, False),
        )
    ],
    *[
        (f"populations.{code}.{key}", value, ok)
        for code, key in (
            ("SMI_SUD_ADULT", "min_acute_care_events"),
            ("SMI_SUD_ADULT", "min_mh_sud_acute_events"),
            ("SMI_SUD_CHILD", "min_mh_sud_dx_dates"),
        )
        for value, ok in ((0, False), (1, True), (1.5, False), (10_000, True), (10_001, False))
    ],
    ("guards.min_enrolled_members", 0, False),
    ("guards.min_enrolled_members", 1, True),
    ("guards.min_enrolled_members", 2_000_000, True),  # no upper bound: a plan of millions
    # ages: 0 to 120 years; aged-out youth above the adult age
    ("time.adult_min_age", -1, False),
    ("time.adult_min_age", 0, True),
    ("time.adult_min_age", 25, True),
    ("time.aged_out_max_age_exclusive", 21, False),  # not above adult_min_age (21)
    ("time.aged_out_max_age_exclusive", 22, True),
    ("time.aged_out_max_age_exclusive", 120, True),
    ("time.aged_out_max_age_exclusive", 121, False),
    # days: 0 to 31
    *[
        (key, value, ok)
        for key in (
            "events.stays.merge_gap_days",
            "events.ed_visit.days_before_admission_belonging_to_stay",
        )
        for value, ok in ((-1, False), (0, True), (31, True), (32, False))
    ],
    ("methods.nyu_min_prefix_length", 2, False),
    ("methods.nyu_min_prefix_length", 3, True),
    ("methods.nyu_min_prefix_length", 7, True),
    ("methods.nyu_min_prefix_length", 8, False),
    # shares: 0 to 1
    *[
        (key, value, ok)
        for key in (
            "guards.max_quarantined_share",
            "methods.nyu_avoidable_threshold",
            "fill_rates.diagnosis_code_1_on_claim_lines",
        )
        for value, ok in ((-0.5, False), (-0.01, False), (0, True), (1, True), (1.01, False))
    ],
    # budgets: more than 0 (a memory budget of at least 0.1 GiB)
    ("run.memory_budget_gib", 0, False),
    ("run.memory_budget_gib", -8, False),
    ("run.memory_budget_gib", 0.09, False),
    ("run.memory_budget_gib", 0.1, True),
    ("run.memory_budget_gib", 4096, True),
    ("run.memory_budget_gib", 4097, False),
    ("run.bytes_per_member", 0, False),
    ("run.bytes_per_member", 1, True),
    ("run.bytes_per_member", 2**20, True),
    ("run.bytes_per_member", 2**20 + 1, False),
    ("guards.max_line_bytes", 2**14 - 1, False),
    ("guards.max_line_bytes", 2**14, True),
    ("guards.max_line_bytes", 2**30, True),
    ("guards.max_line_bytes", 2**30 + 1, False),
    ("loop.max_open_days", 0, False),
    ("loop.max_open_days", 1, True),
    ("loop.max_open_days", 366, True),
    ("loop.max_open_days", 367, False),
    ("loop.max_open_days", 60.5, False),
    ("loop.re_refer_after_months", -1, False),
    ("loop.re_refer_after_months", 0, True),
    ("loop.re_refer_after_months", 60, True),
    ("loop.re_refer_after_months", 61, False),
]


@pytest.mark.parametrize(("dotted", "value", "ok"), BOUNDARIES)
def test_each_number_is_checked_at_its_boundaries(tmp_path, dotted, value, ok):
    if ok:
        accepted(tmp_path, dotted, value)
    else:
        refused(tmp_path, dotted, value)


FLOAT_KEYS = [key for key, setting in SETTINGS.items() if setting.kind is float]


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf])
@pytest.mark.parametrize("dotted", [k.replace("*", "HIGH_UTIL_ADULT") for k in FLOAT_KEYS])
def test_nan_and_infinity_are_refused_for_every_number(tmp_path, dotted, value):
    refused(tmp_path, dotted, value)


@pytest.mark.parametrize(
    ("dotted", "value"),
    [
        ("time.lookback_months", True),  # a boolean is not a number, though True == 1
        ("populations.HIGH_UTIL_ADULT.min_avoidable_ed_visits", True),
        ("guards.max_quarantined_share", False),
        ("output.group_readable", 1),  # nor is a number a boolean
        ("output.group_readable", "true"),
        ("methods.admit_type.empty_admit_type_is_unplanned", 0),
    ],
)
def test_booleans_and_numbers_are_not_each_other(tmp_path, dotted, value):
    refused(tmp_path, dotted, value)


@pytest.mark.parametrize(
    ("dotted", "good", "bad"),
    [
        ("methods.avoidable_ed", ["nyu_threshold", "nyu_max", "nyu_expected", "all_ed"], "nyu"),
        ("methods.unplanned_stay", ["admit_type", "cms_planned"], "planned"),
        ("methods.avoidable_stay", ["unplanned", "pqi"], "PQI"),
        ("methods.pqi.applies_to_age_group", ["adult", "child_youth"], "seniors"),
        ("populations.HIGH_UTIL_ADULT.age_group", ["adult", "child_youth"], "adults"),
        ("populations.HOMELESS_FAMILY.index_age_group", ["child_youth"], "children"),
    ],
)
def test_each_method_and_age_group_is_one_the_code_knows(tmp_path, dotted, good, bad):
    for value in good:
        accepted(tmp_path / value, dotted, value)
    message = refused(tmp_path, dotted, bad)
    assert good[0] in message  # the known ones are listed


@pytest.mark.parametrize(
    ("dotted", "value", "ok"),
    [
        ("claims.void_bill_type_frequency", "8", True),
        ("claims.void_bill_type_frequency", "Z", True),
        ("claims.void_bill_type_frequency", "", False),
        ("claims.void_bill_type_frequency", "88", False),
        ("claims.void_bill_type_frequency", "a", False),  # staging upper-cases bill types
        ("claims.void_bill_type_frequency", 8, False),
        ("claims.admit_type_missing_codes", ["9"], True),
        ("claims.admit_type_missing_codes", [], True),
        ("claims.admit_type_missing_codes", ["09"], False),  # staging drops leading zeros
        ("claims.admit_type_missing_codes", ["0"], False),
        ("claims.admit_type_missing_codes", ["9", "9"], False),
        ("plan.dual_status_codes", ["01", "08"], True),
        ("plan.dual_status_codes", ["1"], False),
        ("plan.dual_status_codes", ["NA"], False),
        ("populations.BIRTH_EQUITY_ADULT.races", ["asian"], True),
        ("populations.BIRTH_EQUITY_ADULT.races", ["black"], False),
        ("populations.BIRTH_EQUITY_ADULT.races", [], False),
        ("populations.JUSTICE_ADULT.required_feeds", ["incarceration"], True),
        ("populations.JUSTICE_ADULT.required_feeds", ["incarceration_feed"], False),
        ("populations.CCS_CHILD.partial_feeds", ["ccs_enrollment"], False),  # also required
        ("populations.JUSTICE_ADULT.clinical_need_criteria", ["smi_dx", "tbi_dx"], True),
        ("populations.JUSTICE_ADULT.clinical_need_criteria", ["mh_sud"], False),
        ("populations.HOMELESS_ADULT.complex_need_criteria", [], False),
        ("methods.pqi.numerator_value_sets", ["asthma"], True),
        ("methods.pqi.numerator_value_sets", ["asthmaa"], False),
        ("methods.pqi.numerator_value_sets", [], False),
        ("plan.mcp_name", "", False),
        ("plan.mcp_name", "Plan\nName", False),
        ("version", "", False),
    ],
)
def test_codes_and_names_the_rules_give_are_known_or_of_their_shape(tmp_path, dotted, value, ok):
    if ok:
        accepted(tmp_path, dotted, value)
    else:
        refused(tmp_path, dotted, value)


def test_the_adult_age_is_below_the_aged_out_age(tmp_path):
    message = rules_error(rules_file_with(tmp_path, "time.adult_min_age", 26))
    assert (
        "time.aged_out_max_age_exclusive = 26: expected above time.adult_min_age "
        "(time.adult_min_age = 26)"
    ) in message


def test_an_unknown_name_suggests_the_known_one(tmp_path):
    message = refused(tmp_path, "populations.JUSTICE_ADULT.clinical_need_criteria", ["mh_sud_dxx"])
    assert 'did you mean "mh_sud_dx"' in message


@pytest.mark.parametrize(
    ("value", "ok"),
    [
        ("America/Los_Angeles", True),
        ("America/New_York", True),
        ("UTC", True),
        ("Mars/Olympus", False),
        ("", False),
        ("../../etc/passwd", False),
        ("america/los_angeles", False),
        (-8, False),
    ],
)
def test_the_time_zone_is_one_of_the_tz_database(tmp_path, value, ok):
    if ok:
        assert accepted(tmp_path, "time.timezone", value).timezone == value
    else:
        refused(tmp_path, "time.timezone", value)


@pytest.mark.parametrize(
    "value",
    [
        "mh_sud.csv",
        "../value_sets/mh_sud",
        "/etc/passwd",
        "value_sets/mh_sud",
        "mh\\sud",
        "..",
        "",
        "mh sud",
    ],
)
def test_a_value_set_is_named_never_a_path(tmp_path, value):
    assert "never a path" in refused(tmp_path, "criteria.mh_sud", value)


def test_a_value_set_that_is_nowhere_is_named_with_the_folders_looked_in(tmp_path):
    message = refused(tmp_path, "criteria.mh_sud", "mh_suds")
    assert f"no mh_suds.csv in {tmp_path / 'value_sets'} or" in message
    assert "reference/value_sets" in message


@pytest.mark.parametrize(
    ("dotted", "value"),
    [
        ("criteria.mh_sud", "ed_revenue_code"),  # revenue codes where diagnoses are read
        ("events.stays.acute_bill_types", "smi"),
        ("criteria.procedure_value_sets", ["crisis_service", "office_visit", "smi"]),
    ],
)
def test_a_value_set_holds_the_code_system_its_key_reads(tmp_path, dotted, value):
    assert "codes, not" in refused(tmp_path, dotted, value)


def test_every_value_set_named_in_a_list_is_checked(tmp_path):
    names = [*DEFAULT_DATA["criteria"]["condition_value_sets"], "no_such_set"]
    assert "no no_such_set.csv" in refused(tmp_path, "criteria.condition_value_sets", names)
    assert "named twice" in refused(tmp_path, "criteria.condition_value_sets", ["smi", "smi"])
    refused(tmp_path, "criteria.condition_value_sets", [])


HEADER = "code_system,code,match,description\n"


def plan_with_value_set(tmp_path, name: str, body: str, dotted="criteria.mh_sud"):
    """A plan's rules file naming `name` at `dotted`, with value_sets/NAME.csv beside it."""
    (tmp_path / "value_sets").mkdir(parents=True, exist_ok=True)
    (tmp_path / "value_sets" / f"{name}.csv").write_text(body)
    return rules_file_with(tmp_path, dotted, name)


def test_a_plan_value_set_beside_its_rules_file_is_read_by_the_run(tmp_path):
    path = plan_with_value_set(tmp_path, "plan_mh", HEADER + "icd10cm,F32,prefix,Depression\n")
    rules = load_rules(path)
    reference = ReferenceData.for_rules(rules)
    assert reference.value_set("plan_mh")["code"].to_list() == ["F32"]
    assert reference.versions()["value_sets/plan_mh.csv"]["path"] == str(
        (tmp_path / "value_sets" / "plan_mh.csv").resolve()
    )


def test_a_plan_value_set_comes_before_the_packaged_one_of_its_name(tmp_path):
    path = plan_with_value_set(
        tmp_path, "smi", HEADER + "icd10cm,F20,prefix,Schizophrenia\n", "criteria.mh_sud"
    )
    reference = ReferenceData.for_rules(load_rules(path))
    assert reference.value_set("smi")["code"].to_list() == ["F20"]
    assert ReferenceData().value_set("smi").height > 1  # the packaged one, untouched


@pytest.mark.parametrize(
    ("rows", "line", "said"),
    [
        ("icd10cm,F20,prefix,ok\nicd10cm,F2.0,prefix,dot\n", 3, "code 'F2.0' (icd10cm, prefix)"),
        ("icd10cm,f20,prefix,lower case\n", 2, "code 'f20'"),
        ("icd10cm,F2,prefix,too short\n", 2, "code 'F2'"),
        ("icd10cm,,exact,empty\n", 2, "code ''"),
        ("icd10cm,F20,fuzzy,x\n", 2, "match 'fuzzy' is not 'exact' or 'prefix'"),
        ("icd11,F20,exact,x\n", 2, "code_system 'icd11' is not one of"),
        ("icd10cm,F20,prefix\n", 2, "3 fields; expected 4"),
        ("icd10cm,F20,prefix,a\nicd10cm,F20,prefix,b\n", 3, "code 'F20' is already on line 2"),
    ],
)
def test_each_code_of_a_value_set_is_of_its_code_system_shape(tmp_path, rows, line, said):
    message = rules_error(plan_with_value_set(tmp_path, "plan_mh", HEADER + rows))
    assert f"{tmp_path / 'value_sets' / 'plan_mh.csv'}, line {line}: {said}" in message


@pytest.mark.parametrize(
    ("name", "dotted", "row", "ok"),
    [
        ("ed_rev", "events.ed_visit.institutional_revenue_codes", "revenue_code,0450,exact", True),
        ("ed_rev", "events.ed_visit.institutional_revenue_codes", "revenue_code,450,exact", False),
        ("ed_rev", "events.ed_visit.institutional_revenue_codes", "revenue_code,045,prefix", False),
        (
            "ed_pos",
            "events.ed_visit.professional_place_of_service",
            "place_of_service,23,exact",
            True,
        ),
        (
            "ed_pos",
            "events.ed_visit.professional_place_of_service",
            "place_of_service,3,exact",
            False,
        ),
        ("ed_cpt", "events.ed_visit.any_claim_procedure_codes", "hcpcs,99281,exact", True),
        ("ed_cpt", "events.ed_visit.any_claim_procedure_codes", "hcpcs,9928,prefix", False),
        ("acute", "events.stays.acute_bill_types", "bill_type,11,prefix", True),
        ("acute", "events.stays.acute_bill_types", "bill_type,111,exact", True),
        ("acute", "events.stays.acute_bill_types", "bill_type,1,prefix", False),
        ("acute", "events.stays.acute_bill_types", "bill_type,0111,exact", False),
        ("drg", "methods.delivery.drg", "ms_drg,768,exact", True),
        ("drg", "methods.delivery.drg", "ms_drg,76,exact", False),
        ("adm", "methods.admit_type.unplanned_admit_types", "admit_type,1,exact", True),
        ("adm", "methods.admit_type.unplanned_admit_types", "admit_type,01,exact", False),
        (
            "dis",
            "criteria.community_discharge_dispositions",
            "discharge_disposition,01,exact",
            True,
        ),
        (
            "dis",
            "criteria.community_discharge_dispositions",
            "discharge_disposition,1,exact",
            False,
        ),
    ],
)
def test_value_set_codes_by_code_system(tmp_path, name, dotted, row, ok):
    path = plan_with_value_set(tmp_path, name, f"{HEADER}{row},description\n", dotted)
    if ok:
        load_rules(path)
    else:
        assert f"{name}.csv, line 2: code" in rules_error(path)


@pytest.mark.parametrize(
    "body",
    [
        "code,code_system,match,description\nF20,icd10cm,prefix,x\n",
        "code_system,code,match\nicd10cm,F20,prefix\n",
        "",
        HEADER,
        "code_system,code,match,description,source\nicd10cm,F20,prefix,x,y\n",
    ],
)
def test_a_value_set_file_of_the_wrong_layout_is_refused(tmp_path, body):
    message = rules_error(plan_with_value_set(tmp_path, "plan_mh", body))
    assert str(tmp_path / "value_sets" / "plan_mh.csv") in message


def test_a_value_set_that_is_not_utf8_is_refused(tmp_path):
    path = plan_with_value_set(tmp_path, "plan_mh", "")
    (tmp_path / "value_sets" / "plan_mh.csv").write_bytes(
        HEADER.encode() + b"icd10cm,F20,prefix,caf\xe9\n"
    )
    assert "plan_mh.csv is not UTF-8" in rules_error(path)


def test_every_packaged_value_set_is_valid():
    reference = ReferenceData()
    for path in sorted((REFERENCE_DIR / "value_sets").glob("*.csv")):
        assert reference.value_set_file(path.stem).problems == (), path


@pytest.mark.parametrize(
    ("dotted", "value", "said"),
    [
        ("time.lookback_month", 6, "time.lookback_month is not a setting of [time]"),
        ("fill_rates.hcpcs_on_lines", 0.5, "fill_rates.hcpcs_on_lines is not a setting"),
        ("methods.pqi.numerator_sets", ["asthma"], "methods.pqi.numerator_sets is not a setting"),
        (
            "outputs.group_readable",
            True,
            "[outputs] is not a table of the rules file (it holds group_readable) "
            "(did you mean output?)",
        ),
        ("guards.max_line_byte", 100, "did you mean max_line_bytes?"),
        # the quarterly file's Plan Name is plan.mcp_name: the key it once had is unknown
        (
            "plan.plan_name",
            "Example Medi-Cal Plan",
            "plan.plan_name is not a setting of [plan] (did you mean mcp_name?)",
        ),
        ("populations.HIGH_UTIL_CHILD.lookback_month", 6, "did you mean lookback_months?"),
        ("events.ed_visits.merge_gap_days", 1, "[events.ed_visits] is not a table of [events]"),
    ],
)
def test_an_unknown_key_is_an_error_never_ignored(tmp_path, dotted, value, said):
    assert said in rules_error(rules_file_with(tmp_path, dotted, value))


@pytest.mark.parametrize("dotted", ["time", "methods.pqi", "fill_rates", "output"])
def test_a_table_written_as_a_value_is_refused(tmp_path, dotted):
    assert f"{dotted} = 5: expected a table" in rules_error(rules_file_with(tmp_path, dotted, 5))


@pytest.mark.parametrize(
    "dotted",
    [
        "fill_rates.revenue_center_code_on_institutional_lines",
        "guards.max_line_bytes",
        "output.group_readable",
        "events.ed_visit.any_claim_procedure_codes",
        "methods.pqi.applies_to_age_group",
        "populations.BIRTH_EQUITY_CHILD.title",
    ],
)
def test_every_declared_key_must_be_present(tmp_path, dotted):
    refused(tmp_path, dotted, REMOVED)


def test_one_error_lists_every_problem(tmp_path):
    data = with_setting("time.lookback_months", 0)
    data = with_setting("guards.max_quarantined_share", -0.5, data)
    data = with_setting("time.timezone", "Mars/Olympus", data)
    path = tmp_path / "rules.toml"
    path.write_text(to_toml(data))
    message = rules_error(path)
    for said in (
        "time.lookback_months = 0: expected a whole number of months from 1 to 60",
        "guards.max_quarantined_share = -0.5: expected a number (a share) from 0 to 1",
        'time.timezone = "Mars/Olympus": expected a time zone of the tz database',
    ):
        assert said in message
    assert "\n" not in message


def _setting_of(key: str) -> str:
    """The declared setting a key of the file belongs to: itself, or the table-valued
    setting holding it (an entry of [loop.aliases.ecm_status])."""
    parts = key.split(".")
    return next(
        (
            ".".join(parts[:end])
            for end in range(len(parts), 0, -1)
            if ".".join(parts[:end]) in SETTINGS
        ),
        key,
    )


def test_every_key_of_the_packaged_file_is_declared_and_every_declaration_is_used():
    declared = {key.replace("populations.*.", "") for key in SETTINGS}
    in_file = {
        key.split(".", 2)[2] if key.startswith("populations.") else _setting_of(key)
        for key in leaf_keys()
    }
    population_keys = {key for p in POPULATIONS.values() for key in p.settings} | {
        "title",
        "required_feeds",
        "partial_feeds",
        "lookback_months",
    }
    assert in_file - {"lookback_months"} <= declared
    assert declared <= in_file | population_keys


def test_every_key_is_documented_in_docs_populations():
    docs = (DEFAULT_RULES_FILE.parents[1] / "docs" / "POPULATIONS.md").read_text()
    section = docs[docs.index("## The rules file is checked whole") :]
    missing = [
        key
        for key in SETTINGS
        if f"`{key.replace('populations.*.', 'populations.CODE.')}`" not in section
    ]
    assert missing == []


# --- [loop.aliases.<column>]: aliases of the values the providers' files deliver ------------


def test_every_column_the_contracts_alias_has_its_table_in_the_packaged_file():
    aliases = DEFAULT_DATA["loop"]["aliases"]
    assert set(aliases) == {
        "ecm_status",
        "discontinuation_reason_code",
        "referral_status",
        "referral_closure_reason",
        "method",
        "successful",
        "program",
    }
    assert aliases["ecm_status"]["E"] == "enrolled"


@pytest.mark.parametrize(
    ("column", "aliases", "said"),
    [
        (
            "ecm_status",
            {"E": "enroled"},
            'loop.aliases.ecm_status."E" = "enroled": expected one of: enrolled, pending, '
            'declined, unable_to_reach, discontinued, not_eligible (did you mean "enrolled"?)',
        ),
        (
            "discontinuation_reason_code",
            {"Well Managed": "wm"},
            'loop.aliases.discontinuation_reason_code."Well Managed" = "wm": expected one of: '
            "WM, SC,",
        ),
        (
            "successful",
            {"Reached": "yes"},
            'loop.aliases.successful."Reached" = "yes": expected one of: Y, N',
        ),
        ("method", {"Phone": 1}, 'loop.aliases.method."Phone" = 1: expected one of: in_person'),
        (
            "ecm_status",
            {"Declined": "enrolled"},
            'loop.aliases.ecm_status."Declined" = "enrolled": the key is an allowed value itself',
        ),
        (
            "referral_status",
            {"O": "open", " o ": "open"},
            'loop.aliases.referral_status." o " = "open": the key is "O" again (keys are '
            "compared trimmed and in any case)",
        ),
        ("method", {" ": "phone"}, 'loop.aliases.method." " = "phone": expected a delivered value'),
        (
            "method",
            "phone",
            'loop.aliases.method = "phone": expected a table of the values of outreach.method '
            "as delivered, each = one of: in_person, phone, video, text, email, mail",
        ),
    ],
)
def test_a_value_alias_must_stand_for_an_allowed_value(tmp_path, column, aliases, said):
    assert said in rules_error(rules_file_with(tmp_path, f"loop.aliases.{column}", aliases))


def test_every_alias_table_is_present_and_no_other_is_accepted(tmp_path):
    missing = rules_error(rules_file_with(tmp_path / "a", "loop.aliases.method", REMOVED))
    assert "loop.aliases.method is missing: expected a table of the values of outreach.method" in (
        missing
    )
    other = rules_error(rules_file_with(tmp_path / "b", "loop.aliases.program_code", {"X": "y"}))
    assert "[loop.aliases.program_code] is not a table of [loop.aliases] (it holds X)" in other


def test_an_empty_alias_table_and_aliases_of_any_case_are_accepted(tmp_path):
    path = rules_file_with(tmp_path, "loop.aliases.method", {"TEL": "phone", "Fax": "mail"})
    assert load_rules(path).setting("loop.aliases.method") == {"TEL": "phone", "Fax": "mail"}
    load_rules(rules_file_with(tmp_path / "empty", "loop.aliases.ecm_status", {}))
