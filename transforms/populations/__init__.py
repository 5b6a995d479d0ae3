"""Population of focus rules. Each rule returns a `PopulationResult`: who qualifies (with
`qualifying_date` and a one-line `evidence_summary`) and the facts behind it.

Each population module declares its populations beside their rules, as `POPULATIONS`: a
tuple of `Population` records (code, rule, the settings it reads from its block of the
rules file, the inputs it reads). `transforms.populations.registry` collects them; the
wiring (ecm.pipeline) loops over that registry and the rules file is checked against it
(ecm.rules). A rule never reads the rules file: it receives its inputs and settings as
parameters of the same names.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import GenericAlias

import polars as pl

# The types a setting may be declared with: int, float (an integer is a number too), str,
# bool, list[str].
SettingType = type | GenericAlias


@dataclass(frozen=True)
class Population:
    """One population of focus as the wiring sees it.

    - `rule(pof_code, **reads, **settings, **shared_settings)` computes it.
    - `settings`: keys of its `[populations.CODE]` block, each passed to the rule as the
      parameter of the same name, with the type the rules file must give it.
    - `reads`: the run's inputs the rule takes, by parameter name (the fields of
      ecm.pipeline's `Events` and `Inputs`, e.g. `members`, `ed_visits`, `criteria`,
      `nursing_facility_assessment`; and `as_of`, `window` (its lookback), `long_window`).
    - `shared_settings`: rule parameter -> (dotted setting elsewhere in the rules file, type),
      for settings several populations share (`time.adult_min_age`).
    - `has_own_lookback`: its block may set `lookback_months`, overriding
      `time.lookback_months` for its `window` (populations.md, "Time"). Only for rules that
      count raw events in their window: the shared criteria are built over
      `time.lookback_months` once per run, so a rule reading them cannot have another.

    The declaration is checked against the rule's signature when it is made: every
    parameter without a default is declared, and every name declared is a parameter.
    """

    code: str
    rule: Callable[..., PopulationResult]
    reads: tuple[str, ...] = ()
    settings: Mapping[str, SettingType] = field(default_factory=dict)
    shared_settings: Mapping[str, tuple[str, SettingType]] = field(default_factory=dict)
    has_own_lookback: bool = False

    def __post_init__(self) -> None:
        parameters = inspect.signature(self.rule).parameters
        declared = ["pof_code", *self.reads, *self.settings, *self.shared_settings]
        duplicated = sorted({name for name in declared if declared.count(name) > 1})
        unknown = [name for name in declared if name not in parameters]
        undeclared = [
            name
            for name, parameter in parameters.items()
            if name not in declared and parameter.default is inspect.Parameter.empty
        ]
        if duplicated or unknown or undeclared:
            raise TypeError(
                f"Population {self.code}: the declaration does not match "
                f"{self.rule.__module__}.{self.rule.__name__}"
                f"{inspect.signature(self.rule)}: "
                f"declared twice {duplicated}, not parameters {unknown}, "
                f"parameters not declared {undeclared}."
            )


QUALIFIED_SCHEMA = {
    "member_id": pl.String,
    "pof_code": pl.String,
    "qualifying_date": pl.Date,
    "evidence_summary": pl.String,
}
EVIDENCE_SCHEMA = {
    "member_id": pl.String,
    "pof_code": pl.String,
    "criterion": pl.String,
    "source_feed": pl.String,
    "source_key": pl.String,
    "event_date": pl.Date,
    "code": pl.String,
}


@dataclass(frozen=True)
class PopulationResult:
    """Qualified members (one row per member × population) and their evidence rows
    (one row per member × population × supporting fact)."""

    qualified: pl.LazyFrame
    evidence: pl.LazyFrame

    @staticmethod
    def empty() -> PopulationResult:
        return PopulationResult(
            pl.LazyFrame(schema=QUALIFIED_SCHEMA), pl.LazyFrame(schema=EVIDENCE_SCHEMA)
        )

    @staticmethod
    def concat(results: list[PopulationResult]) -> PopulationResult:
        if not results:
            return PopulationResult.empty()
        return PopulationResult(
            pl.concat(
                [r.qualified.select(list(QUALIFIED_SCHEMA)).cast(QUALIFIED_SCHEMA) for r in results]
            ),
            pl.concat(
                [r.evidence.select(list(EVIDENCE_SCHEMA)).cast(EVIDENCE_SCHEMA) for r in results]
            ),
        )


def fact_summary(facts: pl.LazyFrame) -> pl.LazyFrame:
    """One line per member × population naming each criterion's facts:
    `ed_visit 3 2026-01-02..2026-05-01; smi_dx 1 2026-02-03`. Grain: member × pof."""
    per_criterion = (
        facts.group_by("member_id", "pof_code", "criterion")
        .agg(
            pl.len().alias("n"),
            pl.col("event_date").min().alias("first"),
            pl.col("event_date").max().alias("last"),
        )
        .with_columns(
            pl.when(pl.col("first") == pl.col("last"))
            .then(pl.format("{} {} {}", "criterion", "n", pl.col("first").dt.to_string("%Y-%m-%d")))
            .otherwise(
                pl.format(
                    "{} {} {}..{}",
                    "criterion",
                    "n",
                    pl.col("first").dt.to_string("%Y-%m-%d"),
                    pl.col("last").dt.to_string("%Y-%m-%d"),
                )
            )
            .alias("part")
        )
    )
    return per_criterion.group_by("member_id", "pof_code").agg(
        pl.col("part").sort().str.join("; ").alias("evidence_summary")
    )


def qualify_by_facts(
    pof_code: str, qualifying: pl.LazyFrame, facts: pl.LazyFrame
) -> PopulationResult:
    """Members in `qualifying` (member_id) hold `pof_code`; their `facts` are the evidence.

    `qualifying_date` is the latest date among the facts that met the rule
    (populations.md, "What each assignment carries").
    """
    evidence = facts.join(
        qualifying.select("member_id").unique(), on="member_id", how="semi"
    ).with_columns(pl.lit(pof_code).alias("pof_code"))
    qualified = (
        evidence.group_by("member_id", "pof_code")
        .agg(pl.col("event_date").max().alias("qualifying_date"))
        .join(fact_summary(evidence), on=["member_id", "pof_code"], how="left")
    )
    return PopulationResult(qualified, evidence)
