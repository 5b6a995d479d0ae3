"""The high-utiliser rules end to end through ingest, events and assignment (no Prefect)."""

import datetime as dt
from dataclasses import replace

import duckdb
import polars as pl
import pytest

from data_contracts import load_contract
from ecm.config.dates import RunDates
from ecm.config.rules import load_rules
from ecm.errors import RulesError
from ecm.ingest import ingest
from ecm.shards.evaluate import (
    METHOD_INPUTS,
    apply_rule,
    assign_populations,
    build_events,
    inputs_needed,
    population_window,
    read_inputs,
    rule_inputs,
)
from ecm.warehouse.inputs import all_input_selects, input_selects
from tests.story import AS_OF, EXPECTED, write_story
from transforms.populations import Population, PopulationResult
from transforms.populations.registry import POPULATIONS, collect


@pytest.fixture(scope="module")
def story_events(tmp_path_factory, rules, ref):
    """The story's inputs and events, built once under the packaged rules."""
    folder = write_story(tmp_path_factory.mktemp("story") / "feeds")
    with duckdb.connect() as con:
        result = ingest(con, folder, rules, tmp_path_factory.mktemp("work"))
        inputs = read_inputs(con, frozenset(result.feeds), RunDates.of(rules, AS_OF).history_start)
    return inputs, build_events(inputs, ref, rules, RunDates.of(rules, AS_OF))


@pytest.fixture(scope="module")
def story_run(story_events, rules):
    inputs, events = story_events
    return events, assign_populations(events, inputs, rules)


def test_exactly_the_expected_members_qualify(story_run):
    _, result = story_run
    got = set(result.assignments.select("member_id", "pof_code").iter_rows())
    assert got == EXPECTED


def test_metrics_show_why_near_misses_miss(story_run):
    _, result = story_run
    m = {r["member_id"]: r for r in result.member_metrics.to_dicts()}
    assert m["B"]["avoidable_ed_visits_12m"] == 4  # one visit voided
    assert m["C"]["avoidable_ed_visits_12m"] == 4  # one visit belongs to the stay
    assert m["C"]["acute_stays_12m"] == 1
    assert m["H"]["ed_visits_12m"] == 3
    assert m["H"]["avoidable_ed_visits_12m"] == 2  # U07.1 is unclassified
    assert m["J"]["unplanned_stays_12m"] == 2  # transfer chain is one stay
    assert m["K"]["unplanned_stays_12m"] == 3  # the elective stay is planned
    assert m["K"]["acute_stays_12m"] == 4
    assert m["L"]["avoidable_ed_visits_12m"] == 4  # the first visit is a day early
    assert m["T"]["age_group"] == "adult"
    assert m["NOCLAIMS"]["ed_visits_12m"] == 0
    assert "E" not in m and "F" not in m  # dead or disenrolled on the as-of date


def test_qualifying_dates_and_evidence(story_run):
    _, result = story_run
    a = {(r["member_id"], r["pof_code"]): r for r in result.assignments.to_dicts()}
    assert a[("A", "HIGH_UTIL_ADULT")]["qualifying_date"] == AS_OF  # the 5th visit is on D
    assert a[("A", "HIGH_UTIL_ADULT")]["evidence_summary"] == (
        "5 avoidable ED visits 2025-11-01..2026-10-31"
    )
    assert a[("K", "HIGH_UTIL_ADULT")]["qualifying_date"].isoformat() == "2026-07-01"
    evidence = result.evidence.filter(pl.col("member_id") == "I")
    assert evidence.height == 5
    assert "I-ed1" in evidence["source_key"].to_list()
    g = result.evidence.filter(pl.col("member_id") == "G")
    assert "R519" in g["code"].to_list()


def test_output_grains_are_unique(story_run):
    _, result = story_run
    assert result.assignments.select("member_id", "pof_code").is_duplicated().sum() == 0
    assert result.member_metrics["member_id"].is_duplicated().sum() == 0
    assert result.evidence.is_duplicated().sum() == 0


def test_outputs_are_sorted_by_member_then_population(story_run):
    _, result = story_run
    keys = result.assignments.select("member_id", "pof_code")
    assert keys.equals(keys.sort("member_id", "pof_code"))


def rules_with(tmp_path, old: str, new: str):
    from ecm.config.paths import DEFAULT_RULES_FILE

    text = DEFAULT_RULES_FILE.read_text()
    assert old in text
    path = tmp_path / "rules.toml"
    path.write_text(text.replace(old, new, 1))
    return load_rules(path)


def test_cms_planned_method_end_to_end(tmp_path, ref):
    rules = rules_with(tmp_path, 'unplanned_stay = "admit_type"', 'unplanned_stay = "cms_planned"')
    folder = write_story(tmp_path / "feeds")
    with duckdb.connect() as con:
        result = ingest(con, folder, rules, tmp_path / "work")
        inputs = read_inputs(
            con, frozenset(result.feeds), RunDates.of(rules, AS_OF).history_start, rules=rules
        )
    events = build_events(inputs, ref, rules, RunDates.of(rules, AS_OF))
    m = {
        r["member_id"]: r
        for r in assign_populations(events, inputs, rules).member_metrics.to_dicts()
    }
    # K's elective pneumonia stay (admit type 3) has no planned procedure: CMS calls it
    # unplanned, where the admit_type method called it planned.
    assert m["K"]["unplanned_stays_12m"] == 4
    assert m["J"]["unplanned_stays_12m"] == 2


def test_an_unknown_method_is_a_rules_error(tmp_path):
    from ecm.errors import RulesError

    with pytest.raises(RulesError, match=r'methods\.avoidable_ed = "nyu_magic": expected one of'):
        rules_with(tmp_path, 'avoidable_ed = "nyu_threshold"', 'avoidable_ed = "nyu_magic"')


def test_the_method_decides_which_optional_inputs_are_read(tmp_path, rules):
    assert inputs_needed(rules) == frozenset()
    cms = rules_with(tmp_path, 'unplanned_stay = "admit_type"', 'unplanned_stay = "cms_planned"')
    assert inputs_needed(cms) == {"procedures"}


def test_without_the_method_no_procedures_are_read(story_events):
    inputs, _ = story_events
    assert inputs.get("procedures") is None


SIX_MONTHS_FOR_ADULTS = (
    "min_avoidable_ed_visits = 5\n",
    "min_avoidable_ed_visits = 5\nlookback_months = 6\n",
)


def test_a_population_may_name_its_own_lookback(tmp_path, rules):
    """populations.md, "Time": the DHCS Policy Guide's 6 months for adult high utilisers
    is one setting; the children's window and every other population's stay at 12."""
    six = rules_with(tmp_path, *SIX_MONTHS_FOR_ADULTS)
    seven_months_back = dt.date(2026, 3, 31)
    adult, child = POPULATIONS["HIGH_UTIL_ADULT"], POPULATIONS["HIGH_UTIL_CHILD"]

    def holds(window, day):
        return pl.select(window.contains(pl.lit(day))).item()

    assert holds(population_window(adult, rules, RunDates.of(rules, AS_OF)), seven_months_back)
    assert not holds(population_window(adult, six, RunDates.of(six, AS_OF)), seven_months_back)
    assert population_window(adult, six, RunDates.of(six, AS_OF)).start == dt.date(2026, 5, 1)
    assert population_window(child, six, RunDates.of(six, AS_OF)) == population_window(
        child, rules, RunDates.of(rules, AS_OF)
    )


def test_a_six_month_lookback_changes_who_qualifies(tmp_path, story_events, story_run):
    """A, G, I (5 visits) and K (3 stays) spread their events over 12 months: over 6 none
    of them reaches the threshold; CH3 (a child) still qualifies over 12."""
    inputs, events = story_events
    six = rules_with(tmp_path, *SIX_MONTHS_FOR_ADULTS)
    result = assign_populations(events, inputs, six)
    got = set(result.assignments.select("member_id", "pof_code").iter_rows())
    assert got == {("CH3", "HIGH_UTIL_CHILD")}
    # member_metrics count over the run's lookback, whatever a population names
    _, default = story_run
    assert result.member_metrics.equals(default.member_metrics)


def test_each_rule_receives_exactly_the_inputs_it_declares(story_events, rules):
    inputs, events = story_events
    for population in POPULATIONS.values():
        given = rule_inputs(population, events, inputs, rules)
        assert set(given) == set(population.reads), population.code
        frames = [v for v in given.values() if isinstance(v, pl.DataFrame)]
        assert not frames, population.code  # frames go to rules as lazy frames


def test_a_rule_can_read_an_extra_input_by_name(story_events, rules):
    """The HOMELESS_FAMILY change reads every eligibility row, enrolled on D or not: a
    rule names the input (an `Inputs` field) and receives it."""
    inputs, events = story_events

    def every_eligibility_member(pof_code, eligibility, *, age_group):
        del age_group
        ids = eligibility.select("member_id").unique()
        return PopulationResult(
            ids.with_columns(pl.lit(pof_code).alias("pof_code")), PopulationResult.empty().evidence
        )

    population = Population(
        "HIGH_UTIL_ADULT",
        every_eligibility_member,
        reads=("eligibility",),
        settings={"age_group": str},
    )
    got = apply_rule(population, events, inputs, rules).qualified.collect()
    enrolled = set(events.members["member_id"])
    assert {"E", "F"} <= set(got["member_id"]) - enrolled  # dead, disenrolled: still read


def test_a_read_the_run_does_not_provide_is_a_rules_error(story_events, rules):
    inputs, events = story_events

    def rule(pof_code, pharmacy_claims):
        del pof_code, pharmacy_claims
        return PopulationResult.empty()

    population = Population("X", rule, reads=("pharmacy_claims",))
    with pytest.raises(RulesError, match=r"Population X reads \['pharmacy_claims'\]"):
        rule_inputs(population, events, inputs, rules)


def test_assignment_loops_over_the_registry_it_is_given(story_events, rules):
    """Leaving a population out of the registry leaves it out of the run."""
    inputs, events = story_events
    without = collect(p for code, p in POPULATIONS.items() if code != "HIGH_UTIL_CHILD")
    result = assign_populations(events, inputs, rules, without)
    assert "HIGH_UTIL_CHILD" not in set(result.assignments["pof_code"])
    assert "HIGH_UTIL_CHILD" not in result.population_status
    assert set(result.assignments["pof_code"]) == {"HIGH_UTIL_ADULT"}


def test_a_setting_missing_after_loading_is_a_rules_error_not_a_key_error(story_events, rules):
    """load_rules checks the blocks; a Rules built around it still never raises KeyError."""
    inputs, events = story_events
    data = {**rules.data, "populations": {**rules.data["populations"]}}
    data["populations"]["JUSTICE_CHILD"] = {
        k: v for k, v in data["populations"]["JUSTICE_CHILD"].items() if k != "age_group"
    }
    broken = replace(rules, data=data)
    with pytest.raises(RulesError, match=r"populations\.JUSTICE_CHILD\.age_group"):
        apply_rule(POPULATIONS["JUSTICE_CHILD"], events, inputs, broken)


def test_a_population_reads_inputs_only_of_the_feeds_it_declares():
    """An input a rule reads (ecm.warehouse.inputs: a contract's `read_columns`, the claims'
    lines and diagnoses) comes from a feed the population declares reading, so the feed's
    `affects` (derived from Population.feeds) holds it."""
    selects = all_input_selects()
    for population in POPULATIONS.values():
        for name in population.reads:
            if name in selects:
                assert selects[name].feed in population.feeds, (population.code, name)
            if name in ("members", "unenrolled_children"):
                assert "eligibility" in population.feeds, population.code
            if name in ("ed_visits", "stays"):
                assert "medical_claim" in population.feeds, population.code


def test_the_inputs_are_the_selects_of_the_contracts(story_events):
    """Inputs has no field per feed: its frames are the selects of ecm.warehouse.inputs,
    each with the columns its contract reads."""
    inputs, _ = story_events
    assert set(inputs.frames) == set(input_selects())
    for name, select in input_selects().items():
        if select.feed != "medical_claim":
            contract = load_contract(name)
            assert inputs[name].collect_schema().names() == list(contract.read_columns), name
    claims = load_contract("medical_claim").read_columns
    assert inputs["claim_lines"].collect_schema().names() == list(claims)
    assert set(input_selects(frozenset({"procedures"}))) - set(input_selects()) == {"procedures"}
    on_demand = {name for name, s in all_input_selects().items() if s.on_demand}
    assert {name for names in METHOD_INPUTS.values() for name in names} == on_demand


def test_rules_files_over_the_same_events_share_the_populations_they_do_not_change(
    tmp_path, story_events, story_run, rules, monkeypatch
):
    """`ecm diff` (ecm.shards.run.run_shard_each): a second rules file over the same events
    evaluates only the populations whose rule is given something else (here the 6-month
    adult high utilisers), reads the others' rows, and its outputs equal its own run's."""
    from ecm.shards import evaluate

    inputs, events = story_events
    six = rules_with(tmp_path, *SIX_MONTHS_FOR_ADULTS)
    alone = assign_populations(events, inputs, six)
    evaluated = []
    real = evaluate.apply_rule

    def counted(population, *args):
        evaluated.append(population.code)
        return real(population, *args)

    monkeypatch.setattr(evaluate, "apply_rule", counted)
    known = {}
    first = assign_populations(events, inputs, rules, known=known)
    every = list(evaluated)
    assert len(every) > 1
    assert len(known) == len(every)
    evaluated.clear()
    second = assign_populations(events, inputs, six, known=known)
    assert evaluated == ["HIGH_UTIL_ADULT"]
    _, default = story_run
    for got, want in ((first, default), (second, alone)):
        for name in ("assignments", "evidence", "primary_care"):
            frame = getattr(got, name)
            assert frame.sort(frame.columns).equals(getattr(want, name).sort(frame.columns)), name
    # the changed population's rows are its own under each rules file
    assert set(second.assignments["pof_code"]) <= set(first.assignments["pof_code"])
    assert not second.assignments.equals(first.assignments)
