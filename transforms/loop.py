"""The referral loop with ECM providers (loop.md, section 3): pure rules, frames in, frames
out. The stage (ecm.loop) reads the warehouse and hands the frames here; nothing here
reads a path, the clock or the rules file (thresholds arrive as parameters).

A **referral** is a member × provider pair; it opens on the as-of date of the run that
lists the pair in the provider's member information file (MIF) with Assignment Status
`new` or `re-referral` (`known_referrals`). Each run gives every referral known on D its
state on D (`referral_states`, the first of `STATES` that applies), decides the Assignment
Status of every member the run could list (`assignment_statuses`: `new`, `continuing`,
`enrolled`, `re-referral`, or left out with a reason), and lists the members enrolled in
ECM whose situation changed for the plan's review (`review_rows`).

Which provider rows belong to a referral: the RTF rows of the pair whose
reporting_period (the period's first day) lies between the month of `opened_date` and
D's month, the latest by reporting_period, then file_production_date (empty first), then
file and line (`latest_returns`); the OTF attempts of the pair dated from `opened_date`
through D.
"""

from __future__ import annotations

import datetime as dt

import polars as pl

from transforms.members import enrolled_members

# --- the states of a referral, in the order loop.md's table tries them ----------------
LEFT_PLAN = "left_plan"
EXCLUDED = "excluded"
DISCONTINUED = "discontinued"
ENROLLED = "enrolled"
DECLINED = "declined"
UNABLE_TO_REACH = "unable_to_reach"
NOT_ELIGIBLE = "not_eligible"
PENDING = "pending"
REACHED = "reached"
OUTREACH = "outreach"
REFERRED = "referred"
STATES = (
    LEFT_PLAN,
    EXCLUDED,
    DISCONTINUED,
    ENROLLED,
    DECLINED,
    UNABLE_TO_REACH,
    NOT_ELIGIBLE,
    PENDING,
    REACHED,
    OUTREACH,
    REFERRED,
)
OPEN_STATES = (REFERRED, OUTREACH, REACHED, PENDING)
"""A loop in one of these is open: it has days_open and may be overdue."""
REFERABLE_AGAIN = (DISCONTINUED, DECLINED, UNABLE_TO_REACH, NOT_ELIGIBLE)
"""A loop closed in one of these is referred again only after re_refer_after_months, or
when the member gained a population; until then the member is left out of the MIF."""
REFUSALS = (DECLINED, UNABLE_TO_REACH, NOT_ELIGIBLE)
"""The states an RTF's ecm_status or its referral_closure_reason may name."""

# --- the MIF's Assignment Status (outputs.md), and why a member is left out -----------
NEW = "new"
CONTINUING = "continuing"
RE_REFERRAL = "re-referral"
ASSIGNMENT_STATUSES = (NEW, CONTINUING, ENROLLED, RE_REFERRAL)
OPENING_STATUSES = (NEW, RE_REFERRAL)
"""A listing with one of these opens a referral on the run's as-of date."""
LOOP_CLOSED = "loop_closed"
ENROLLED_ELSEWHERE = "enrolled_elsewhere"
LEFT_OUT_REASONS = (LOOP_CLOSED, ENROLLED_ELSEWHERE)

# --- review.parquet's reasons, in the order they are tried -----------------------------
NO_POPULATION = "no_population"
FEWER_POPULATIONS = "fewer_populations"
REVIEW_REASONS = (NO_POPULATION, FEWER_POPULATIONS, EXCLUDED, LEFT_PLAN)

# --- how the report sees the loop (outputs.md, report.html) ----------------------------
OPEN_AGE_BANDS = (("0_30", 0, 30), ("31_60", 31, 60), ("61_90", 61, 90), ("over_90", 91, None))
"""loop.md's bands of an open loop's age (0–30, 31–60, 61–90, more than 90 days open):
each band's key in summary.json's `loop.open_by_age`, and its first and last day (None:
no last day)."""
OUTREACH_MADE = (REACHED, PENDING, ENROLLED, DISCONTINUED, DECLINED, UNABLE_TO_REACH)
"""The funnel's `outreach`: a referral the provider tried to reach; an OTF attempt says
so, or one of these states, which none reaches without outreach (a member found not
eligible may be found so without; `left_plan` and `excluded` say nothing of it)."""
MEMBER_REACHED = (REACHED, ENROLLED, DISCONTINUED, DECLINED)
"""The funnel's `reached`: the member was reached (a successful attempt, an enrolment, a
refusal); `pending` reports outreach *or* enrolment under way, so it is not counted."""
FUNNEL = ("referred", "outreach", "reached")
"""The funnel's stages before its outcomes (the states enrolled, declined, …)."""

# The RTF's ecm_status values the rules read (the contract allows these six).
RTF_ENROLLED = "enrolled"
RTF_PENDING = "pending"
RTF_DISCONTINUED = "discontinued"
SUCCESSFUL = "Y"

RTF_SCHEMA = {
    "member_id": pl.String,
    "provider_npi": pl.String,
    "reporting_period": pl.Date,
    "file_production_date": pl.Date,
    "ecm_status": pl.String,
    "enrollment_start_date": pl.Date,
    "enrollment_end_date": pl.Date,
    "discontinuation_date": pl.Date,
    "discontinuation_reason_code": pl.String,
    "referral_status": pl.String,
    "referral_status_date": pl.Date,
    "referral_closure_reason": pl.String,
    "in_person_encounters": pl.Int64,
    "telephonic_encounters": pl.Int64,
    "_source_file": pl.String,
    "_line": pl.Int64,
}
"""The staged RTF columns the loop and the quarterly file read (stg__provider_return)."""
OTF_SCHEMA = {
    "member_id": pl.String,
    "provider_npi": pl.String,
    "attempt_date": pl.Date,
    "method": pl.String,
    "successful": pl.String,
    "_source_file": pl.String,
    "_line": pl.Int64,
}
"""The staged OTF columns the loop and the quarterly file read (stg__outreach)."""
MEMBER_FILES_SCHEMA = {
    "as_of_date": pl.Date,
    "member_id": pl.String,
    "provider_npi": pl.String,
    "assignment_status": pl.String,
}
"""Who a run listed in which provider's MIF (the warehouse's run_member_files;
provider_npi empty for `unassigned/`)."""
EXCLUSIONS_SCHEMA = {
    "member_id": pl.String,
    "program": pl.String,
    "source_feed": pl.String,
    "source_key": pl.String,
    "start_date": pl.Date,
    "end_date": pl.Date,
}
"""The run's exclusions on D (one row per member × program × source)."""
REFERRAL_SCHEMA = {
    "member_id": pl.String,
    "provider_npi": pl.String,
    "opened_date": pl.Date,
    "state": pl.String,
    "state_date": pl.Date,
    "enrollment_start_date": pl.Date,
    "enrollment_end_date": pl.Date,
    "discontinuation_reason_code": pl.String,
    "closure_reason": pl.String,
    "outreach_attempts": pl.Int64,
    "last_outreach_date": pl.Date,
    "days_open": pl.Int64,
    "is_overdue": pl.Boolean,
}
"""referrals.parquet's columns (loop.md, section 3)."""
LISTING_SCHEMA = {
    "member_id": pl.String,
    "provider_npi": pl.String,
    "assignment_status": pl.String,
    "left_out_reason": pl.String,
}
"""Every member the run could list: the MIF's Assignment Status, or why they are left out."""
REVIEW_SCHEMA = {
    "member_id": pl.String,
    "provider_npi": pl.String,
    "reason": pl.String,
    "lost_codes": pl.String,
    "programs": pl.String,
    "enrollment_start_date": pl.Date,
}
"""review.parquet's columns (loop.md, section 3)."""

PAIR = ["member_id", "provider_npi"]


def month_start(day: dt.date) -> dt.date:
    """The first day of `day`'s month: an RTF reporting_period of that month."""
    return day.replace(day=1)


def _empty(schema: dict[str, pl.DataType]) -> pl.LazyFrame:
    return pl.LazyFrame(schema=schema)


def known_referrals(member_files: pl.LazyFrame, as_of: dt.date) -> pl.LazyFrame:
    """The referrals known on `as_of`: every member × provider pair some run of an as-of
    date on or before D listed in the provider's MIF.

    Grain: one row per member × provider, sorted. `opened_date` is the latest as-of date
    that listed the pair `new` or `re-referral`; a pair whose opening run is no longer
    recorded (a month re-run without it) opened on its earliest listing. `unassigned/`
    listings (provider_npi empty) are no referral.
    """
    listed = member_files.filter(
        pl.col("provider_npi").is_not_null() & (pl.col("as_of_date") <= pl.lit(as_of))
    )
    opening = pl.col("assignment_status").is_in(OPENING_STATUSES)
    return (
        listed.group_by(PAIR)
        .agg(
            pl.col("as_of_date").filter(opening).max().alias("opened_date"),
            pl.col("as_of_date").min().alias("_first"),
        )
        .select(*PAIR, pl.coalesce("opened_date", "_first").alias("opened_date"))
        .sort(PAIR)
    )


def plan_membership(eligibility: pl.LazyFrame, as_of: dt.date) -> pl.LazyFrame:
    """Who is with the plan on `as_of`, and since when a member is not.

    Grain: one row per member of `eligibility` (member_id, birth_date, death_date,
    enrollment_start_date, enrollment_end_date). `is_in_plan`: an eligibility span covers
    D and the member is alive on D (transforms.members.enrolled_members: the same members
    a run evaluates). `left_plan_date` for the others: the death date when on or before D,
    else the day after the last span that ended before D (empty when none did).
    """
    day = pl.lit(as_of)
    in_plan = (
        enrolled_members(eligibility, as_of, adult_min_age=0)
        .select("member_id")
        .unique()
        .with_columns(pl.lit(True).alias("is_in_plan"))
    )
    ended = eligibility.group_by("member_id").agg(
        pl.col("death_date").filter(pl.col("death_date") <= day).min().alias("_died"),
        pl.col("enrollment_end_date")
        .filter(pl.col("enrollment_end_date") < day)
        .max()
        .alias("_last_end"),
    )
    return (
        ended.join(in_plan, on="member_id", how="left")
        .with_columns(pl.col("is_in_plan").fill_null(False))
        .select(
            "member_id",
            "is_in_plan",
            pl.when(pl.col("is_in_plan"))
            .then(pl.lit(None, dtype=pl.Date))
            .otherwise(pl.coalesce("_died", pl.col("_last_end") + pl.duration(days=1)))
            .alias("left_plan_date"),
        )
        .sort("member_id")
    )


def _excluded_by(assignments: pl.LazyFrame) -> pl.Expr:
    """A member holding a population is excluded on D when its excluded_by is not empty
    (a run before the exclusions existed has no such column: nobody is)."""
    if "excluded_by" not in assignments.collect_schema().names():
        return pl.lit("")
    return pl.col("excluded_by").fill_null("")


def exclusions_on(assignments: pl.LazyFrame, exclusions: pl.LazyFrame | None) -> pl.LazyFrame:
    """The members excluded on D (loop.md, section 1), with their programs and the
    latest start of what excludes them.

    Grain: one row per member excluded, sorted. A member holding a population is excluded
    when its assignments' `excluded_by` is not empty (programs: that value); any other
    member when the run's exclusions hold them (programs: their program codes, sorted,
    `;`-joined). `excluded_date`: the latest start_date of the member's exclusion rows
    (empty without them).
    """
    frame = exclusions if exclusions is not None else _empty(EXCLUSIONS_SCHEMA)
    from_feeds = frame.group_by("member_id").agg(
        pl.col("program").unique().sort().str.join(";").alias("_programs"),
        pl.col("start_date").max().alias("excluded_date"),
    )
    holding = assignments.group_by("member_id").agg(
        _excluded_by(assignments).max().alias("_excluded_by")
    )
    return (
        from_feeds.join(holding, on="member_id", how="full", coalesce=True)
        .with_columns(
            pl.when(pl.col("_excluded_by").is_not_null())
            .then(pl.col("_excluded_by"))
            .otherwise(pl.col("_programs"))
            .alias("programs")
        )
        .filter(pl.col("programs").is_not_null() & (pl.col("programs") != ""))
        .select("member_id", "programs", "excluded_date")
        .sort("member_id")
    )


def latest_returns(rtf: pl.LazyFrame, referrals: pl.LazyFrame, as_of: dt.date) -> pl.LazyFrame:
    """The RTF row that speaks for each referral on `as_of`.

    Grain: one row per referral with at least one RTF row of its pair whose
    reporting_period is from the month of `opened_date` through D's month (an earlier
    period answered an earlier loop; a later one is after D). The latest by
    reporting_period, then file_production_date (an empty one first), then _source_file
    and _line.
    """
    order = ["reporting_period", "file_production_date", "_source_file", "_line"]
    return (
        rtf.join(referrals.select(*PAIR, "opened_date"), on=PAIR, how="inner")
        .filter(
            (pl.col("reporting_period") >= pl.col("opened_date").dt.month_start())
            & (pl.col("reporting_period") <= pl.lit(month_start(as_of)))
        )
        .sort([*PAIR, *order], nulls_last=False)
        .unique(subset=PAIR, keep="last", maintain_order=True)
        .drop("opened_date")
    )


def outreach_of(otf: pl.LazyFrame, referrals: pl.LazyFrame, as_of: dt.date) -> pl.LazyFrame:
    """Each referral's outreach attempts dated from its `opened_date` through D.

    Grain: one row per referral with an attempt: outreach_attempts (rows), the first and
    last attempt's dates, and the first successful attempt's (`successful` `Y`)."""
    return (
        otf.join(referrals.select(*PAIR, "opened_date"), on=PAIR, how="inner")
        .filter(
            (pl.col("attempt_date") >= pl.col("opened_date"))
            & (pl.col("attempt_date") <= pl.lit(as_of))
        )
        .group_by(PAIR)
        .agg(
            pl.len().cast(pl.Int64).alias("outreach_attempts"),
            pl.col("attempt_date").min().alias("_first_attempt"),
            pl.col("attempt_date").max().alias("last_outreach_date"),
            pl.col("attempt_date")
            .filter(pl.col("successful") == SUCCESSFUL)
            .min()
            .alias("_first_success"),
        )
    )


def referral_states(
    referrals: pl.LazyFrame,
    rtf: pl.LazyFrame,
    otf: pl.LazyFrame,
    membership: pl.LazyFrame,
    excluded: pl.LazyFrame,
    *,
    as_of: dt.date,
    max_open_days: int,
) -> pl.LazyFrame:
    """Every referral's state on `as_of` (loop.md, section 3): referrals.parquet's rows.

    Grain: one row per referral of `referrals` (member_id, provider_npi, opened_date),
    sorted by member_id, provider_npi; the columns of `REFERRAL_SCHEMA`. `membership` is
    `plan_membership`, `excluded` is `exclusions_on`; the RTF and OTF rows that belong
    to a referral are `latest_returns` and `outreach_of`.

    The state is the first that applies: `left_plan` (not with the plan on D, or dead),
    `excluded`, `discontinued` (RTF ecm_status, or an enrollment end date before D),
    `enrolled` (RTF ecm_status with an enrollment span covering D: start empty or on or
    before D, end empty or on or after D), `declined` / `unable_to_reach` /
    `not_eligible` (the ecm_status, else the referral_closure_reason), `pending`,
    `reached` (a successful attempt), `outreach` (attempts), `referred`. Its
    `state_date`: the date the member left the plan, the latest start of an exclusion,
    the discontinuation date (else the enrollment end), the enrollment start, the
    referral status date; each RTF state falling back on referral_status_date, then
    file_production_date, then the reporting period; the first successful attempt, the
    first attempt; `opened_date`. `days_open` = D − opened_date and `is_overdue`
    (days_open above `max_open_days`) only for an open loop (empty and false otherwise).
    """
    day = pl.lit(as_of)
    returns = latest_returns(rtf, referrals, as_of)
    attempts = outreach_of(otf, referrals, as_of)
    frame = (
        referrals.select(*PAIR, "opened_date")
        .join(returns, on=PAIR, how="left")
        .join(attempts, on=PAIR, how="left")
        .join(
            membership.select("member_id", "is_in_plan", "left_plan_date"),
            on="member_id",
            how="left",
        )
        .join(excluded.select("member_id", "programs", "excluded_date"), on="member_id", how="left")
    )
    status = pl.col("ecm_status")
    start, end = pl.col("enrollment_start_date"), pl.col("enrollment_end_date")
    closure = pl.col("referral_closure_reason")
    said = pl.coalesce("referral_status_date", "file_production_date", "reporting_period")
    refusal = (
        pl.when(status.is_in(REFUSALS)).then(status).when(closure.is_in(REFUSALS)).then(closure)
    )
    covers = (start.is_null() | (start <= day)) & (end.is_null() | (end >= day))
    has_return = pl.col("reporting_period").is_not_null()
    rules: list[tuple[pl.Expr, pl.Expr, pl.Expr]] = [
        # (applies, state, state_date)
        (~pl.col("is_in_plan").fill_null(False), pl.lit(LEFT_PLAN), pl.col("left_plan_date")),
        (pl.col("programs").is_not_null(), pl.lit(EXCLUDED), pl.col("excluded_date")),
        (
            has_return & ((status == RTF_DISCONTINUED) | (end < day)).fill_null(False),
            pl.lit(DISCONTINUED),
            pl.coalesce("discontinuation_date", "enrollment_end_date", said),
        ),
        (
            has_return & ((status == RTF_ENROLLED) & covers).fill_null(False),
            pl.lit(ENROLLED),
            pl.coalesce("enrollment_start_date", said),
        ),
        (has_return & refusal.is_not_null(), refusal, said),
        (has_return & (status == RTF_PENDING).fill_null(False), pl.lit(PENDING), said),
        (pl.col("_first_success").is_not_null(), pl.lit(REACHED), pl.col("_first_success")),
        (pl.col("_first_attempt").is_not_null(), pl.lit(OUTREACH), pl.col("_first_attempt")),
    ]
    state = pl.lit(REFERRED)
    state_date = pl.col("opened_date")
    for applies, name, date in reversed(rules):
        state = pl.when(applies).then(name).otherwise(state)
        state_date = pl.when(applies).then(date).otherwise(state_date)
    is_open = pl.col("state").is_in(OPEN_STATES)
    days_open = (day - pl.col("opened_date")).dt.total_days()
    return (
        frame.with_columns(state.alias("state"), state_date.alias("state_date"))
        .with_columns(
            pl.when(is_open).then(days_open).otherwise(None).cast(pl.Int64).alias("days_open"),
        )
        .with_columns(
            (is_open & (pl.col("days_open") > max_open_days)).fill_null(False).alias("is_overdue"),
            pl.col("outreach_attempts").fill_null(0),
            pl.col("referral_closure_reason").alias("closure_reason"),
        )
        .select(list(REFERRAL_SCHEMA))
        .cast(REFERRAL_SCHEMA)
        .sort(PAIR)
    )


def ecm_enrollments(rtf: pl.LazyFrame, as_of: dt.date) -> pl.LazyFrame:
    """Who is enrolled in ECM with which provider on `as_of`, as the providers say.

    Grain: one row per member × provider whose latest RTF row (reporting_period through
    D's month; then file_production_date, empty first; then file and line) has
    ecm_status `enrolled` and an enrollment span covering D (start empty or on or before
    D, end empty or on or after D); with its enrollment_start_date. Sorted.
    """
    day = pl.lit(as_of)
    order = ["reporting_period", "file_production_date", "_source_file", "_line"]
    start, end = pl.col("enrollment_start_date"), pl.col("enrollment_end_date")
    return (
        rtf.filter(pl.col("reporting_period") <= pl.lit(month_start(as_of)))
        .sort([*PAIR, *order], nulls_last=False)
        .unique(subset=PAIR, keep="last", maintain_order=True)
        .filter(
            (pl.col("ecm_status") == RTF_ENROLLED)
            & (start.is_null() | (start <= day))
            & (end.is_null() | (end >= day))
        )
        .select(*PAIR, "enrollment_start_date")
        .sort(PAIR)
    )


def closing_runs(states: pl.LazyFrame, run_dates: pl.LazyFrame, as_of: dt.date) -> pl.LazyFrame:
    """The run in which each loop closed in a state it may be referred again from: the
    earliest recorded run (`run_dates`: as_of_date of the runs before this one) whose
    as-of date is on or after the closing state_date; empty when none is (this run).

    Grain: one row per referral of `states` closed in `REFERABLE_AGAIN`: member_id,
    provider_npi, closing_as_of_date.
    """
    closed = states.filter(pl.col("state").is_in(REFERABLE_AGAIN)).select(*PAIR, "state_date")
    runs = run_dates.filter(pl.col("as_of_date") < pl.lit(as_of)).select("as_of_date").unique()
    return (
        closed.join(runs, how="cross")
        .filter(pl.col("as_of_date") >= pl.col("state_date"))
        .group_by(PAIR)
        .agg(pl.col("as_of_date").min().alias("closing_as_of_date"))
        .join(closed.select(PAIR), on=PAIR, how="right")
        .select(*PAIR, "closing_as_of_date")
        .sort(PAIR)
    )


def re_referral_due(closed_on: pl.Expr, re_refer_after_months: int) -> pl.Expr:
    """The first as-of date on which a loop closed on `closed_on` (a state in
    `REFERABLE_AGAIN`) is referred again for the time passed: `re_refer_after_months`
    calendar months later (a month without that day: its last day)."""
    return closed_on.dt.offset_by(f"{re_refer_after_months}mo")


def assignment_statuses(
    assignments: pl.LazyFrame,
    prior_states: pl.LazyFrame,
    closing: pl.LazyFrame,
    closing_populations: pl.LazyFrame,
    enrollments: pl.LazyFrame,
    previous_assignments: pl.LazyFrame,
    *,
    as_of: dt.date,
    re_refer_after_months: int,
) -> pl.LazyFrame:
    """The MIF's Assignment Status of every member holding a population on `as_of`, or
    why the member is left out (outputs.md; loop.md, section 3).

    Grain: one row per member of `assignments` (member_id, pof_code, provider_npi: the
    provider on D; excluded_by when the exclusions ran), sorted; the columns of
    `LISTING_SCHEMA`. A member excluded on D (excluded_by not empty) is in no file and has
    no row. With a provider p:

    - left out, `enrolled_elsewhere`: an RTF says the member is enrolled in ECM on D with
      another provider, and none with p (`enrollments`, from `ecm_enrollments`);
    - `enrolled`, with no referral (member, p) known before this run: an RTF says the
      member is enrolled in ECM with p on D (a plan's enrollees from before the loop; no
      referral opens for them);
    - `new`: no referral (member, p) was known before this run (`prior_states`: the
      referrals of the runs before, their states on D, from `referral_states`);
    - `enrolled`: its state on D is `enrolled`; `continuing`: its loop is open;
    - closed in `REFERABLE_AGAIN`: `re-referral` when D is at least
      `re_refer_after_months` calendar months after the closing state_date (a month
      without that day ends the span on its last day), or when the member holds on D a
      population they did not hold in the run in which the loop closed (`closing`, from
      `closing_runs`; `closing_populations`: as_of_date, member_id, pof_code of those
      runs); else left out, `loop_closed`;
    - closed as `left_plan` or `excluded` (the member is back, or no longer excluded):
      `re-referral`.

    Without a provider (`unassigned/`): no referral; `new` when none of the member's
    populations was held in the previous run (`previous_assignments`: member_id,
    pof_code), else `continuing`, as before the loop.
    """
    day = pl.lit(as_of)
    held = assignments.select(
        "member_id", "pof_code", "provider_npi", _excluded_by(assignments).alias("_excluded_by")
    )
    carried = held.join(
        previous_assignments.select("member_id", "pof_code").unique(),
        on=["member_id", "pof_code"],
        how="semi",
    )
    members = (
        held.group_by("member_id")
        .agg(
            pl.col("provider_npi").drop_nulls().first(),
            (pl.col("_excluded_by") != "").any().alias("_is_excluded"),
        )
        .filter(~pl.col("_is_excluded"))
        .join(
            carried.select("member_id").unique().with_columns(pl.lit(True).alias("_carried")),
            on="member_id",
            how="left",
        )
    )
    # Enrolled with another provider, and not with the member's own.
    elsewhere = (
        enrollments.join(members.select(*PAIR), on="member_id", how="inner", suffix="_listed")
        .group_by("member_id")
        .agg((pl.col("provider_npi") != pl.col("provider_npi_listed")).all().alias("_elsewhere"))
        .filter(pl.col("_elsewhere"))
    )
    # Enrolled in ECM with the member's own provider on D, as its RTF says.
    enrolled_here = enrollments.select(PAIR).unique().with_columns(pl.lit(True).alias("_here"))
    reopened_by_closing = (
        closing.filter(pl.col("closing_as_of_date").is_not_null())
        .join(held.select("member_id", "pof_code"), on="member_id", how="inner")
        .join(
            closing_populations.select(
                pl.col("as_of_date").alias("closing_as_of_date"), "member_id", "pof_code"
            ),
            on=["closing_as_of_date", "member_id", "pof_code"],
            how="anti",
        )
        .select(PAIR)
        .unique()
        .with_columns(pl.lit(True).alias("_gained"))
    )
    frame = (
        members.join(elsewhere, on="member_id", how="left")
        .join(enrolled_here, on=PAIR, how="left")
        .join(prior_states.select(*PAIR, "state", "state_date"), on=PAIR, how="left")
        .join(reopened_by_closing, on=PAIR, how="left")
    )
    provider = pl.col("provider_npi")
    state = pl.col("state")
    due = re_referral_due(pl.col("state_date"), re_refer_after_months) <= day
    again = due.fill_null(False) | pl.col("_gained").fill_null(False)
    status = (
        pl.when(provider.is_null())
        .then(
            pl.when(pl.col("_carried").fill_null(False))
            .then(pl.lit(CONTINUING))
            .otherwise(pl.lit(NEW))
        )
        .when(pl.col("_elsewhere").fill_null(False))
        .then(pl.lit(None, dtype=pl.String))
        .when(state.is_null() & pl.col("_here").fill_null(False))
        .then(pl.lit(ENROLLED))
        .when(state.is_null())
        .then(pl.lit(NEW))
        .when(state == ENROLLED)
        .then(pl.lit(ENROLLED))
        .when(state.is_in(OPEN_STATES))
        .then(pl.lit(CONTINUING))
        .when(state.is_in(REFERABLE_AGAIN))
        .then(pl.when(again).then(pl.lit(RE_REFERRAL)).otherwise(pl.lit(None, dtype=pl.String)))
        .otherwise(pl.lit(RE_REFERRAL))
    )
    reason = (
        pl.when(provider.is_null())
        .then(pl.lit(None, dtype=pl.String))
        .when(pl.col("_elsewhere").fill_null(False))
        .then(pl.lit(ENROLLED_ELSEWHERE))
        .when(pl.col("assignment_status").is_null())
        .then(pl.lit(LOOP_CLOSED))
    )
    return (
        frame.with_columns(status.alias("assignment_status"))
        .with_columns(reason.alias("left_out_reason"))
        .select(list(LISTING_SCHEMA))
        .cast(LISTING_SCHEMA)
        .sort("member_id")
    )


def listed_member_files(listing: pl.LazyFrame, as_of: dt.date) -> pl.LazyFrame:
    """The members a run lists, as the warehouse's run_member_files records them
    (`MEMBER_FILES_SCHEMA`): every row of `listing` with an Assignment Status."""
    return (
        listing.filter(pl.col("assignment_status").is_not_null())
        .select(
            pl.lit(as_of, dtype=pl.Date).alias("as_of_date"),
            "member_id",
            "provider_npi",
            "assignment_status",
        )
        .sort("member_id", "provider_npi", nulls_last=False)
    )


def review_rows(
    enrollments: pl.LazyFrame,
    assignments: pl.LazyFrame,
    previous_assignments: pl.LazyFrame,
    membership: pl.LazyFrame,
    excluded: pl.LazyFrame,
) -> pl.LazyFrame:
    """review.parquet: the members enrolled in ECM on D whose situation changed (loop.md,
    section 3); nobody is disenrolled here.

    Grain: one row per member of `enrollments` (`ecm_enrollments`; a member enrolled
    with several providers is counted with the one of the latest enrollment start, then
    the smallest NPI) that has a reason, sorted; the columns of `REVIEW_SCHEMA`. The
    reason is `left_plan` for a member not with the plan on D (or dead: `membership`),
    who holds no population because nobody evaluates them; for the others the first of
    `no_population` (holds none on D), `fewer_populations` (holds fewer than in the
    previous run, `previous_assignments`; `lost_codes` the codes no longer held, sorted,
    `;`-joined) and `excluded` (`programs`, from `exclusions_on`).
    """
    one = enrollments.sort(
        ["member_id", "enrollment_start_date", "provider_npi"],
        descending=[False, True, False],
        nulls_last=True,
    ).unique(subset="member_id", keep="first", maintain_order=True)
    now = assignments.group_by("member_id").agg(pl.col("pof_code").unique().alias("_now"))
    before = previous_assignments.group_by("member_id").agg(
        pl.col("pof_code").unique().alias("_before")
    )
    frame = (
        one.join(now, on="member_id", how="left")
        .join(before, on="member_id", how="left")
        .join(membership.select("member_id", "is_in_plan"), on="member_id", how="left")
        .join(excluded.select("member_id", "programs"), on="member_id", how="left")
        .with_columns(
            pl.col("_now").fill_null([]).list.len().alias("_held"),
            pl.col("_before").fill_null([]).list.len().alias("_held_before"),
            pl.col("_before")
            .fill_null([])
            .list.set_difference(pl.col("_now").fill_null([]))
            .list.sort()
            .list.join(";")
            .alias("_lost"),
        )
    )
    in_plan = pl.col("is_in_plan").fill_null(False)
    reason = (
        pl.when(~in_plan)
        .then(pl.lit(LEFT_PLAN))
        .when(pl.col("_held") == 0)
        .then(pl.lit(NO_POPULATION))
        .when(pl.col("_held") < pl.col("_held_before"))
        .then(pl.lit(FEWER_POPULATIONS))
        .when(pl.col("programs").is_not_null())
        .then(pl.lit(EXCLUDED))
    )
    return (
        frame.with_columns(reason.alias("reason"))
        .filter(pl.col("reason").is_not_null())
        .with_columns(
            pl.when(pl.col("reason") == FEWER_POPULATIONS)
            .then(pl.col("_lost"))
            .alias("lost_codes"),
            pl.when(pl.col("reason") == EXCLUDED).then(pl.col("programs")).alias("programs"),
        )
        .select(list(REVIEW_SCHEMA))
        .cast(REVIEW_SCHEMA)
        .sort("member_id")
    )


def unreferred_returns(
    rtf: pl.LazyFrame, member_files: pl.LazyFrame, as_of: dt.date
) -> pl.LazyFrame:
    """RTF rows for a member the provider was never sent (loop.md, section 2: kept and
    warned `member_not_referred_to_provider`): per provider, the rows (reporting_period
    through D's month) of pairs no run on or before D listed in that provider's MIF
    (`member_files`, this run's listing included), and their members.

    Grain: one row per provider with such rows: provider_npi, rows, members; sorted.
    """
    listed = member_files.filter(
        pl.col("provider_npi").is_not_null() & (pl.col("as_of_date") <= pl.lit(as_of))
    ).select(PAIR)
    return (
        rtf.filter(pl.col("reporting_period") <= pl.lit(month_start(as_of)))
        .join(listed.unique(), on=PAIR, how="anti")
        .group_by("provider_npi")
        .agg(
            pl.len().cast(pl.Int64).alias("rows"),
            pl.col("member_id").n_unique().cast(pl.Int64).alias("members"),
        )
        .sort("provider_npi")
    )


def open_age_band(days_open: pl.Expr) -> pl.Expr:
    """The key of `OPEN_AGE_BANDS` an open loop's `days_open` falls in (empty for a
    closed loop, whose days_open is empty)."""
    band = pl.lit(None, dtype=pl.String)
    for key, first, last in reversed(OPEN_AGE_BANDS):
        within = days_open >= first if last is None else days_open.is_between(first, last)
        band = pl.when(within).then(pl.lit(key)).otherwise(band)
    return band


def loop_by_provider(
    referrals: pl.LazyFrame, listing: pl.LazyFrame, review: pl.LazyFrame
) -> pl.LazyFrame:
    """The loop per ECM provider, counted, as the report shows it: no member id.

    Grain: one row per provider with a referral known on D (`referrals`:
    referrals.parquet), a member left out of its file (`listing`: `assignment_statuses`)
    or a member enrolled with it under review (`review`: review.parquet); sorted by
    provider_npi. Columns: provider_npi; `funnel` {referred (every referral), outreach
    (an OTF attempt, or a state of `OUTREACH_MADE`), reached (a state of
    `MEMBER_REACHED`)}; `states` {each of `STATES`: referrals in it on D}; `open`;
    `open_by_age` {each band of `OPEN_AGE_BANDS`}; `overdue`; `left_out` {each of
    `LEFT_OUT_REASONS`: members left out of the provider's file}; `review` (members
    enrolled with it on review.parquet).
    """
    state = pl.col("state")
    band = open_age_band(pl.col("days_open"))
    counted = referrals.group_by("provider_npi").agg(
        pl.len().alias("_referred"),
        ((pl.col("outreach_attempts") > 0) | state.is_in(OUTREACH_MADE)).sum().alias("_outreach"),
        state.is_in(MEMBER_REACHED).sum().alias("_reached"),
        *((state == s).sum().alias(f"_state_{s}") for s in STATES),
        state.is_in(OPEN_STATES).sum().alias("_open"),
        *((band == key).sum().alias(f"_age_{key}") for key, _, _ in OPEN_AGE_BANDS),
        pl.col("is_overdue").sum().alias("_overdue"),
    )
    left_out = (
        listing.filter(
            pl.col("provider_npi").is_not_null() & pl.col("left_out_reason").is_not_null()
        )
        .group_by("provider_npi")
        .agg((pl.col("left_out_reason") == r).sum().alias(f"_left_{r}") for r in LEFT_OUT_REASONS)
    )
    reviewed = review.group_by("provider_npi").agg(pl.len().alias("_review"))

    def n(column: str) -> pl.Expr:
        return pl.col(column).fill_null(0).cast(pl.Int64)

    return (
        counted.join(left_out, on="provider_npi", how="full", coalesce=True)
        .join(reviewed, on="provider_npi", how="full", coalesce=True)
        .select(
            "provider_npi",
            pl.struct(
                n("_referred").alias("referred"),
                n("_outreach").alias("outreach"),
                n("_reached").alias("reached"),
            ).alias("funnel"),
            pl.struct(n(f"_state_{s}").alias(s) for s in STATES).alias("states"),
            n("_open").alias("open"),
            pl.struct(n(f"_age_{key}").alias(key) for key, _, _ in OPEN_AGE_BANDS).alias(
                "open_by_age"
            ),
            n("_overdue").alias("overdue"),
            pl.struct(n(f"_left_{r}").alias(r) for r in LEFT_OUT_REASONS).alias("left_out"),
            n("_review").alias("review"),
        )
        .sort("provider_npi")
    )
