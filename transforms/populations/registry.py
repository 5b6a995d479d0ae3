"""Every population of focus, collected from the modules that declare them.

The one list the wiring loops over (ecm.shards.evaluate.assign_populations) and the rules file is
checked against (ecm.config.rules.load_rules). A new population is a `Population` in its module's
`POPULATIONS` and its module named here; a test fails when a module is left out.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from transforms.populations import (
    Population,
    behavioral,
    birth_equity,
    children,
    high_util,
    homeless,
    justice,
    long_term_care,
)

POPULATION_MODULES = (
    behavioral,
    birth_equity,
    children,
    high_util,
    homeless,
    justice,
    long_term_care,
)


def collect(populations: Iterable[Population]) -> Mapping[str, Population]:
    """The populations by code, sorted by code; a code declared twice is an error."""
    by_code: dict[str, Population] = {}
    for population in populations:
        if population.code in by_code:
            raise ValueError(f"Population {population.code} is declared twice.")
        by_code[population.code] = population
    return dict(sorted(by_code.items()))


POPULATIONS: Mapping[str, Population] = collect(
    population for module in POPULATION_MODULES for population in module.POPULATIONS
)
