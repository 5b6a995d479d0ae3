"""The generator and the rules agree: every planted persona lands exactly where its recipe
says (qualifies, or is a near miss), through ingest, events and assignment."""

import datetime as dt

import duckdb
import polars as pl
import pytest

from ecm.config.dates import RunDates
from ecm.generate import generate_feeds, planted_personas
from ecm.ingest import ingest
from ecm.shards.evaluate import assign_populations, build_events, read_inputs

END = dt.date(2026, 10, 31)
MEMBERS = 4_000


@pytest.fixture(scope="module")
def run(tmp_path_factory, rules, ref):
    feeds = tmp_path_factory.mktemp("generated") / "feeds"
    generate_feeds(feeds, members=MEMBERS, months=24, end=END, seed=11, fmt="csv")
    with duckdb.connect() as con:
        result = ingest(con, feeds, rules, tmp_path_factory.mktemp("work"))
        inputs = read_inputs(con, frozenset(result.feeds), RunDates.of(rules, END).history_start)
    events = build_events(inputs, ref, rules, RunDates.of(rules, END))
    return result, assign_populations(events, inputs, rules)


def test_nothing_is_quarantined_and_every_feed_is_read(run):
    ingested, _ = run
    assert {c.quarantined for c in ingested.feeds.values()} == {0}
    # What providers send back answers the member information files of an earlier run:
    # the generator's provider simulator writes it, not the feeds of one month.
    assert ingested.missing_feeds == ["provider_return", "outreach"]


def test_every_population_has_members(run, rules):
    _, result = run
    assert set(result.assignments["pof_code"]) == set(rules.population_codes)


def test_planted_personas_land_as_their_recipes_say(run):
    _, result = run
    personas = planted_personas(MEMBERS, months=24, end=END).filter(
        pl.col("population").is_not_null()
    )
    assigned = set(result.assignments.select("member_id", "pof_code").iter_rows())
    wrong = [
        (p["member_id"], p["persona"], p["population"], p["qualifies"])
        for p in personas.to_dicts()
        if ((p["member_id"], p["population"]) in assigned) != p["qualifies"]
    ]
    assert personas.height > 100
    assert wrong == []
