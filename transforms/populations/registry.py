"""Every population of focus, collected from the modules that declare them.

The one list the wiring loops over (ecm.shards.evaluate.assign_populations), the rules file
is checked against (ecm.config.rules.load_rules), `ecm explain` asks why not
(ecm.deliver.explain), and the feeds' `affects` are derived from (`populations_reading`).
Every module of this package that declares `POPULATIONS` is collected: a new population
is a `Population` in its module's `POPULATIONS`, with no list to add it to.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Iterable, Mapping
from types import ModuleType

import transforms.populations as _package
from transforms.populations import Population


def _declaring_modules() -> tuple[ModuleType, ...]:
    """The modules of transforms.populations that declare `POPULATIONS`, by name."""
    modules = (
        importlib.import_module(f"{_package.__name__}.{info.name}")
        for info in sorted(pkgutil.iter_modules(_package.__path__), key=lambda i: i.name)
        if info.name != "registry"
    )
    return tuple(module for module in modules if hasattr(module, "POPULATIONS"))


POPULATION_MODULES = _declaring_modules()


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


def populations_reading(
    feed: str, populations: Mapping[str, Population] = POPULATIONS
) -> tuple[str, ...]:
    """The codes of the populations whose rules read `feed` (their `feeds`), sorted: the
    populations a feed affects, derived here and declared nowhere else."""
    return tuple(code for code, population in populations.items() if feed in population.feeds)
