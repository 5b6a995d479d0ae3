"""Wild values thrown at every key of the rules file: `load_rules` either refuses the file
with a RulesError (exit 2) naming that key, or the rules it accepts run on a small story
(every population of focus, and the high utilisers' boundary cases) to a sane result:
never an inverted or empty lookback window, never an exception other than RulesError.

The rules run without Prefect, as ecm.shards.run does: ingest once, then `build_events` and
`assign_populations` per example (the ingest again only for keys the ingest reads).
"""

from __future__ import annotations

import datetime as dt
import shutil
import tempfile
from collections import Counter
from pathlib import Path

import duckdb
import polars as pl
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from ecm.config.dates import RunDates
from ecm.config.reference import ReferenceData
from ecm.config.rules import load_rules
from ecm.errors import RulesError
from ecm.ingest import ingest
from ecm.shards.evaluate import (
    assign_populations,
    build_events,
    population_window,
    read_inputs,
)
from ecm.shards.inputs import shard_count
from tests import story, story_pof
from tests.rules_file import DEFAULT_DATA, REMOVED, leaf_keys, to_toml, with_setting
from transforms.populations.registry import POPULATIONS

AS_OF = story.AS_OF
assert story_pof.AS_OF == AS_OF
# Keys the ingest reads (the rest are read by the rules only).
INGEST_KEYS = ("claims.void_bill_type_frequency", "guards.", "loop.aliases.")
ALIASES = DEFAULT_DATA["loop"]["aliases"]
# Every key of the packaged file (of each table of value aliases, the table and its first
# alias: its many aliases would crowd out the other keys), and keys it does not hold: a
# population's own lookback (allowed for the high utilisers only), typos, a new table.
KEYS = [
    *(key for key in leaf_keys() if not key.startswith("loop.aliases.")),
    *(f"loop.aliases.{column}" for column in ALIASES),
    *(f"loop.aliases.{column}.{next(iter(table))}" for column, table in ALIASES.items()),
    "loop.aliases.program_code",
    "populations.HIGH_UTIL_ADULT.lookback_months",
    "populations.HIGH_UTIL_CHILD.lookback_months",
    "populations.SMI_SUD_CHILD.lookback_months",
    "time.lookback_month",
    "methods.pqi.numerator_value_set",
    "outputs.group_readable",
]
NAMES = [
    "smi",
    "mh_sud",
    "ed_revenue_code",
    "acute_inpatient_bill_type",
    "office_visit",
    "smi.csv",
    "../smi",
    "/etc/passwd",
    "value_sets/smi",
    "adult",
    "child_youth",
    "nyu_max",
    "all_ed",
    "cms_planned",
    "pqi",
    "unplanned",
    "America/Los_Angeles",
    "UTC",
    "Mars/Olympus",
    "8",
    "9",
    "01",
    "asthma",
    "incarceration",
    "homelessness",
    "smi_dx",
    "tbi_dx",
    "white",
    "black or african american",
]
SCALARS = st.one_of(
    st.integers(-3, 130),
    st.sampled_from([0, 1, 59, 60, 61, 1000, 100_000, 2**20, 2**30, 2**63 - 1, -(2**63)]),
    st.integers(),
    st.floats(allow_nan=True, allow_infinity=True),
    st.floats(0, 1),
    st.booleans(),
    st.text(max_size=12),
    st.sampled_from(NAMES),
)
WILD = st.one_of(
    SCALARS,
    st.lists(st.one_of(st.sampled_from(NAMES), st.text(max_size=6), st.integers()), max_size=4),
    st.just([]),
    st.just(""),
    st.just({"nested": 1}),
    st.just(REMOVED),
)


def _default(key: str):
    node = DEFAULT_DATA
    for part in key.split("."):
        if not isinstance(node, dict) or part not in node:
            return None
        node = node[part]
    return node


@st.composite
def near_default(draw, key: str):
    """A value close to the packaged one: a number moved a little, a list with an item
    dropped or one of NAMES added, the default itself."""
    value = _default(key)
    if isinstance(value, bool) or value is None:
        return draw(WILD)
    if isinstance(value, int):
        return draw(st.integers(value // 2 - 1, 2 * value + 1))
    if isinstance(value, float):
        return draw(st.floats(value / 2 - 0.1, 2 * value + 0.1, allow_nan=False))
    if value == []:
        return draw(st.sampled_from([[], [draw(st.sampled_from(NAMES))]]))
    if isinstance(value, list):
        kept = value[: draw(st.integers(1, len(value)))]
        return draw(st.sampled_from([kept, [*kept, draw(st.sampled_from(NAMES))]]))
    return draw(st.sampled_from([value, value, draw(st.sampled_from(NAMES))]))


def _merged_story(folder: Path) -> Path:
    """The two stories' feeds in one feed folder: a folder per feed holding each story's
    file (their member ids differ)."""
    feeds = folder / "feeds"
    for name, module in (("hu", story), ("pof", story_pof)):
        written = module.write_story(folder / name)
        for path in written.iterdir():
            feed = path.name.split(".")[0]
            (feeds / feed).mkdir(parents=True, exist_ok=True)
            shutil.move(path, feeds / feed / f"{name}_{path.name}")
    return feeds


def _inputs(con, feeds: Path, rules, work: Path):
    result = ingest(con, feeds, rules, work)
    since = AS_OF - dt.timedelta(days=366 * 11)  # before any lookback the rules allow
    return read_inputs(con, frozenset(result.feeds), since, rules=rules)


@pytest.fixture(scope="module")
def story_feeds(tmp_path_factory):
    return _merged_story(tmp_path_factory.mktemp("rules_property"))


@pytest.fixture(scope="module")
def story_inputs(story_feeds, tmp_path_factory):
    """The story ingested once under the packaged rules, with the procedures read (for
    method cms_planned)."""
    cms = load_rules(
        _written(tmp_path_factory.mktemp("cms"), "methods.unplanned_stay", "cms_planned")
    )
    with duckdb.connect() as con:
        return _inputs(con, story_feeds, cms, tmp_path_factory.mktemp("work"))


def _written(folder: Path, key: str, value) -> Path:
    path = folder / "rules.toml"
    path.write_text(to_toml(with_setting(key, value)))
    return path


def _names(message: str, key: str) -> bool:
    """Whether a RulesError names `key`: the key, or each part of it (a population's key by
    its block and name, an unknown table by its name and what it holds)."""
    return key in message or all(part in message for part in key.split("."))


def _assert_sane(rules, inputs) -> None:
    dates = RunDates.of(rules, AS_OF)
    windows = [
        dates.window,
        dates.long_window,
        *(population_window(p, rules, dates) for p in POPULATIONS.values()),
    ]
    for window in windows:
        assert window.start <= window.end == AS_OF, window
    assert dates.history_start <= AS_OF
    assert 1 <= shard_count(1_000, rules) <= 1_000
    events = build_events(inputs, ReferenceData.for_rules(rules), rules, dates)
    result = assign_populations(events, inputs, rules)
    enrolled = set(events.members["member_id"])
    assert set(result.assignments["member_id"]) <= enrolled
    assert set(result.assignments["pof_code"]) <= set(POPULATIONS)
    assert result.assignments["qualifying_date"].null_count() == 0
    latest = result.assignments.select(pl.col("qualifying_date").max()).item()
    assert latest is None or latest <= AS_OF
    assert result.member_metrics.height == len(enrolled)
    event("accepted: " + ("assigns" if result.assignments.height else "assigns nobody"))


def test_every_key_either_refused_by_name_or_runs_to_a_sane_result(story_feeds, story_inputs):
    outcomes: Counter[str] = Counter()

    @settings(
        max_examples=60,
        deadline=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )
    @given(key=st.sampled_from(KEYS), data=st.data())
    def refused_by_name_or_sane(key, data):
        wild = data.draw(st.integers(0, 3), label="wild") == 0  # a quarter anything at all
        value = data.draw(WILD if wild else near_default(key), label="value")
        with tempfile.TemporaryDirectory() as tmp:
            path = _written(Path(tmp), key, value)
            try:
                rules = load_rules(path)
            except RulesError as exc:
                message = str(exc)
                assert _names(message, key), message
                assert str(path) in message
                assert "\n" not in message
                outcomes["refused"] += 1
                event("refused")
                return
            if key.startswith(INGEST_KEYS):
                with duckdb.connect() as con:
                    inputs = _inputs(con, story_feeds, rules, Path(tmp) / "work")
            else:
                inputs = story_inputs
            _assert_sane(rules, inputs)
            outcomes["accepted"] += 1

    refused_by_name_or_sane()
    # The property holds by running rules too, not only by refusing them.
    assert outcomes["accepted"] >= 0.3 * sum(outcomes.values()), outcomes


def test_the_packaged_rules_run_the_story_to_its_expected_members(story_inputs):
    """The property's story is not empty: under the packaged rules both stories' members
    are found (the property can pass by running, not only by refusing)."""
    rules = load_rules()
    events = build_events(
        story_inputs, ReferenceData.for_rules(rules), rules, RunDates.of(rules, AS_OF)
    )
    result = assign_populations(events, story_inputs, rules)
    got = set(result.assignments.select("member_id", "pof_code").iter_rows())
    assert got == story.EXPECTED | story_pof.EXPECTED
