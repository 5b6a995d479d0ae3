"""The DHCS quarterly member file (loop.md, section 5): pure rules, frames in, frames out.
The stage (ecm.quarterly) reads the warehouse and hands the frames here; nothing here reads
a path, the clock or the rules file (the gap, the flag map and the code map arrive as
parameters).

- `parse_quarter` / `quarter_bounds`: `2026Q3` is 2026-07-01 through 2026-09-30.
- `enrollment_spans`: the RTF's ECM enrollment spans (one per member × provider × start).
- `merge_spans`: a member's spans chained when the next starts at most `gap_days` after
  the previous ends (end 07-10, start 07-24: chained at 14; start 07-25: not).
- `quarter_spans`: the merged spans touching the quarter, with the end and reason shown.
- `index_holders`: who holds a population as its index (HOMELESS_FAMILY's index child).
- `flag_columns`: the Population of Focus flags of the quarter's runs, by the flag map.
- `encounters`: in-person and telephonic encounter counts per span, from the OTF, else the
  RTF's counts.
- `member_rows`: the file's rows, its columns in order, every date `MM/DD/YYYY`.
"""

from __future__ import annotations

import datetime as dt
import re

import polars as pl

from transforms.loop import OTF_SCHEMA, RTF_SCHEMA, SUCCESSFUL, month_start

QUARTER = re.compile(r"(\d{4})Q([1-4])")
DATE_FORMAT = "%m/%d/%Y"
OPEN_END = dt.date.max
"""An open span's end while spans are chained (shown empty)."""

# The RTF's ecm_status values that carry an ECM enrollment span.
SPAN_STATUSES = ("enrolled", "discontinued")
IN_PERSON = "in_person"
TELEPHONIC = ("phone", "video")

# A flag's selector (`[quarterly.flags]` "Name" = "CODE" or "CODE:selector"): the age group
# of the run's assignment, or the index child of a household population (HOMELESS_FAMILY).
ADULT, CHILD_YOUTH, INDEX = "adult", "child_youth", "index"
SELECTORS = (ADULT, CHILD_YOUTH, INDEX)

QUARTERLY_RTF_SCHEMA = {
    name: kind for name, kind in RTF_SCHEMA.items() if not name.startswith("referral_")
}
"""The staged RTF columns the quarterly file reads: the loop's (transforms.loop) but the
Closed Loop Referral elements."""
QUARTERLY_OTF_SCHEMA = {name: kind for name, kind in OTF_SCHEMA.items() if not name.startswith("_")}
"""The staged OTF columns the quarterly file reads: the loop's, without the row key."""
ASSIGNMENT_SCHEMA = {
    "member_id": pl.String,
    "pof_code": pl.String,
    "age_group": pl.String,
    "has_household_evidence": pl.Boolean,
}
"""What the quarter's runs assigned (the warehouse's run_assignments; has_household_evidence
empty for a run recorded before the warehouse kept it)."""
ELIGIBILITY_SCHEMA = {
    "member_id": pl.String,
    "first_name": pl.String,
    "last_name": pl.String,
    "birth_date": pl.Date,
    "county": pl.String,
    "enrollment_start_date": pl.Date,
    "enrollment_end_date": pl.Date,
}
"""The eligibility columns the quarterly file reads."""
SPAN_SCHEMA = {
    "member_id": pl.String,
    "provider_npi": pl.String,
    "start": pl.Date,
    "end": pl.Date,
    "reason": pl.String,
}
"""An ECM enrollment span: its provider, start, end (empty: open) and the RTF's
discontinuation reason code."""

FIXED_COLUMNS = (
    "Plan Name",
    "Plan Code",
    "County",
    "Reporting Period",
    "Member CIN",
    "Member Last Name",
    "Member First Name",
    "Member Date of Birth",
)
SPAN_COLUMNS = (
    "ECM Benefit Start Date",
    "ECM Benefit End Date",
    "ECM Discontinuation Reason",
    "Member's ECM Provider NPI",
    "Number of In-Person ECM Encounters",
    "Number of Telephonic/Telehealth ECM Encounters",
)


def quarter_bounds(year: int, quarter: int) -> tuple[dt.date, dt.date]:
    """The first and last day of quarter `quarter` (1-4) of `year`."""
    first = dt.date(year, 3 * quarter - 2, 1)
    after = dt.date(year + 1, 1, 1) if quarter == 4 else dt.date(year, 3 * quarter + 1, 1)
    return first, after - dt.timedelta(days=1)


def parse_quarter(text: str) -> tuple[int, int] | None:
    """`2026Q3` → (2026, 3); None when `text` is not of the form YYYYQn (n from 1 to 4)."""
    found = QUARTER.fullmatch(text.strip().upper())
    return (int(found.group(1)), int(found.group(2))) if found else None


def split_flag(target: str) -> tuple[str, str | None]:
    """A flag map's value: `HOMELESS_FAMILY:adult` → ("HOMELESS_FAMILY", "adult")."""
    code, _, selector = target.partition(":")
    return code, selector or None


def enrollment_spans(rtf: pl.LazyFrame, through: dt.date) -> pl.LazyFrame:
    """The ECM enrollment spans the providers reported through `through`'s month.

    Grain: one row per member × provider × enrollment_start_date, from the RTF rows of
    ecm_status `enrolled` or `discontinued` with a start date and a reporting_period
    through `through`'s month; the latest row of the three (reporting_period, then
    file_production_date, empty first, then file and line) gives the end (its
    enrollment_end_date, else its discontinuation_date) and the reason code (SPAN_SCHEMA).
    """
    order = ["reporting_period", "file_production_date", "_source_file", "_line"]
    key = ["member_id", "provider_npi", "enrollment_start_date"]
    return (
        rtf.filter(
            pl.col("ecm_status").is_in(SPAN_STATUSES)
            & pl.col("enrollment_start_date").is_not_null()
            & (pl.col("reporting_period") <= pl.lit(month_start(through)))
        )
        .sort([*key, *order], nulls_last=False)
        .unique(subset=key, keep="last", maintain_order=True)
        .select(
            "member_id",
            "provider_npi",
            pl.col("enrollment_start_date").alias("start"),
            pl.coalesce("enrollment_end_date", "discontinuation_date").alias("end"),
            pl.col("discontinuation_reason_code").alias("reason"),
        )
        .cast(SPAN_SCHEMA)
        .sort("member_id", "start", "provider_npi")
    )


def merge_spans(spans: pl.LazyFrame, gap_days: int) -> pl.LazyFrame:
    """A member's spans chained into one when the next starts at most `gap_days` days
    after the end of every span before it (an overlap chains too).

    Grain: one row per member × merged span (SPAN_SCHEMA): its first start; its latest
    end (empty when any span of the chain is open); the reason of the span that ends it;
    the provider of its latest span (latest start, then provider). Sorted by member, start.
    """
    end = pl.col("end").fill_null(OPEN_END)
    ordered = spans.with_columns(end.alias("_end")).sort("member_id", "start", "provider_npi")
    reach = pl.col("_end").cum_max().shift(1).over("member_id")
    starts_new = reach.is_null() | ((pl.col("start") - reach).dt.total_days() > gap_days)
    chained = ordered.with_columns(
        starts_new.cast(pl.Int64).cum_sum().over("member_id").alias("_chain")
    )
    merged = chained.group_by("member_id", "_chain").agg(
        pl.col("start").min(),
        pl.col("_end").max(),
        pl.col("provider_npi").last().alias("provider_npi"),
        pl.col("reason").sort_by("_end", "start").last().alias("reason"),
    )
    return (
        merged.with_columns(
            pl.when(pl.col("_end") == OPEN_END).then(None).otherwise(pl.col("_end")).alias("end")
        )
        .select(*SPAN_SCHEMA)
        .cast(SPAN_SCHEMA)
        .sort("member_id", "start")
    )


def quarter_spans(merged: pl.LazyFrame, first: dt.date, last: dt.date) -> pl.LazyFrame:
    """The merged spans touching the quarter `first`..`last`, with `shown_end` (empty
    when the span is open or ends after the quarter) and `shown_reason` (the reason,
    empty without a shown end). Sorted by member, start."""
    touching = merged.filter(
        (pl.col("start") <= pl.lit(last)) & (pl.col("end").is_null() | (pl.col("end") >= first))
    )
    shown_end = pl.when(pl.col("end") <= pl.lit(last)).then(pl.col("end")).otherwise(None)
    return (
        touching.with_columns(shown_end.alias("shown_end"))
        .with_columns(
            pl.when(pl.col("shown_end").is_not_null())
            .then(pl.col("reason"))
            .otherwise(None)
            .alias("shown_reason")
        )
        .sort("member_id", "start")
    )


def index_holders(assignments: pl.LazyFrame, homeless_members: pl.LazyFrame) -> pl.LazyFrame:
    """Who a run of the quarter assigned a population as its index: on evidence of their
    own, not through their household (`has_household_evidence` false: HOMELESS_FAMILY's
    index child, whose homelessness marks the household). A run recorded before the
    warehouse kept the column (empty) is read by the approximation of then: a
    `child_youth` holding it with a staged homelessness row of their own
    (`homeless_members`: member_id).

    Grain: one row per member × pof_code, sorted."""
    recorded = assignments.filter(pl.col("has_household_evidence").not_())
    before = assignments.filter(
        pl.col("has_household_evidence").is_null() & (pl.col("age_group") == CHILD_YOUTH)
    ).join(homeless_members, on="member_id", how="semi")
    return (
        pl.concat([recorded, before])
        .select("member_id", "pof_code")
        .unique()
        .sort("member_id", "pof_code")
    )


def flag_columns(
    assignments: pl.LazyFrame,
    index_children: pl.LazyFrame,
    flags: dict[str, str],
) -> pl.LazyFrame:
    """The Population of Focus flags per member: one column per flag of `flags` (its DHCS
    name = our code, or `CODE:adult` / `CODE:child_youth` for an assignment of that age
    group, or `CODE:index` for the index child of a household population), `1` when any
    run of the quarter assigned it, else `0`.

    `assignments`: the quarter's runs' member × population × age group rows;
    `index_children`: member_id × pof_code of the index children (`index_holders`).
    Grain: one row per member holding any population in the quarter."""
    columns = []
    for name, target in flags.items():
        code, selector = split_flag(target)
        if selector == INDEX:
            held = index_children.filter(pl.col("pof_code") == code).select("member_id")
        else:
            held = assignments.filter(pl.col("pof_code") == code)
            if selector is not None:
                held = held.filter(pl.col("age_group") == selector)
            held = held.select("member_id")
        columns.append(held.unique().with_columns(pl.lit(name).alias("_flag")))
    members = assignments.select("member_id").unique()
    held_flags = pl.concat(columns) if columns else pl.LazyFrame(schema={"member_id": pl.String})
    wide = members
    for name in flags:
        one = held_flags.filter(pl.col("_flag") == name).select(
            "member_id", pl.lit("1").alias(name)
        )
        wide = wide.join(one, on="member_id", how="left")
    return wide.with_columns(pl.col(name).fill_null("0") for name in flags).sort("member_id")


def encounters(
    spans: pl.LazyFrame,
    otf: pl.LazyFrame,
    rtf: pl.LazyFrame,
    first: dt.date,
    last: dt.date,
) -> pl.LazyFrame:
    """In-person and telephonic encounters per quarter span (member_id, start).

    A member with an OTF attempt dated in the quarter: the distinct dates inside both the
    span and the quarter with a successful attempt `in_person` (in_person), or `phone` /
    `video` (telephonic: both on one date count once). A member with none: the sums of
    the RTF's in_person_encounters and telephonic_encounters over the reporting periods
    of the quarter that touch the span (the latest row per member × provider × period),
    of those whose enrollment_start_date, when given, lies in the span (a row of an earlier
    span of the month is that span's)."""
    window = spans.select(
        "member_id",
        "start",
        pl.max_horizontal(pl.col("start"), pl.lit(first)).alias("_from"),
        pl.min_horizontal(pl.col("end").fill_null(last), pl.lit(last)).alias("_to"),
        pl.col("end").alias("_span_end"),
    )
    in_quarter = otf.filter(pl.col("attempt_date").is_between(first, last))
    with_otf = in_quarter.select("member_id").unique()
    successful = in_quarter.filter(pl.col("successful") == SUCCESSFUL)
    inside = window.join(successful, on="member_id", how="inner").filter(
        pl.col("attempt_date").is_between(pl.col("_from"), pl.col("_to"))
    )
    from_otf = (
        window.join(with_otf, on="member_id", how="semi")
        .join(
            inside.group_by("member_id", "start").agg(
                pl.col("attempt_date")
                .filter(pl.col("method") == IN_PERSON)
                .n_unique()
                .alias("in_person"),
                pl.col("attempt_date")
                .filter(pl.col("method").is_in(TELEPHONIC))
                .n_unique()
                .alias("telephonic"),
            ),
            on=["member_id", "start"],
            how="left",
        )
        .select("member_id", "start", "in_person", "telephonic")
    )
    period_key = ["member_id", "provider_npi", "reporting_period"]
    periods = (
        rtf.filter(pl.col("reporting_period").is_between(first, last))
        .sort([*period_key, "file_production_date", "_source_file", "_line"], nulls_last=False)
        .unique(subset=period_key, keep="last", maintain_order=True)
    )
    period_end = pl.col("reporting_period").dt.month_end()
    from_rtf = (
        window.join(with_otf, on="member_id", how="anti")
        .join(periods, on="member_id", how="inner")
        .filter(
            (pl.col("reporting_period") <= pl.col("_to"))
            & (period_end >= pl.col("_from"))
            & (
                pl.col("enrollment_start_date").is_null()
                | pl.col("enrollment_start_date").is_between(
                    pl.col("start"), pl.col("_span_end").fill_null(OPEN_END)
                )
            )
        )
        .group_by("member_id", "start")
        .agg(
            pl.col("in_person_encounters").sum().alias("in_person"),
            pl.col("telephonic_encounters").sum().alias("telephonic"),
        )
    )
    from_rtf = (
        window.join(with_otf, on="member_id", how="anti")
        .select("member_id", "start")
        .join(from_rtf, on=["member_id", "start"], how="left")
    )
    counted = pl.col("in_person", "telephonic").fill_null(0).cast(pl.Int64)
    return pl.concat([from_otf.with_columns(counted), from_rtf.with_columns(counted)]).sort(
        "member_id", "start"
    )


def member_details(eligibility: pl.LazyFrame, first: dt.date, last: dt.date) -> pl.LazyFrame:
    """Per member: names and birth date of the latest eligibility span, and the county of
    the span covering the member's last day enrolled in the quarter (empty when the member
    was not enrolled in it). Grain: one row per member."""
    open_end = pl.col("enrollment_end_date").fill_null(OPEN_END)
    latest = (
        eligibility.with_columns(open_end.alias("_end"))
        .sort("member_id", "enrollment_start_date", "_end")
        .unique(subset="member_id", keep="last", maintain_order=True)
        .select("member_id", "first_name", "last_name", "birth_date")
    )
    in_quarter = (
        eligibility.with_columns(open_end.alias("_end"))
        .filter((pl.col("enrollment_start_date") <= last) & (pl.col("_end") >= first))
        .with_columns(pl.min_horizontal(pl.col("_end"), pl.lit(last)).alias("_last_day"))
        .sort("member_id", "_last_day", "enrollment_start_date")
        .unique(subset="member_id", keep="last", maintain_order=True)
        .select("member_id", "county")
    )
    return latest.join(in_quarter, on="member_id", how="left")


def member_rows(
    spans: pl.LazyFrame,
    details: pl.LazyFrame,
    flags: pl.LazyFrame,
    counts: pl.LazyFrame,
    *,
    plan_name: str,
    plan_code: str,
    period: str,
    flag_names: list[str],
    discontinuation_codes: dict[str, str],
) -> pl.LazyFrame:
    """The file's rows: one per member × quarter span (`quarter_spans`), columns in the
    order of loop.md's table, all text, dates `MM/DD/YYYY`, sorted by member then start.
    A member no run of the quarter assigned has every flag `0`; a reason code the map
    does not name is shown as delivered (the stage warns)."""
    codes = pl.DataFrame(
        {
            "shown_reason": list(discontinuation_codes),
            "_number": list(discontinuation_codes.values()),
        },
        schema={"shown_reason": pl.String, "_number": pl.String},
    ).lazy()
    rows = (
        spans.join(details, on="member_id", how="left")
        .join(flags, on="member_id", how="left")
        .join(counts, on=["member_id", "start"], how="left")
        .join(codes, on="shown_reason", how="left")
        .sort("member_id", "start")
    )

    def date(column: str) -> pl.Expr:
        return pl.col(column).dt.strftime(DATE_FORMAT)

    return rows.select(
        pl.lit(plan_name).alias("Plan Name"),
        pl.lit(plan_code).alias("Plan Code"),
        pl.col("county").alias("County"),
        pl.lit(period).alias("Reporting Period"),
        pl.col("member_id").alias("Member CIN"),
        pl.col("last_name").alias("Member Last Name"),
        pl.col("first_name").alias("Member First Name"),
        date("birth_date").alias("Member Date of Birth"),
        *(pl.col(name).fill_null("0").alias(name) for name in flag_names),
        date("start").alias("ECM Benefit Start Date"),
        date("shown_end").alias("ECM Benefit End Date"),
        pl.coalesce("_number", "shown_reason").alias("ECM Discontinuation Reason"),
        pl.col("provider_npi").alias("Member's ECM Provider NPI"),
        pl.col("in_person").fill_null(0).alias("Number of In-Person ECM Encounters"),
        pl.col("telephonic").fill_null(0).alias("Number of Telephonic/Telehealth ECM Encounters"),
    )


def unmapped_reasons(spans: pl.LazyFrame, discontinuation_codes: dict[str, str]) -> list[str]:
    """The shown reason codes the map does not name (for the stage's warning)."""
    shown = spans.select(pl.col("shown_reason").drop_nulls().unique()).collect()
    return sorted(set(shown["shown_reason"]) - set(discontinuation_codes))
