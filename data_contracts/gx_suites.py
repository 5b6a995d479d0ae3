"""Great Expectations 1.x suites built from the same contracts as the row checks.

Per present feed, two suites:

- `<feed>` on the staged table (`stg__<feed>`, only the columns the suite needs, DuckDB →
  Arrow → pandas): the row count (at least 1), null shares (`not_null_mostly`), value
  sets (choice and yes_no columns, `values_mostly`) and the contract's `[[expectations]]`
  (distributions such as claim dates in a plausible range).
- `<feed>.grain` on a compact frame DuckDB computes: the rows whose grain key occurs
  more than once, each key column replaced by its 64-bit hash. GX's
  expect_compound_columns_to_be_unique (expect_column_values_to_be_unique for a one-column
  key) over that frame fails exactly when the staged table has duplicates at the key,
  and its unexpected count is the number of rows in duplicate groups. Why not the whole
  key in pandas: over tens of millions of claim lines that is a 40M-row frame for one
  answer DuckDB's GROUP BY gives in a second, and hashing keeps member ids out of GX.
  The unexpected percent is reported against the staged rows, not the compact frame.

Above `SAMPLE_ROWS` staged rows, the column expectations (null shares, value sets,
ranges) run on a seeded DuckDB system sample of about that many rows (entries say
`sample_rows`: the rows GX saw), and the row count on a frame of every row (no columns):
pandas-based GX costs ~1 s per expectation per 10M rows (measured), while every single bad value is
already caught, exactly, by the generated row checks in DuckDB; these expectations are
about shares and distributions, which a 1M-row sample estimates to well under 0.1%.

Date columns reach GX as integers YYYYMMDD (contract dates are converted the same way):
GX's between-check on pandas datetimes is ~70x slower than on integers. Text columns
reach it as pandas categoricals.

The fill rates of the columns the rules lean on (`data_contracts.fill_rates`) are measured
beside the suites, in DuckDB (why: that module's docstring), and a rate below its
threshold is a warning like a failed expectation.

The suites' results depend on the staged rows alone: `run_data_quality` given the staged
rows' digest (ecm.ingest.tables.staged_digest) keeps its compact results in the warehouse
table `kept_suite_results` under that digest, the feeds, the contracts, this module and
the GX version, and a later run with the same key (a rerun with another rules file or
as-of date over the same feeds) reads them instead of running GX again; the fill rates,
which depend on the rules file, are measured every run.

Results are summarised (`compact_results`) as expectation type, column(s), success,
observed value and unexpected count/percent: never unexpected values nor member ids
(GX is asked for no partial unexpected lists, and any that appear are dropped). Import
cost of GX (~4 s) is paid only when a suite runs.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import importlib.metadata
import json
import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb

from data_contracts import CONTRACT_DIR, SUITE_SETS, FeedContract, load_contract
from data_contracts.fill_rates import BELOW, FillRate, FillRateRules, measure_fill_rates
from data_contracts.sql import ident, ident_list

log = logging.getLogger("ecm.contracts")

RESULT_FORMAT = {"result_format": "BASIC", "partial_unexpected_count": 0}
_KEPT_RESULT_KEYS = (
    "observed_value",
    "element_count",
    "unexpected_count",
    "unexpected_percent",
    "missing_count",
)
GRAIN_ROWS = "_rows_at_key"
SAMPLE_ROWS = 1_000_000


@dataclass(frozen=True)
class ExpectationSpec:
    """One expectation before GX is imported: its snake-case type and arguments."""

    type: str
    kwargs: dict[str, Any]

    @property
    def columns(self) -> tuple[str, ...]:
        if "column" in self.kwargs:
            return (self.kwargs["column"],)
        return tuple(self.kwargs.get("column_list", ()))


def _day_number(value: Any) -> Any:
    if isinstance(value, dt.date):
        return value.year * 10000 + value.month * 100 + value.day
    return value


def table_expectations(contract: FeedContract) -> list[ExpectationSpec]:
    """The suite on the staged table, from the contract."""
    specs = [ExpectationSpec("expect_table_row_count_to_be_between", {"min_value": 1})]
    for col in contract.specs:
        if col.not_null_mostly is not None:
            specs.append(
                ExpectationSpec(
                    "expect_column_values_to_not_be_null",
                    {"column": col.name, "mostly": col.not_null_mostly},
                )
            )
        if col.type in SUITE_SETS:
            values = (
                ["Y", "N"]
                if col.type == "yes_no"
                else [v.upper() if col.case == "upper" else v.lower() for v in col.values]
            )
            specs.append(
                ExpectationSpec(
                    "expect_column_values_to_be_in_set",
                    {"column": col.name, "value_set": values, "mostly": col.values_mostly},
                )
            )
    for e in contract.expectations:
        dates = any(
            contract.spec(c).type == "date" for c in ExpectationSpec(e.type, e.kwargs).columns
        )
        kwargs = {k: _day_number(v) if dates else v for k, v in e.kwargs.items()}
        specs.append(ExpectationSpec(e.type, kwargs))
    return specs


def grain_expectation(contract: FeedContract) -> ExpectationSpec:
    key = list(contract.grain_key)
    if len(key) == 1:
        return ExpectationSpec("expect_column_values_to_be_unique", {"column": key[0]})
    return ExpectationSpec("expect_compound_columns_to_be_unique", {"column_list": key})


# --- frames DuckDB hands to GX ---------------------------------------------------------


def _frame(con: duckdb.DuckDBPyConnection, sql: str):
    import pyarrow as pa
    import pyarrow.compute as pc

    table = con.sql(sql).to_arrow_table()
    columns = [
        pc.dictionary_encode(c)
        if pa.types.is_string(c.type) or pa.types.is_large_string(c.type)
        else c
        for c in table.columns
    ]
    return pa.Table.from_arrays(columns, names=table.column_names).to_pandas()


def table_frame(
    con: duckdb.DuckDBPyConnection,
    contract: FeedContract,
    specs: list[ExpectationSpec],
    sample: int | None = None,
):
    """The staged table's columns the suite reads (dates as YYYYMMDD integers), all rows
    or a reproducible sample of `sample` rows."""
    needed = list(dict.fromkeys(c for s in specs for c in s.columns))
    selects = [
        f"(year({ident(c)}) * 10000 + month({ident(c)}) * 100 + day({ident(c)}))::integer "
        f"as {ident(c)}"
        if contract.spec(c).type == "date"
        else ident(c)
        for c in needed
    ] or ["true as _row"]
    source = f"stg__{contract.name}"
    if sample:  # whole vectors of rows (cheap, unlike a reservoir: 0.01 s against 2 s)
        staged = len_of(con, contract.name)
        percent = min(100.0, 100.0 * sample / staged) if staged else 100.0
        needed_cols = ident_list(needed) or "true as _row"
        source = f"(select {needed_cols} from {source} using sample {percent:.6f}% (system, 7))"
    return _frame(con, f"select {', '.join(selects)} from {source}")


def grain_frame(con: duckdb.DuckDBPyConnection, contract: FeedContract):
    """The rows whose grain key is duplicated, key columns hashed (see the docstring).

    DuckDB groups on one 64-bit hash of the key (measured 1.8 s against 3.4 s for the
    four text columns of 10M claim lines), then confirms the candidates on the columns
    themselves, so a hash collision cannot report a duplicate.
    """
    cols = [ident(c) for c in contract.grain_key]
    key, hashed = ", ".join(cols), ", ".join(f"hash({c}) as {c}" for c in cols)
    frame = _frame(
        con,
        f"""
        with candidates as (
            select hash({key}) as _key_hash from stg__{contract.name}
            group by _key_hash having count(*) > 1
        ),
        duplicated as (
            select {key}, count(*) as {GRAIN_ROWS}
            from stg__{contract.name}
            where hash({key}) in (select _key_hash from candidates)
            group by all having count(*) > 1
        )
        select {hashed}, {GRAIN_ROWS} from duplicated
        """,
    )
    frame = frame.loc[frame.index.repeat(frame[GRAIN_ROWS])].reset_index(drop=True)
    return frame.drop(columns=[GRAIN_ROWS])


def rows_frame(staged_rows: int):
    """A frame of `staged_rows` rows and no columns, for the row-count expectation."""
    import pandas as pd

    return pd.DataFrame(index=pd.RangeIndex(staged_rows))


# --- running ---------------------------------------------------------------------------


@dataclass
class DataQuality:
    """What the suites found: compact results per feed (for summary.json), the raw GX
    validation results (for the report), the fill rates measured, and the warnings (the
    ingest's warn-severity row checks, failed expectations, fill rates below their
    threshold)."""

    expectations: dict[str, list[dict]] = field(default_factory=dict)
    results: dict[str, list[Any]] = field(default_factory=dict)
    fill_rates: list[FillRate] = field(default_factory=list)
    warnings: list[dict] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def failed(self) -> list[dict]:
        return [
            {"feed": feed, **e}
            for feed, es in self.expectations.items()
            for e in es
            if not e["success"]
        ]

    @property
    def thin_columns(self) -> list[FillRate]:
        """The fill rates below their threshold."""
        return [f for f in self.fill_rates if f.status == BELOW]

    def as_summary(self) -> dict:
        """For summary.json's `data_quality`: `expectations`, `fill_rates`, `warnings`."""
        return {
            "expectations": self.expectations,
            "fill_rates": [f.as_summary() for f in self.fill_rates],
            "warnings": self.warnings,
        }


class _Gx:
    """One ephemeral GX context with progress bars off (no project folder, no network)."""

    def __init__(self) -> None:
        import great_expectations as gx
        import great_expectations.expectations as gxe
        from great_expectations.data_context.types.base import ProgressBarsConfig

        # GX sets some of its modules' loggers to INFO at import (one announces its
        # temporary docs folder): quiet them all, so --json and --quiet stay clean.
        for name in [n for n in logging.root.manager.loggerDict if n.startswith("great_expect")]:
            logging.getLogger(name).setLevel(logging.WARNING)
        logging.getLogger("great_expectations").setLevel(logging.WARNING)
        self.gx, self.gxe = gx, gxe
        self.context = gx.get_context(mode="ephemeral")
        self.context.variables.progress_bars = ProgressBarsConfig(globally=False)
        source = self.context.data_sources.add_pandas("ecm")
        self.batches = source.add_dataframe_asset("staged").add_batch_definition_whole_dataframe(
            "whole"
        )

    def suite(self, name: str, specs: list[ExpectationSpec]):
        expectations = []
        for s in specs:
            cls = getattr(self.gxe, "".join(part.title() for part in s.type.split("_")), None)
            if cls is None:
                raise ValueError(f"{name}: '{s.type}' is not a Great Expectations expectation")
            expectations.append(cls(**s.kwargs))
        return self.context.suites.add(
            self.gx.ExpectationSuite(name=name, expectations=expectations)
        )

    def validate(self, suite, frame):
        batch = self.batches.get_batch(batch_parameters={"dataframe": frame})
        return batch.validate(suite, result_format=RESULT_FORMAT)


def compact_results(result, contract: FeedContract, staged_rows: int | None = None) -> list[dict]:
    """Each expectation of a validation result as a small dict without row values."""
    out = []
    for r in result.results:
        config = r.expectation_config
        kwargs = config.kwargs
        columns = kwargs.get("column") or kwargs.get("column_list")
        entry: dict[str, Any] = {
            "expectation": config.type,
            "column": columns,
            "success": bool(r.success),
        }
        for key in _KEPT_RESULT_KEYS:
            if key in (r.result or {}):
                entry[key] = r.result[key]
        if contract.member_key and contract.member_key in (
            [columns] if isinstance(columns, str) else list(columns or [])
        ):
            entry.pop("observed_value", None)  # never a member id
        if staged_rows is not None:  # the grain suite's frame holds only duplicated rows
            entry["element_count"] = staged_rows
            count = entry.get("unexpected_count", 0) or 0
            entry["unexpected_percent"] = 100.0 * count / staged_rows if staged_rows else 0.0
        if "observed_value" in entry:
            entry["observed_value"] = _jsonable(entry["observed_value"])
        out.append(entry)
    return out


def _jsonable(value: Any) -> Any:
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if hasattr(value, "item"):  # numpy scalars
        return value.item()
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    return str(value)


def run_suites(con: duckdb.DuckDBPyConnection, feeds: Iterable[str]) -> DataQuality:
    """Validate each named (present, staged) feed's suites."""
    import time

    started = time.perf_counter()
    quality = DataQuality()
    feeds = list(feeds)
    if not feeds:
        return quality
    gx = _Gx()
    for name in feeds:
        contract = load_contract(name)
        specs = table_expectations(contract)
        staged = len_of(con, name)
        results, entries = [], []
        if staged > SAMPLE_ROWS:
            rows = gx.validate(gx.suite(f"{name}.rows", specs[:1]), rows_frame(staged))
            table = gx.validate(
                gx.suite(name, specs[1:]), table_frame(con, contract, specs[1:], SAMPLE_ROWS)
            )
            results += [rows, table]
            entries += compact_results(rows, contract)
            entries += [
                {**e, "sample_rows": e.get("element_count")}
                for e in compact_results(table, contract)
            ]
        else:
            table = gx.validate(gx.suite(name, specs), table_frame(con, contract, specs))
            results.append(table)
            entries += compact_results(table, contract)
        grain = gx.validate(
            gx.suite(f"{name}.grain", [grain_expectation(contract)]), grain_frame(con, contract)
        )
        quality.results[name] = [*results, grain]
        quality.expectations[name] = entries + compact_results(grain, contract, staged_rows=staged)
    quality.warnings = [
        {
            "feed": f["feed"],
            "rule": f["expectation"],
            "column": f["column"],
            "detail": _expectation_sentence(f),
        }
        for f in quality.failed
    ]
    quality.seconds = time.perf_counter() - started
    return quality


def len_of(con: duckdb.DuckDBPyConnection, feed: str) -> int:
    return con.execute(f"select count(*) from stg__{feed}").fetchall()[0][0]


def _expectation_sentence(entry: dict) -> str:
    what = entry["expectation"].removeprefix("expect_").replace("_", " ")
    column = entry["column"]
    cols = ", ".join(column) if isinstance(column, list) else column
    parts = [f"{cols}: {what}" if cols else what, "failed"]
    if entry.get("unexpected_count"):
        parts.append(
            f"({entry['unexpected_count']:,} rows, {entry.get('unexpected_percent', 0):.2f}%)"
        )
    elif "observed_value" in entry:
        parts.append(f"(observed {entry['observed_value']})")
    return " ".join(parts)


KEPT_RESULTS_TABLE = "kept_suite_results"


def suites_key(staged: str, feeds: Iterable[str]) -> str:
    """sha256 of what the suites' results depend on: the staged rows' digest, the feeds
    validated, every contract and shape file, this module and the GX version."""
    digest = hashlib.sha256()
    digest.update(staged.encode())
    digest.update(json.dumps(sorted(feeds)).encode())
    for path in (*sorted(Path(CONTRACT_DIR).glob("*.toml")), Path(__file__)):
        digest.update(path.name.encode())
        digest.update(path.read_bytes())
    digest.update(importlib.metadata.version("great_expectations").encode())
    return digest.hexdigest()


def kept_or_run_suites(
    con: duckdb.DuckDBPyConnection, feeds: Iterable[str], staged: str
) -> DataQuality:
    """The suites' compact results (`expectations`, `warnings`): those the warehouse keeps
    under this key (`suites_key`), else `run_suites`, then kept (the one row of the
    table: the latest). Kept results carry no raw GX results (`results`), which only
    `ecm validate`'s report reads. `con` must be writable (the run's warehouse copy)."""
    feeds = list(feeds)
    key = suites_key(staged, feeds)
    con.execute(
        f"create table if not exists {KEPT_RESULTS_TABLE} "
        f"(key varchar, expectations varchar, warnings varchar)"
    )
    rows = con.execute(
        f"select expectations, warnings from {KEPT_RESULTS_TABLE} where key = ?", [key]
    ).fetchall()
    if rows:
        return DataQuality(expectations=json.loads(rows[0][0]), warnings=json.loads(rows[0][1]))
    quality = run_suites(con, feeds)
    con.execute(f"delete from {KEPT_RESULTS_TABLE}")
    con.execute(
        f"insert into {KEPT_RESULTS_TABLE} values (?, ?, ?)",
        [key, json.dumps(quality.expectations), json.dumps(quality.warnings)],
    )
    return quality


def run_data_quality(
    con: duckdb.DuckDBPyConnection, ingested, rules: FillRateRules, staged: str | None = None
) -> DataQuality:
    """The one call for the flow: every present feed's suites after an ingest, with the
    ingest's warn-severity row checks and the fill rates of the columns the rules lean on
    (thresholds and value sets from `rules`). Put `.as_summary()` into summary.json's
    `data_quality` and `.results` into the report. A fill rate below its threshold is
    also logged as a warning (shown under --quiet too): counts, never a row. With
    `staged` (the staged rows' digest) the suites' results are kept and reused
    (`kept_or_run_suites`)."""
    feeds = list(ingested.feeds)
    quality = run_suites(con, feeds) if staged is None else kept_or_run_suites(con, feeds, staged)
    quality.fill_rates = measure_fill_rates(con, feeds, rules)
    for thin in quality.thin_columns:
        log.warning("%s: %s", thin.feed, thin.sentence())
    quality.warnings = [
        *getattr(ingested, "warnings", []),
        *quality.warnings,
        *(f.as_warning() for f in quality.thin_columns),
    ]
    return quality
