"""The population registry: every population declared beside its rule, once, and each
declaration matching the rule it names."""

from __future__ import annotations

import importlib
import pkgutil
from typing import get_args, get_origin

import polars as pl
import pytest

import transforms.populations as populations_package
from transforms.populations import Population, PopulationResult
from transforms.populations.registry import POPULATION_MODULES, POPULATIONS, collect

SETTING_TYPES = (int, float, str, bool)


def declaring_modules():
    """The modules of the package that declare `POPULATIONS`, found by walking it."""
    for info in pkgutil.iter_modules(populations_package.__path__):
        module = importlib.import_module(f"{populations_package.__name__}.{info.name}")
        if info.name != "registry" and hasattr(module, "POPULATIONS"):
            yield module


def test_every_declaring_module_is_collected():
    assert {m.__name__ for m in declaring_modules()} == {m.__name__ for m in POPULATION_MODULES}


def test_the_registry_holds_every_declared_population_by_its_code():
    declared = [p for module in POPULATION_MODULES for p in module.POPULATIONS]
    assert len(POPULATIONS) == len(declared) == 14
    assert all(POPULATIONS[p.code] is p for p in declared)
    assert list(POPULATIONS) == sorted(POPULATIONS)


def test_a_code_declared_twice_is_refused():
    high_util = POPULATIONS["HIGH_UTIL_ADULT"]
    with pytest.raises(ValueError, match="HIGH_UTIL_ADULT is declared twice"):
        collect([high_util, high_util])


@pytest.mark.parametrize("code", list(POPULATIONS))
def test_declared_setting_types_are_ones_the_rules_check_knows(code):
    population = POPULATIONS[code]
    kinds = [*population.settings.values(), *(k for _, k in population.shared_settings.values())]
    for kind in kinds:
        if get_origin(kind) is list:
            assert get_args(kind) == (str,)
        else:
            assert kind in SETTING_TYPES


def test_only_rules_counting_raw_events_name_their_own_lookback():
    """The shared criteria are windowed once per run: a rule reading them cannot have its
    own lookback (populations.md, "Time")."""
    own = {code for code, p in POPULATIONS.items() if p.has_own_lookback}
    assert own == {"HIGH_UTIL_ADULT", "HIGH_UTIL_CHILD"}
    assert all("criteria" not in POPULATIONS[code].reads for code in own)


def _rule(pof_code: str, members: pl.LazyFrame, *, age_group: str) -> PopulationResult:
    del pof_code, members, age_group
    return PopulationResult.empty()


def test_a_declaration_matching_its_rule_is_accepted():
    population = Population("X", _rule, reads=("members",), settings={"age_group": str})
    assert population.rule is _rule


@pytest.mark.parametrize(
    ("reads", "settings", "named"),
    [
        ((), {"age_group": str}, "parameters not declared ['members']"),
        (("members",), {}, "parameters not declared ['age_group']"),
        (("members", "stays"), {"age_group": str}, "not parameters ['stays']"),
        (("members",), {"age_group": str, "races": list[str]}, "not parameters ['races']"),
        (("members", "members"), {"age_group": str}, "declared twice ['members']"),
    ],
)
def test_a_declaration_not_matching_its_rule_is_refused(reads, settings, named):
    with pytest.raises(TypeError, match=r"Population X: .*" + named.replace("[", r"\[")):
        Population("X", _rule, reads=reads, settings=settings)


def test_a_rule_parameter_with_a_default_need_not_be_declared():
    def rule(pof_code, members, *, age_group, note="default"):
        del pof_code, members, age_group, note
        return PopulationResult.empty()

    Population("X", rule, reads=("members",), settings={"age_group": str})


@pytest.mark.parametrize("code", list(POPULATIONS))
def test_every_population_says_why_not_and_which_feeds_it_reads(code):
    population = POPULATIONS[code]
    assert population.why_not is not None
    assert population.why_not.__module__ == population.rule.__module__  # beside its rule
    assert population.feeds and "eligibility" in population.feeds  # every rule reads members


def test_a_feed_declared_twice_is_refused():
    with pytest.raises(TypeError, match="Population X: a feed is declared twice"):
        Population("X", _rule, reads=("members",), settings={"age_group": str}, feeds=("a", "a"))


def test_the_registry_collects_every_module_of_the_package_without_a_list():
    """A new population module is collected by being in the package: the registry names
    no module (issue #15: a population is its module and its rules block)."""
    import inspect

    from transforms.populations import registry

    source = inspect.getsource(registry)
    assert not any(f"{m.__name__.rsplit('.', 1)[1]}," in source for m in POPULATION_MODULES)
