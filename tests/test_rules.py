"""The rules file is checked up front against the settings of the code and the populations
it registers: a missing or mistyped key is a RulesError naming the file, the key and what
was expected (never a KeyError half-way through a run)."""

from __future__ import annotations

import re

import pytest

from ecm.errors import RulesError
from ecm.paths import DEFAULT_RULES_FILE
from ecm.rules import has_type, load_rules
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
    assert "populations.SMI_SUD_CHILD.min_mh_sud_dx_dates = '2' is not an integer" in message


@pytest.mark.parametrize(
    ("code", "old", "new", "expected"),
    [
        # a boolean is not an integer, though Python says True == 1
        ("SMI_SUD_ADULT", "min_acute_care_events = 2", "min_acute_care_events = true", "integer"),
        (
            "HIGH_UTIL_CHILD",
            "min_avoidable_ed_visits = 3",
            'min_avoidable_ed_visits = "3"',
            "a number",
        ),
        ("BIRTH_EQUITY_ADULT", 'age_group = "adult"', "age_group = 21", "a string"),
        (
            "BIRTH_EQUITY_CHILD",
            'races = ["black or african american",',
            "races = [1,",
            "list of strings",
        ),
        (
            "HOMELESS_FAMILY",
            "required_feeds = []",
            'required_feeds = "homelessness"',
            "list of strings",
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
    assert message.count("time.pregnancy_carryover_months is missing; expected an integer") == 1


@pytest.mark.parametrize(
    ("old", "new", "named"),
    [
        ("lookback_months = 12", 'lookback_months = "12"', "time.lookback_months = '12'"),
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


def test_a_population_declaring_a_setting_not_in_the_file():
    def rule(pof_code, members, *, age_group, min_visits):
        raise AssertionError("not called")

    wider = collect(
        [
            *(p for code, p in POPULATIONS.items() if code != "HIGH_UTIL_ADULT"),
            Population(
                "HIGH_UTIL_ADULT",
                rule,
                reads=("members",),
                settings={"age_group": str, "min_visits": int},
            ),
        ]
    )
    with pytest.raises(RulesError, match=r"HIGH_UTIL_ADULT\.min_visits is missing"):
        load_rules(None, wider)
