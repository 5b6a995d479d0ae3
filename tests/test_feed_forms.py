"""Issue #14's "done when": the same members delivered in the forms plans send (CSV;
Parquet written by pandas, nullable integers as float64 with nulls and dates as
timestamps; Parquet with zoned timestamps; CMS and SAS dates in CSV; partner feeds as
`.xlsx`) give byte-identical assignments, and no row is quarantined that the CSV's
were not."""

from __future__ import annotations

import datetime as dt
import shutil

import duckdb
import pandas as pd
import polars as pl
import pytest

from data_contracts import load_contracts
from ecm.config.dates import RunDates
from ecm.generate import generate_feeds
from ecm.ingest import ingest
from ecm.shards.evaluate import assign_populations, build_events, read_inputs

END = dt.date(2026, 10, 31)
MEMBERS = 300
MONTHS = 13  # the twelve-month lookbacks and the as-of month; each month a claims drop
ZONE = "America/Los_Angeles"
# Whole-number columns pandas reads as float64 when some rows are empty.
NUMERIC_CLAIM_COLUMNS = (
    "claim_line_number",
    "revenue_center_code",
    "place_of_service_code",
    "admit_type_code",
    "admit_source_code",
    "discharge_disposition_code",
    "drg_code",
    "rendering_npi",
    "billing_npi",
    "facility_npi",
    "paid_amount",
)


def _date_columns(feed: str) -> list[str]:
    return [s.name for s in load_contracts()[feed].specs if s.type == "date"]


def _read_as_text(path) -> pd.DataFrame:
    return pd.read_csv(path, dtype=str, keep_default_na=False, na_values=[""])


def claims_as_pandas_parquet(path) -> None:
    """A monthly claims drop as pandas writes it: whole-number columns with empty rows
    as float64 (`22.0`), dates as zone-less timestamps."""
    frame = _read_as_text(path)
    for column in NUMERIC_CLAIM_COLUMNS:
        frame[column] = pd.to_numeric(frame[column]).astype("float64")
    for column in _date_columns("medical_claim"):
        frame[column] = pd.to_datetime(frame[column])
    assert frame["revenue_center_code"].isna().any() and frame["revenue_center_code"].notna().any()
    frame.to_parquet(path.with_suffix(".parquet"))
    path.unlink()


def eligibility_with_zoned_timestamps(path) -> None:
    """Eligibility with every date an evening in Los Angeles: the next day in UTC."""
    frame = _read_as_text(path)
    for column in _date_columns("eligibility"):
        evening = pd.to_datetime(frame[column]) + pd.Timedelta(hours=18, minutes=30)
        frame[column] = evening.dt.tz_localize(ZONE)
    assert str(frame["birth_date"].dtype).endswith(f", {ZONE}]")
    frame.to_parquet(path.with_suffix(".parquet"))
    path.unlink()


def dates_as_cms_and_sas_text(path, feed: str, form: str) -> None:
    """A CSV with its dates as `26-Nov-2015` (CMS) or `26NOV2015` (SAS)."""
    frame = pl.read_csv(path, infer_schema=False)
    text = pl.col([c for c in _date_columns(feed) if c in frame.columns]).str.to_date("%Y-%m-%d")
    text = text.dt.strftime(form)
    frame.with_columns(text.str.to_uppercase() if "%b%Y" in form else text).write_csv(path)


def partner_feed_as_xlsx(path, feed: str) -> None:
    """A partner feed as a workbook: dates as Excel dates, on a sheet named after it."""
    frame = pl.read_csv(path, infer_schema=False)
    frame.with_columns(pl.col(_date_columns(feed)).str.to_date("%Y-%m-%d")).write_excel(
        path.with_suffix(".xlsx"), worksheet=feed.title(), autofit=False
    )
    path.unlink()


def deliver_in_every_form(feeds) -> None:
    """The generated CSV feeds, each feed in another form (and the claims drops mixed)."""
    eligibility_with_zoned_timestamps(feeds / "eligibility.csv")
    drops = sorted((feeds / "medical_claim").glob("*.csv"))
    for i, drop in enumerate(drops):
        if i % 2 == 0:
            claims_as_pandas_parquet(drop)
        else:
            dates_as_cms_and_sas_text(drop, "medical_claim", "%d%b%Y")
    for feed in ("incarceration", "homelessness"):
        partner_feed_as_xlsx(feeds / f"{feed}.csv", feed)
    for feed in ("child_welfare", "ccs_enrollment", "provider_assignment", "pharmacy_claim"):
        dates_as_cms_and_sas_text(feeds / f"{feed}.csv", feed, "%d-%b-%Y")


def run(feeds, work, rules, ref):
    with duckdb.connect() as con:
        result = ingest(con, feeds, rules, work)
        inputs = read_inputs(con, frozenset(result.feeds), RunDates.of(rules, END).history_start)
    events = build_events(inputs, ref, rules, RunDates.of(rules, END))
    assignment = assign_populations(events, inputs, rules)
    return result, inputs, assignment


@pytest.fixture(scope="module")
def csv_feeds(tmp_path_factory):
    feeds = tmp_path_factory.mktemp("forms") / "csv"
    generate_feeds(feeds, members=MEMBERS, months=MONTHS, end=END, seed=14, fmt="csv")
    return feeds


@pytest.fixture(scope="module")
def from_csv(csv_feeds, tmp_path_factory, rules, ref):
    return run(csv_feeds, tmp_path_factory.mktemp("work"), rules, ref)


@pytest.fixture(scope="module")
def from_every_form(csv_feeds, tmp_path_factory, rules, ref):
    feeds = tmp_path_factory.mktemp("forms") / "every_form"
    shutil.copytree(csv_feeds, feeds)
    deliver_in_every_form(feeds)
    assert {p.suffix for p in feeds.rglob("*.*") if p.is_file()} >= {
        ".csv",
        ".parquet",
        ".xlsx",
    }
    return run(feeds, tmp_path_factory.mktemp("work"), rules, ref)


def _rows(frame: pl.LazyFrame | None) -> pl.DataFrame | None:
    if frame is None:
        return None
    frame = frame.collect()
    return frame.sort(frame.columns, nulls_last=True)


def test_every_row_is_read_and_none_is_quarantined_that_the_csv_kept(from_csv, from_every_form):
    csv_counts = {f: c.as_dict() for f, c in from_csv[0].feeds.items()}
    form_counts = {f: c.as_dict() for f, c in from_every_form[0].feeds.items()}
    assert {f: {**c, "files": 0} for f, c in form_counts.items()} == {
        f: {**c, "files": 0} for f, c in csv_counts.items()
    }
    assert from_csv[0].warnings == from_every_form[0].warnings


def test_the_rules_read_the_same_values(from_csv, from_every_form):
    csv_inputs, form_inputs = from_csv[1], from_every_form[1]
    for name in ("eligibility", "claim_lines", "diagnoses", "provider_assignment"):
        assert _rows(form_inputs[name]).equals(_rows(csv_inputs[name])), name
    for feed in ("incarceration", "homelessness", "child_welfare", "ccs_enrollment"):
        csv_rows = _rows(csv_inputs[feed])
        form_rows = _rows(form_inputs[feed])
        # the rows' keys name their file (incarceration.xlsx:2 against incarceration.csv:2)
        assert form_rows.drop("_source_file").equals(csv_rows.drop("_source_file")), feed


def test_the_assignments_are_byte_identical(from_csv, from_every_form):
    csv_assignments = from_csv[2].assignments
    assert csv_assignments.height > 20
    assert from_every_form[2].assignments.write_csv() == csv_assignments.write_csv()
