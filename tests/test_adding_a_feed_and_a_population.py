"""What adding a partner feed and a population takes (issue #15: a feed is its contract and
its staging SQL, a population its module and its rules block).

A toy partner feed, `pantry_visit`, is two files written in a temporary folder: its
contract (beside a copy of the packaged contracts) and its staging model. Nothing else is
edited, and the feed takes its place in the feed order, is checked by its contract, staged
by its model, read as the run's input `pantry_visit`, written by the generator in its
contract's columns, and read by a toy population, PANTRY_ADULT: a `Population` (its rule,
the feeds it reads, its "why not") and a `[populations.PANTRY_ADULT]` block, which the rules
file check, the wiring and `ecm explain` take as they take the fourteen of the spec.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import duckdb
import polars as pl
import pytest

import data_contracts
from data_contracts import CONTRACT_DIR, feed_order, load_contracts
from data_contracts.sql import ELIGIBILITY_MEMBERS_SQL, checked_select
from ecm.config.dates import RunDates
from ecm.config.paths import DEFAULT_RULES_FILE
from ecm.config.rules import load_rules
from ecm.deliver.explain import why_not
from ecm.generate.feeds import PartnerFacts, partner_feeds, partner_frames
from ecm.ingest import ingest
from ecm.shards.evaluate import assign_populations, build_events, read_inputs
from ecm.warehouse.inputs import all_input_selects
from tests.story import AS_OF, write_story
from transforms.criteria import as_facts, row_key
from transforms.populations import Population, PopulationResult, qualify_by_facts
from transforms.populations.registry import POPULATIONS, collect, populations_reading
from transforms.windows import Window

FEED = "pantry_visit"
# File 1 of the feed: its contract.
CONTRACT = """
name = "pantry_visit"
required = false
order = 75
grain = "one row per food pantry visit"
grain_key = ["member_id", "visit_date"]
member_key = "member_id"
required_columns = ["member_id", "visit_date"]
optional_columns = ["pantry"]
read_columns = ["member_id", "visit_date", "_source_file", "_line"]

[columns.member_id]
not_null = true
[columns.visit_date]
type = "date"
not_null = true
"""
# File 2 of the feed: its staging model (rename, cast, normalise).
STAGING = """
with

source as (
    select * from checked__pantry_visit
),

final as (
    select * replace (ecm_text(member_id) as member_id, ecm_text(pantry) as pantry)
    from source
)

select * from final
"""
# The population's rules block.
RULES_BLOCK = """
[populations.PANTRY_ADULT]
title = "Adults seen at a food pantry"
age_group = "adult"
required_feeds = ["pantry_visit"]
partial_feeds = []
"""


# The population's module: its rule, its "why not" and its declaration.
def pantry_adult(
    pof_code: str, members: pl.LazyFrame, pantry_visit: pl.LazyFrame, window: Window, *, age_group
) -> PopulationResult:
    adults = members.filter(pl.col("age_group") == age_group).select("member_id")
    visits = as_facts(
        pantry_visit.filter(window.contains(pl.col("visit_date"))),
        criterion="pantry_visit",
        source_feed=FEED,
        source_key=row_key(),
        event_date="visit_date",
    )
    return qualify_by_facts(pof_code, adults.join(visits, on="member_id", how="semi"), visits)


def why_not_pantry_adult(_m, _block, _rules) -> str:
    return "no food pantry visit in the lookback"


PANTRY_ADULT = Population(
    "PANTRY_ADULT",
    pantry_adult,
    reads=("members", FEED, "window"),
    settings={"age_group": str},
    feeds=("eligibility", FEED),
    why_not=why_not_pantry_adult,
)


@pytest.fixture
def contracts_with_the_feed(tmp_path, monkeypatch) -> Path:
    """The packaged contracts and the new one, as the contracts folder."""
    folder = tmp_path / "data_contracts"
    shutil.copytree(CONTRACT_DIR, folder, ignore=shutil.ignore_patterns("*.py", "__pycache__"))
    (folder / f"{FEED}.toml").write_text(CONTRACT, encoding="utf-8")
    monkeypatch.setattr(data_contracts, "CONTRACT_DIR", folder)
    return folder


def test_the_feed_order_inputs_and_generator_take_a_new_contract(contracts_with_the_feed):
    assert FEED in feed_order()
    assert feed_order().index(FEED) == feed_order().index("homelessness") + 1
    select = all_input_selects()[FEED]
    assert (select.feed, select.sql) == (
        FEED,
        'select "member_id", "visit_date", "_source_file", "_line" from stg__pantry_visit',
    )
    assert FEED in partner_feeds()
    facts = PartnerFacts()
    facts.add(FEED, [0], visit_date=20_000, pantry="North")  # a persona recipe's row
    frame = partner_frames(facts, first=0)[FEED]
    assert frame.columns == ["member_id", "visit_date", "pantry"]
    assert frame.height == 1


def _stage_the_feed(con: duckdb.DuckDBPyConnection) -> None:
    """What the ingest does with a pantry_visit file: its raw rows checked by the contract
    (data_contracts.sql), staged by its model; the rows that pass are stg__pantry_visit."""
    con.execute(
        """
        create or replace temp table raw__pantry_visit as
        select * from (values
            ('pantry_visit.csv', 2::bigint, 'A', '2026-09-01', 'North'),
            ('pantry_visit.csv', 3::bigint, 'B', 'soon', 'North'),
            ('pantry_visit.csv', 4::bigint, 'CH3', '2026-10-01', ' East ')
        ) as t(_source_file, _line, member_id, visit_date, pantry)
        """
    )
    con.execute(ELIGIBILITY_MEMBERS_SQL)
    contract = load_contracts()[FEED]
    con.execute(f"create or replace temp view checked__{FEED} as {checked_select(contract)}")
    con.execute(
        f"create or replace table stg__{FEED} as select * from ({STAGING}) where _reject is null"
    )


def test_a_new_feed_and_population_are_read_assigned_and_explained(
    contracts_with_the_feed, tmp_path, ref
):
    rules_file = tmp_path / "rules.toml"
    with duckdb.connect() as con:
        # The packaged feeds, staged as a run stages them (before the new contract is seen).
        with pytest.MonkeyPatch.context() as packaged:
            packaged.setattr(data_contracts, "CONTRACT_DIR", CONTRACT_DIR)
            story = ingest(con, write_story(tmp_path / "feeds"), load_rules(), tmp_path / "work")
        _stage_the_feed(con)
        registry = collect([*POPULATIONS.values(), PANTRY_ADULT])
        rules_file.write_text(
            DEFAULT_RULES_FILE.read_text(encoding="utf-8") + RULES_BLOCK, encoding="utf-8"
        )
        rules = load_rules(rules_file, registry)
        present = frozenset(story.feeds) | {FEED}
        inputs = read_inputs(con, present, RunDates.of(rules, AS_OF).history_start)

    assert sorted(inputs[FEED].collect()["member_id"]) == ["A", "CH3"]  # B: not a date
    assert populations_reading(FEED, registry) == ("PANTRY_ADULT",)
    events = build_events(inputs, ref, rules, RunDates.of(rules, AS_OF))
    result = assign_populations(events, inputs, rules, registry)
    held = result.assignments.filter(pl.col("pof_code") == "PANTRY_ADULT")
    assert held["member_id"].to_list() == ["A"]  # CH3 is a child
    assert result.population_status["PANTRY_ADULT"].status == "evaluated"
    evidence = result.evidence.filter(pl.col("pof_code") == "PANTRY_ADULT")
    assert evidence["source_key"].to_list() == ["pantry_visit.csv:2"]

    metrics = result.member_metrics.filter(pl.col("member_id") == "B").row(0, named=True)
    statuses = {code: s.as_dict() for code, s in result.population_status.items()}
    lines = why_not(metrics, set(), statuses, rules.data, registry)
    assert "PANTRY_ADULT: no food pantry visit in the lookback" in lines


def test_without_the_feed_the_population_is_not_evaluated(contracts_with_the_feed, tmp_path):
    """Its rules block names the feed required: absent, the population is reported not
    evaluated, never as zero members."""
    from ecm.shards.evaluate import population_status

    registry = collect([*POPULATIONS.values(), PANTRY_ADULT])
    rules_file = tmp_path / "rules.toml"
    rules_file.write_text(
        DEFAULT_RULES_FILE.read_text(encoding="utf-8") + RULES_BLOCK, encoding="utf-8"
    )
    rules = load_rules(rules_file, registry)
    status = population_status(rules.population("PANTRY_ADULT"), frozenset(feed_order()) - {FEED})
    assert (status.status, status.missing_feeds) == ("not_evaluated", (FEED,))
