"""SQL quoting has one home, data_contracts.sql (`ident` for a name, `lit` for a text
value, `ident_list` for a select's columns): the contracts' checks, the ingest, the
shards' inputs and the member files quote with it (issue #15: column quoting was written
four times)."""

from __future__ import annotations

import re

import duckdb
import pytest

from data_contracts.sql import ident, ident_list, lit
from tests.conftest import ROOT

# What a hand-written quoting looks like: a quote doubled by `replace`, or a name put
# between double quotes by an f-string.
HAND_QUOTING = re.compile(
    r"""replace\(\s*"'"\s*,\s*"''"\s*\)|replace\(\s*'"'\s*,\s*'""'\s*\)|f'"\{"""
)
HOME = ROOT / "data_contracts" / "sql.py"


def _code_files():
    for folder in ("ecm", "flows", "data_contracts", "transforms"):
        yield from sorted((ROOT / folder).rglob("*.py"))
    yield ROOT / "tests" / "bench.py"


def test_no_module_but_data_contracts_sql_quotes_by_hand():
    hand = [
        f"{path.relative_to(ROOT)}:{number}"
        for path in _code_files()
        if path != HOME
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if HAND_QUOTING.search(line)
    ]
    assert hand == []


@pytest.mark.parametrize("name", ["member_id", 'odd"name', "select", "with space", "Ünïcode"])
def test_a_quoted_name_reads_back_as_itself(name):
    with duckdb.connect() as con:
        got = con.sql(f"select 1 as {ident(name)}").columns
    assert got == [name]


@pytest.mark.parametrize("text", ["plain", "it's", "''", "/tmp/a folder/o'brien.parquet", ""])
def test_a_quoted_text_reads_back_as_itself(text):
    with duckdb.connect() as con:
        assert con.sql(f"select {lit(text)}").fetchall() == [(text,)]


def test_a_column_list_is_its_names_quoted_in_order():
    assert ident_list(("b", 'a"')) == '"b", "a"""'
    with duckdb.connect() as con:
        got = con.sql(f"select {ident_list(('b', 'a'))} from (select 1 as a, 2 as b)").fetchall()
    assert got == [(2, 1)]
