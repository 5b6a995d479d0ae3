"""Population of focus rules. Each rule returns a `PopulationResult`: who qualifies (with
`qualifying_date`), the facts behind it, and what its one-line `evidence_summary` says
(rendered once for every population by `evidence_summaries`, in the words of
reference/evidence_phrases.toml).

Each population module declares its populations beside their rules, as `POPULATIONS`: a
tuple of `Population` records (code, rule, the settings it reads from its block of the
rules file, the inputs it reads, the feeds those come from, and the function that says
why a member does not hold it). `transforms.populations.registry` collects them from every
module of this package; the wiring (ecm.shards.evaluate) loops over that registry, the
rules file is checked against it (ecm.config.rules), `ecm explain` asks it why not
(ecm.deliver.explain), and which populations a feed affects is derived from it. A rule
never reads the rules file: it receives its inputs and settings as parameters of the same
names.

A new population is its module here (its rule and its `Population`) and its
`[populations.CODE]` block of the rules file (docs/POPULATIONS.md, "Adding a population").
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import GenericAlias
from typing import Any

import polars as pl

# The types a setting may be declared with: int, float (an integer is a number too), str,
# bool, list[str].
SettingType = type | GenericAlias
# What a population's "why not" reads: the member's member_metrics row, the population's
# block of the run's rules file, and the whole rules file (None: not readable, or changed
# since the run; then the text names no threshold). It returns one line, e.g.
# "4 of 5 avoidable ED visits (the 5th would qualify); 0 of 3 avoidable unplanned stays".
WhyNot = Callable[[Mapping[str, Any], Mapping[str, Any], Mapping[str, Any] | None], str]


@dataclass(frozen=True)
class Population:
    """One population of focus as the wiring sees it.

    - `rule(pof_code, **reads, **settings, **shared_settings)` computes it.
    - `settings`: keys of its `[populations.CODE]` block, each passed to the rule as the
      parameter of the same name, with the type the rules file must give it.
    - `reads`: the run's inputs the rule takes, by parameter name (the fields of
      ecm.shards.evaluate's `Events`, e.g. `members`, `ed_visits`, `criteria`; the inputs
      of ecm.warehouse.inputs by name, e.g. `eligibility`, `nursing_facility_assessment`;
      and `as_of`, `window` (its lookback), `long_window`).
    - `shared_settings`: rule parameter -> (dotted setting elsewhere in the rules file, type),
      for settings several populations share (`time.adult_min_age`).
    - `has_own_lookback`: its block may set `lookback_months`, overriding
      `time.lookback_months` for its `window` (populations.md, "Time"). Only for rules that
      count raw events in their window: the shared criteria are built over
      `time.lookback_months` once per run, so a rule reading them cannot have another.
    - `feeds`: the feeds (data_contracts) its rule reads, directly or through the events
      and criteria, e.g. ("eligibility", "medical_claim", "incarceration"). A contract's
      `affects` is derived from these (registry.populations_reading).
    - `why_not(metrics_row, block, rules)`: one line on how close a member who does not
      hold it came, part by part (`WhyNot`; `ecm explain`); the rule's logic in words, so
      it sits beside the rule. None: "not held".

    The declaration is checked against the rule's signature when it is made: every
    parameter without a default is declared, and every name declared is a parameter.
    """

    code: str
    rule: Callable[..., PopulationResult]
    reads: tuple[str, ...] = ()
    settings: Mapping[str, SettingType] = field(default_factory=dict)
    shared_settings: Mapping[str, tuple[str, SettingType]] = field(default_factory=dict)
    has_own_lookback: bool = False
    feeds: tuple[str, ...] = ()
    why_not: WhyNot | None = None

    def __post_init__(self) -> None:
        if len(set(self.feeds)) != len(self.feeds):
            raise TypeError(f"Population {self.code}: a feed is declared twice in {self.feeds}.")
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
# What an evidence summary says of one criterion: its count (a count rule's count, else
# its facts), first and last date, and the latest fact's code; `slot`, the part of the
# rule it meets (0 when the rule has one part; see `evidence_summaries`).
SUMMARY_PART_SCHEMA = {
    "member_id": pl.String,
    "pof_code": pl.String,
    "slot": pl.Int32,
    "criterion": pl.String,
    "n": pl.Float64,
    "first_date": pl.Date,
    "last_date": pl.Date,
    "code": pl.String,
}
# The phrases of the summaries (reference/evidence_phrases.toml, read by ecm.config.reference):
# one row per criterion, `rank` its position in the file (most decisive first).
PHRASE_SCHEMA = {"criterion": pl.String, "one": pl.String, "many": pl.String, "rank": pl.Int32}
# A summary names at most this many criteria (the evidence file keeps the rest).
SUMMARY_MAX_PARTS = 3


@dataclass(frozen=True)
class PopulationResult:
    """Qualified members (one row per member × population: member_id, pof_code,
    qualifying_date), their evidence rows (one row per member × population × supporting
    fact) and what their evidence summaries say (`summary_parts`, one row per member ×
    population × criterion; None: every criterion of the evidence, see `fact_parts`)."""

    qualified: pl.LazyFrame
    evidence: pl.LazyFrame
    summary_parts: pl.LazyFrame | None = None

    def parts(self) -> pl.LazyFrame:
        parts = fact_parts(self.evidence) if self.summary_parts is None else self.summary_parts
        return parts.select(list(SUMMARY_PART_SCHEMA)).cast(SUMMARY_PART_SCHEMA)

    @staticmethod
    def empty() -> PopulationResult:
        return PopulationResult(
            pl.LazyFrame(schema=QUALIFIED_SCHEMA),
            pl.LazyFrame(schema=EVIDENCE_SCHEMA),
            pl.LazyFrame(schema=SUMMARY_PART_SCHEMA),
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
            pl.concat([r.parts() for r in results]),
        )


def fact_parts(facts: pl.LazyFrame, slot: int = 0) -> pl.LazyFrame:
    """What a summary says of each criterion of `facts` (evidence rows): how many distinct
    facts, their first and last date, the latest one's code. Grain: member × pof ×
    criterion."""
    return facts.group_by("member_id", "pof_code", "criterion").agg(
        pl.lit(slot, dtype=pl.Int32).alias("slot"),
        pl.struct("source_key", "event_date", "code").n_unique().cast(pl.Float64).alias("n"),
        pl.col("event_date").min().alias("first_date"),
        pl.col("event_date").max().alias("last_date"),
        pl.col("code").sort_by("event_date", "code", nulls_last=False).last().alias("code"),
    )


def count_parts(counted: pl.LazyFrame, pof_code: str, criterion: str) -> pl.LazyFrame:
    """Summary parts of a count rule from `threshold_reached` (count, first_date,
    last_date): the count that met the threshold and its date range."""
    return counted.select(
        "member_id",
        pl.lit(pof_code).alias("pof_code"),
        pl.lit(0, dtype=pl.Int32).alias("slot"),
        pl.lit(criterion).alias("criterion"),
        pl.col("count").alias("n"),
        "first_date",
        "last_date",
        pl.lit(None, dtype=pl.String).alias("code"),
    )


def _count_text(count: pl.Expr) -> pl.Expr:
    """A count as text: whole numbers without decimals, fractions with two."""
    return (
        pl.when(count == count.round(0))
        .then(count.round(0).cast(pl.Int64).cast(pl.String))
        .otherwise(count.round(2).cast(pl.String))
    )


def evidence_summaries(parts: pl.LazyFrame, phrases: pl.DataFrame) -> pl.LazyFrame:
    """One line per member × population in a care manager's words, from the summary parts
    and the phrases (reference/evidence_phrases.toml): at most SUMMARY_MAX_PARTS
    criteria, `; `-joined. Order: the most decisive criterion (the first in the phrases'
    order) of each part of the rule (`slot`: SMI/SUD diagnosis, complex social factor,
    acute need), in the rule's order; then the next of each; so a three-part rule shows
    one fact of every part. E.g.
    `5 avoidable ED visits 2025-11-03..2026-08-08`, `released from county jail
    2026-04-02; SUD diagnosis`. A criterion without a phrase reads as its name.
    Grain: member × pof."""
    day = "%Y-%m-%d"
    first = pl.col("first_date").dt.to_string(day)
    last = pl.col("last_date").dt.to_string(day)
    dates = pl.when(first == last).then(last).otherwise(pl.format("{}..{}", first, last))
    template = (
        pl.when(pl.col("n") == 1)
        .then(pl.col("one"))
        .otherwise(pl.col("many"))
        .fill_null(pl.concat_str(pl.col("criterion"), pl.lit(" {n} {dates}")))
    )
    text = (
        template.str.replace_all("{n}", _count_text(pl.col("n")), literal=True)
        .str.replace_all("{dates}", dates, literal=True)
        .str.replace_all("{latest}", last, literal=True)
        .str.replace_all("{first}", first, literal=True)
        .str.replace_all(
            "{code}", pl.col("code").fill_null("").str.replace_all("_", " "), literal=True
        )
    )
    return (
        parts.join(phrases.lazy().cast(PHRASE_SCHEMA), on="criterion", how="left")
        .with_columns(text.alias("part"), pl.col("rank").fill_null(pl.Int32.max()))
        .with_columns(
            pl.struct("rank", "criterion")
            .rank("dense")
            .over("member_id", "pof_code", "slot")
            .alias("place_in_slot")
        )
        .group_by("member_id", "pof_code")
        .agg(
            pl.col("part")
            .sort_by("place_in_slot", "slot", "rank", "criterion")
            .unique(maintain_order=True)  # a fact meeting two parts is named once
            .head(SUMMARY_MAX_PARTS)
            .str.join("; ")
            .alias("evidence_summary")
        )
    )


def with_evidence_summaries(result: PopulationResult, phrases: pl.DataFrame) -> pl.LazyFrame:
    """The qualified members of `result` with their `evidence_summary`."""
    return result.qualified.join(
        evidence_summaries(result.parts(), phrases), on=["member_id", "pof_code"], how="left"
    )


def qualify_by_facts(
    pof_code: str, qualifying: pl.LazyFrame, facts: pl.LazyFrame | list[pl.LazyFrame]
) -> PopulationResult:
    """Members in `qualifying` (member_id) hold `pof_code`; their `facts` are the evidence
    and their summary names the criteria of them (`fact_parts`). `facts` may be a list, one
    frame per part of the rule in its order (a diagnosis, a social factor, an acute need):
    the summary then names the most decisive fact of each part first.

    `qualifying_date` is the latest date among the facts that met the rule
    (populations.md, "What each assignment carries").
    """
    members = qualifying.select("member_id").unique()
    slots = [
        frame.join(members, on="member_id", how="semi").with_columns(
            pl.lit(pof_code).alias("pof_code")
        )
        for frame in (facts if isinstance(facts, list) else [facts])
    ]
    evidence = pl.concat(slots)
    qualified = evidence.group_by("member_id", "pof_code").agg(
        pl.col("event_date").max().alias("qualifying_date")
    )
    parts = pl.concat([fact_parts(frame, slot) for slot, frame in enumerate(slots)])
    return PopulationResult(qualified, evidence, parts)
