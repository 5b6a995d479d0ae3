"""A Parquet file's dates and whole numbers read in their own type (issue #18): the checks
take a typed value as its own parse instead of formatting it as text and parsing it back.
Every verdict, detail, warning and staged value must be the one the text path gives: here
each file is checked both ways (`parquet_select`'s `select` with its typed columns, and
its `text` with none) and the two compared, over wild values (hypothesis: dates at and
past the edges of a four-digit year, timestamps in zones, integers past 32 bits), and a
whole ingest with typed reading on and off is compared table by table."""

from __future__ import annotations

import datetime as dt

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from data_contracts import load_contract
from data_contracts.sql import ELIGIBILITY_MEMBERS, checked_select
from ecm.ingest import ingest
from ecm.ingest import read_parquet as read_parquet_module
from ecm.ingest.read_parquet import parquet_select
from ecm.warehouse.sql import install_macros
from tests.feeds import line, member, write_feed

D = dt.date
EPOCH = D(1970, 1, 1)


def _days(day: D) -> int:
    return (day - EPOCH).days


# date32 values (days from 1970) at the edges of what the text path reads back: 0001-01-01
# and 9999-12-31 and either side, and the int32 extremes (DuckDB's -infinity / infinity)
EDGE_DAYS = [
    _days(D(1, 1, 1)),
    _days(D(1, 1, 1)) - 1,
    _days(D(9999, 12, 31)),
    _days(D(9999, 12, 31)) + 1,
    _days(D(1900, 12, 31)),
    _days(D(1901, 1, 1)),
    0,
    -(2**31),
    -(2**31) + 1,
    2**31 - 1,
    2**31 - 2,
]
ZONES = [None, "UTC", "America/Los_Angeles", "Asia/Tokyo", "+05:30", "-08:00", "+14:00"]
MICROS_A_DAY = 86_400 * 10**6
# timestamps in microseconds: the edges of a four-digit year (a zone may move the calendar
# date across it) and any instant of years -2000 to 12000
EDGE_MICROS = [
    d * MICROS_A_DAY + offset
    for d in (_days(D(1, 1, 1)), _days(D(9999, 12, 31)), _days(D(10000 - 1, 12, 31)) + 1)
    for offset in (-MICROS_A_DAY, -3_600 * 10**6, 0, 1, 3_600 * 10**6, MICROS_A_DAY - 1)
]
ANY_MICROS = st.integers(_days(D(1, 1, 1)) * MICROS_A_DAY * 2, 320_000 * 365 * MICROS_A_DAY // 100)


@st.composite
def typed_date_column(draw, rows: int) -> pa.Array:
    """A column of `rows` dates or timestamps (one Arrow type, drawn), nulls among them."""
    kind = draw(st.sampled_from(["date32", "timestamp_us", "timestamp_ms", "timestamp_ns"]))
    if kind == "date32":
        value = st.one_of(
            st.sampled_from(EDGE_DAYS),
            st.integers(_days(D(1890, 1, 1)), _days(D(2100, 1, 1))),
            st.integers(-(2**31), 2**31 - 1),
            st.none(),
        )
        days = draw(st.lists(value, min_size=rows, max_size=rows))
        return pa.array(days, pa.int32()).cast(pa.date32())
    zone = draw(st.sampled_from(ZONES))
    unit = kind.removeprefix("timestamp_")
    if unit == "ns":  # int64 nanoseconds: 1677 to 2262
        value = st.one_of(st.integers(-(2**63) + 1, 2**63 - 1), st.none())
    else:
        micros = st.one_of(
            st.sampled_from(EDGE_MICROS),
            ANY_MICROS,
            st.integers(_days(D(1890, 1, 1)) * MICROS_A_DAY, _days(D(2100, 1, 1)) * MICROS_A_DAY),
            st.none(),
        )
        value = micros.map(lambda m: m if m is None or unit == "us" else m // 1000)
    values = draw(st.lists(value, min_size=rows, max_size=rows))
    return pa.array(values, pa.int64()).cast(pa.timestamp(unit, tz=zone))


@st.composite
def typed_integer_column(draw, rows: int) -> pa.Array:
    """A column of `rows` integers (one Arrow integer type, drawn), nulls among them."""
    kind = draw(st.sampled_from([pa.int8(), pa.int32(), pa.int64(), pa.uint32(), pa.uint64()]))
    bits = kind.bit_width
    low, high = (
        (0, 2**bits - 1)
        if pa.types.is_unsigned_integer(kind)
        else (
            -(2 ** (bits - 1)),
            2 ** (bits - 1) - 1,
        )
    )
    edges = [
        v
        for v in (low, high, -1, 0, 1, 2**31 - 1, 2**31, -(2**31), -(2**31) - 1)
        if low <= v <= high
    ]
    value = st.one_of(st.sampled_from(edges), st.integers(low, high), st.none())
    return pa.array(draw(st.lists(value, min_size=rows, max_size=rows)), kind)


# Feeds whose checks cover every kind of check a typed value meets: a required date and
# date order (eligibility: and a death date's bounds, before 1901 or before birth), two
# dates not both empty (incarceration), a required whole number at least 0 (ecm_provider).
FEEDS = {
    "eligibility": {"member_id": "A"},
    "incarceration": {"member_id": "A", "facility_type": "other"},
    "ecm_provider": {"provider_npi": "1234567893", "county": "alameda"},
}


@st.composite
def typed_file(draw, feed: str) -> pa.Table:
    """A file of `feed`: its date and integer columns typed and drawn, the rest constant."""
    contract = load_contract(feed)
    rows = draw(st.integers(1, 12))
    columns = {name: pa.array([value] * rows) for name, value in FEEDS[feed].items()}
    for spec in contract.specs:
        if spec.type == "date":
            columns[spec.name] = draw(typed_date_column(rows))
        elif spec.type == "integer":
            columns[spec.name] = draw(typed_integer_column(rows))
    for name in contract.required_columns:
        columns.setdefault(name, pa.array(["x"] * rows))
    return pa.table(columns)


@pytest.fixture(scope="module")
def con():
    with duckdb.connect() as connection:
        install_macros(connection)
        connection.execute(
            f"create temp table {ELIGIBILITY_MEMBERS} as select 'A' as _member_id, "
            f"true as _has_staged_row"
        )
        yield connection


def _checked(con, contract, select: str, typed: frozenset[str]):
    """The checked rows of `select` (the checks' verdicts and the values passed on to the
    staging model), with their columns' types."""
    con.execute(f"create or replace temp view raw__{contract.name} as {select}")
    result = con.execute(f"select * from ({checked_select(contract, None, typed)}) order by _line")
    return [d[0:2] for d in result.description], result.fetchall()


@pytest.mark.parametrize("feed", FEEDS)
@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=st.data())
def test_a_typed_value_gets_the_verdict_its_text_gets(con, tmp_path_factory, feed, data):
    contract = load_contract(feed)
    table = data.draw(typed_file(feed))
    path = tmp_path_factory.mktemp("typed") / f"{feed}.parquet"
    pq.write_table(table, path)
    read = parquet_select(path, contract, path.parent)
    expected_typed = {
        s.name
        for s in contract.specs
        if s.type in ("date", "integer") and s.name in table.column_names
    } - read.empty
    assert read.typed == expected_typed  # every date and integer column is read typed
    assert _checked(con, contract, read.select, read.typed) == _checked(
        con, contract, read.text, frozenset()
    )


def test_the_edges_of_a_four_digit_year(con, tmp_path):
    """The rows the property test must meet, pinned: the first and last dates the text
    path reads back are dates; a day either side is unparseable, quoting its text."""
    contract = load_contract("incarceration")
    days = [D(1, 1, 1), D(9999, 12, 31)]
    stamps = [
        dt.datetime(9999, 12, 31, 20, tzinfo=dt.UTC),  # 10000-01-01 in Tokyo
        dt.datetime(1, 1, 1, 3, tzinfo=dt.UTC),  # 0001-12-31 (BC) in Los Angeles
    ]
    pq.write_table(
        pa.table(
            {
                "member_id": ["A"] * 4,
                "facility_type": ["other"] * 4,
                "booking_date": pa.array([*days, None, None], pa.date32()),
                "release_date": pa.array(
                    [None, None, stamps[0], None], pa.timestamp("us", tz="Asia/Tokyo")
                ),
            }
        ),
        tmp_path / "incarceration.parquet",
    )
    read = parquet_select(tmp_path / "incarceration.parquet", contract, tmp_path)
    assert read.typed == {"booking_date", "release_date"}
    typed = _checked(con, contract, read.select, read.typed)
    assert typed == _checked(con, contract, read.text, frozenset())
    names = [name for name, _kind in typed[0]]
    rows = [dict(zip(names, row, strict=True)) for row in typed[1]]
    assert [r["booking_date"] for r in rows] == [D(1, 1, 1), D(9999, 12, 31), None, None]
    assert [r["_reject"] for r in rows] == [
        None,
        None,
        "unparseable_date|release_date '10000-01-01' is not a date (expected "
        + "YYYY-MM-DD, YYYYMMDD, MM/DD/YYYY, DD-Mon-YYYY, DDMONYYYY or an ISO date-time, "
        + "with a four-digit year)",
        "missing_value|booking_date and release_date are both empty",
    ]


def test_a_nanosecond_timestamp_at_the_edge_of_its_range_is_its_calendar_date(con, tmp_path):
    """A zoned nanosecond timestamp whose wall-clock time falls before the first instant a
    nanosecond timestamp holds (1677-09-21 08:05:41 UTC is 00:12:43 in Los Angeles, whose
    offset then was -07:52:58) is its calendar date, typed and as text alike; converting it
    in nanoseconds overflowed (an internal error, found by the property test above)."""
    contract = load_contract("incarceration")
    lowest = -(2**63)  # 1677-09-21 00:12:43.145224192 UTC
    instant = lowest + ((8 * 3600 + 5 * 60 + 41) - (12 * 60 + 43)) * 10**9 + 1
    pq.write_table(
        pa.table(
            {
                "member_id": ["A"],
                "facility_type": ["other"],
                "booking_date": pa.array([D(1, 1, 1)], pa.date32()),
                "release_date": pa.array([instant], pa.int64()).cast(
                    pa.timestamp("ns", tz="America/Los_Angeles")
                ),
            }
        ),
        tmp_path / "incarceration.parquet",
    )
    read = parquet_select(tmp_path / "incarceration.parquet", contract, tmp_path)
    typed = _checked(con, contract, read.select, read.typed)
    assert typed == _checked(con, contract, read.text, frozenset())
    names = [name for name, _kind in typed[0]]
    (row,) = (dict(zip(names, r, strict=True)) for r in typed[1])
    assert row["release_date"] == D(1677, 9, 21)
    assert row["_reject"] is None


# --- a whole ingest, typed reading on and off -----------------------------------------------


def _ingest_tables(tmp_path, feeds, rules, *, typed: bool, monkeypatch) -> dict:
    """Every staged table and the quarantine of an ingest of `feeds`, read typed or not."""
    with monkeypatch.context() as patch:
        if not typed:
            patch.setattr(read_parquet_module, "_typed_value", lambda *_args: None)
        with duckdb.connect() as con:
            result = ingest(con, feeds, rules, tmp_path / ("typed" if typed else "text"))
            tables = {
                name: con.sql(f"select * from {name} order by all").fetchall()
                for (name,) in con.execute(
                    "select table_name from information_schema.tables "
                    "where table_name like 'stg_checked__%' or table_name = 'quarantine' "
                    "order by 1"
                ).fetchall()
            }
            types = {name: con.sql(f"describe {name}").fetchall() for name in tables}
    return {"counts": {f: (c.read, c.staged, c.quarantined) for f, c in result.feeds.items()}} | {
        "tables": tables,
        "types": types,
    }


def test_a_feed_of_text_and_typed_files_stages_as_the_text_path_did(tmp_path, rules, monkeypatch):
    """One drop: eligibility as a CSV and a typed Parquet file with broken dates (past
    9999, a timestamp with a time in a date column, a zoned one whose date moves, an end
    before its start), claims with an integer too large: the staged rows, their verdicts
    and warnings, and the quarantine (rule, detail, the raw row as delivered) are those of
    the text path."""
    feeds = tmp_path / "feeds"
    write_feed(feeds / "eligibility", "eligibility", [member("A"), member("B")])
    la = "America/Los_Angeles"
    pq.write_table(
        pa.table(
            {
                "member_id": ["C", "D", "E", "F", "G"],
                "birth_date": pa.array(
                    [
                        _days(D(1980, 1, 2)),
                        _days(D(9999, 12, 31)) + 1,  # 10000-01-01
                        None,
                        _days(D(1970, 5, 6)),
                        _days(D(1890, 1, 1)),
                    ],
                    pa.int32(),
                ).cast(pa.date32()),
                "enrollment_start_date": pa.array(
                    [dt.datetime(2020, 1, 1, 21, 30, tzinfo=dt.UTC)] * 4
                    + [dt.datetime(2021, 1, 1, 7, tzinfo=dt.UTC)],
                    pa.timestamp("us", tz=la),
                ),
                "enrollment_end_date": pa.array(
                    [None, None, None, dt.datetime(2019, 12, 31, 23, 59), None],
                    pa.timestamp("ms"),
                ),
                "death_date": pa.array([None, None, None, None, D(1889, 1, 1)], pa.date32()),
            }
        ),
        feeds / "eligibility" / "2026-02.parquet",
    )
    claims = [line("c1", "A", "2026-01-05"), line("c2", "C", "2026-01-06")]
    write_feed(feeds / "medical_claim", "medical_claim", claims)
    pq.write_table(
        pa.table(
            {
                "claim_id": ["c3", "c4", "c5"],
                "claim_line_number": pa.array([1, 2**31, None], pa.int64()),
                "claim_type": ["professional"] * 3,
                "member_id": ["A", "C", "Z"],
                "claim_start_date": pa.array([D(2026, 1, 7), D(2026, 1, 8), D(2026, 1, 9)]),
                "claim_end_date": pa.array([D(2026, 1, 6), None, None]),
                **{
                    c: pa.array([None] * 3, pa.string())
                    for c in load_contract("medical_claim").required_columns
                    if c
                    not in (
                        "claim_id",
                        "claim_line_number",
                        "claim_type",
                        "member_id",
                        "claim_start_date",
                        "claim_end_date",
                    )
                },
            }
        ),
        feeds / "medical_claim" / "2026-02.parquet",
    )
    text = _ingest_tables(tmp_path, feeds, rules, typed=False, monkeypatch=monkeypatch)
    typed = _ingest_tables(tmp_path, feeds, rules, typed=True, monkeypatch=monkeypatch)
    assert typed["counts"] == text["counts"]
    assert typed["types"] == text["types"]
    assert typed["tables"].keys() == text["tables"].keys()
    for name in text["tables"]:
        assert typed["tables"][name] == text["tables"][name], name
    # the file really had something to judge: dates past 9999, an end before its start,
    # an integer past 32 bits, an unknown member
    rules_broken = {row[3] for row in typed["tables"]["quarantine"]}
    assert {"unparseable_date", "end_before_start", "malformed_value", "unknown_member"} <= (
        rules_broken
    )
