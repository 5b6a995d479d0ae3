"""The referral loop's stage: the run's merged results and warehouse copy in, the loop's
files and counts out (`run_loop`, one call per run, after the merge).

It reads the merged assignments (and, when the exclusions ran, their `excluded_by` and
the `exclusions` file), the eligibility spans of the members in the loop, the staged RTF
and OTF, and the warehouse's history of earlier as-of dates; it applies the pure rules of
transforms/loop.py and writes, under its folder:

- `referrals.parquet`: every referral known on D and its state (referrals.parquet);
- `review.parquet`: the members enrolled in ECM whose situation changed;
- `listing.parquet`: every member holding a population and not excluded, with the MIF's
  Assignment Status or why the member is left out (the member information files read it);
- `member_files.parquet`: the members listed, as the warehouse's run_member_files records
  them with the run.

Its counts (`LoopResult.counts`: summary.json's `loop`) and warnings (RTF rows of members
a provider was never sent, per provider, never a member id) go to the summary.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import polars as pl

from ecm import files
from ecm.config.dates import RunDates
from ecm.config.rules import Rules
from ecm.loop import inputs
from ecm.loop.proposals import Proposals, propose_providers
from ecm.run import interrupts
from ecm.warehouse import history
from transforms import loop, proposals

REFERRALS = "referrals"
REVIEW = "review"
LISTING = "listing"
MEMBER_FILES = "member_files"
ASSIGNMENTS = "assignments"
NOT_REFERRED = "member_not_referred_to_provider"
"""The warning of RTF rows for a member the provider was never sent (loop.md, section 2)."""


@dataclass(frozen=True)
class LoopResult:
    """The loop's files (`files`: referrals, review and listing, which the writers read;
    `member_files`, which the run's history records), its counts for summary.json's
    `loop`, and its warnings for `data_quality.warnings`."""

    files: dict[str, Path]
    member_files: Path
    counts: dict[str, Any]
    warnings: list[dict[str, Any]]
    # summary.json's `proposals` (ecm.loop.proposals.Proposals.counts).
    proposal_counts: dict[str, Any] | None = None


def run_loop(
    warehouse: Path,
    results: Mapping[str, Path],
    rules: Rules,
    dates: RunDates,
    out_dir: Path,
) -> LoopResult:
    """The referral loop of the run of `dates.as_of`: `results` are the merged result
    files by name (`assignments`; `exclusions` when the exclusions ran), `warehouse` the
    run's warehouse copy (only read), `out_dir` where the loop's files go."""
    as_of = dates.as_of
    assignments = pl.read_parquet(results["assignments"])
    exclusions = pl.read_parquet(results["exclusions"]) if "exclusions" in results else None
    with interrupts.connect(warehouse) as con:
        rtf = inputs.provider_returns(con, as_of)
        otf = inputs.outreach_attempts(con, as_of)
        listed_before = history.member_files_before(con, as_of)
        previous = history.previous_run(con, as_of)
        before = (
            history.run_assignments(con, previous.run_id).select("member_id", "pof_code")
            if previous
            else pl.DataFrame(schema={"member_id": pl.String, "pof_code": pl.String})
        )
        run_dates = history.run_dates_before(con, as_of)
        members = (
            set(assignments["member_id"])
            | set(listed_before["member_id"])
            | set(rtf["member_id"])
            | (set(exclusions["member_id"]) if exclusions is not None else set())
        )
        membership = loop.plan_membership(inputs.eligibility_of(con, members).lazy(), as_of)
        excluded = loop.exclusions_on(
            assignments.lazy(), exclusions.lazy() if exclusions is not None else None
        ).collect()

        def states_of(referrals: pl.LazyFrame) -> pl.DataFrame:
            return loop.referral_states(
                referrals,
                rtf.lazy(),
                otf.lazy(),
                membership,
                excluded.lazy(),
                as_of=as_of,
                max_open_days=rules.setting("loop.max_open_days"),
            ).collect()

        prior = states_of(loop.known_referrals(listed_before.lazy(), as_of))
        closing = loop.closing_runs(prior.lazy(), run_dates.lazy(), as_of).collect()
        closing_populations = history.populations_held(
            con,
            closing.filter(pl.col("closing_as_of_date").is_not_null()).select(
                pl.col("closing_as_of_date").alias("as_of_date"), "member_id"
            ),
        )
        enrollments = loop.ecm_enrollments(rtf.lazy(), as_of)
        proposed = propose_providers(
            con,
            assignments,
            _primary_care(results),
            enrollments,
            as_of,
        )
    listing = loop.assignment_statuses(
        _listed_providers(proposed, rules.setting("assignment.auto_assign")),
        prior.lazy(),
        closing.lazy(),
        closing_populations.lazy(),
        enrollments,
        before.lazy(),
        as_of=as_of,
        re_refer_after_months=rules.setting("loop.re_refer_after_months"),
    ).collect()
    listed_now = loop.listed_member_files(listing.lazy(), as_of).collect()
    listed_ever = pl.concat([listed_before, listed_now])
    referrals = states_of(loop.known_referrals(listed_ever.lazy(), as_of))
    review = loop.review_rows(
        enrollments, assignments.lazy(), before.lazy(), membership, excluded.lazy()
    ).collect()
    unreferred = loop.unreferred_returns(rtf.lazy(), listed_ever.lazy(), as_of).collect()

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    written = {
        ASSIGNMENTS: proposed.assignments,
        REFERRALS: referrals,
        REVIEW: review,
        LISTING: listing,
        MEMBER_FILES: listed_now.drop("as_of_date"),
    }
    paths = {}
    for name, frame in written.items():
        paths[name] = out_dir / f"{name}.parquet"
        files.write_parquet(frame, paths[name])
    return LoopResult(
        files={name: paths[name] for name in (ASSIGNMENTS, REFERRALS, REVIEW, LISTING)},
        member_files=paths[MEMBER_FILES],
        counts=loop_counts(
            referrals,
            listing,
            review,
            rtf.height,
            otf.height,
            max_open_days=rules.setting("loop.max_open_days"),
        ),
        warnings=not_referred_warnings(unreferred),
        proposal_counts=proposed.counts(),
    )


def _primary_care(results: Mapping[str, Path]) -> pl.DataFrame:
    """The shards' merged `primary_care` (none when the run did not make it)."""
    if "primary_care" in results:
        return pl.read_parquet(results["primary_care"])
    return pl.DataFrame(schema=proposals.PRIMARY_CARE_SCHEMA)


def _listed_providers(proposed: Proposals, auto_assign: bool) -> pl.LazyFrame:
    """The assignments as the member information files list them: with `[assignment]
    auto_assign`, a member proposed a provider is listed with it (and a referral opens);
    otherwise they stay in unassigned/."""
    frame = proposed.assignments.lazy()
    if not auto_assign:
        return frame
    return frame.with_columns(
        pl.coalesce("provider_npi", "proposed_provider_npi").alias("provider_npi")
    )


def _count_by(frame: pl.DataFrame, column: str, keys: tuple[str, ...]) -> dict[str, int]:
    found = dict(frame.group_by(column).len().iter_rows())
    return {key: int(found.get(key, 0)) for key in keys}


def loop_counts(
    referrals: pl.DataFrame,
    listing: pl.DataFrame,
    review: pl.DataFrame,
    rtf_rows: int,
    otf_rows: int,
    *,
    max_open_days: int,
) -> dict[str, Any]:
    """summary.json's `loop` (docs/OUTPUTS.md): the referrals by state, open (and by age,
    `transforms.loop.OPEN_AGE_BANDS`) and overdue (open more than `max_open_days`, the
    rules file's, said with them), the loops discontinued by reason code (every code of
    the provider_return contract, in its order), the members listed with a provider by
    Assignment Status, those left out by reason, the review by reason, and the RTF and
    OTF rows read (dated through D)."""
    with_provider = listing.filter(pl.col("provider_npi").is_not_null())
    listed = with_provider.filter(pl.col("assignment_status").is_not_null())
    left_out = listing.filter(pl.col("left_out_reason").is_not_null())
    bands = referrals.select(loop.open_age_band(pl.col("days_open")).alias("band"))
    discontinued = referrals.filter(pl.col("state") == loop.DISCONTINUED)
    return {
        "provider_return_rows": rtf_rows,
        "outreach_rows": otf_rows,
        "referrals": referrals.height,
        "referrals_by_state": _count_by(referrals, "state", loop.STATES),
        "open": referrals.filter(pl.col("state").is_in(loop.OPEN_STATES)).height,
        "open_by_age": _count_by(bands, "band", tuple(key for key, _, _ in loop.OPEN_AGE_BANDS)),
        "overdue": int(referrals["is_overdue"].sum()),
        "max_open_days": max_open_days,
        "discontinued_by_reason": _count_by(
            discontinued, inputs.REASON_CODE, inputs.discontinuation_reason_codes()
        ),
        "discontinued_without_reason": discontinued.filter(
            pl.col(inputs.REASON_CODE).is_null()
        ).height,
        "assignment_status": _count_by(listed, "assignment_status", loop.ASSIGNMENT_STATUSES),
        "left_out": _count_by(left_out, "left_out_reason", loop.LEFT_OUT_REASONS),
        "review": _count_by(review, "reason", loop.REVIEW_REASONS),
    }


def not_referred_warnings(unreferred: pl.DataFrame) -> list[dict[str, Any]]:
    """One warning per provider that sent RTF rows for members it was never sent
    (`transforms.loop.unreferred_returns`): its NPI and counts, never a member id."""
    return [
        {
            "feed": inputs.PROVIDER_RETURN,
            "rule": NOT_REFERRED,
            "column": "provider_npi",
            "provider_npi": npi,
            "rows": int(rows),
            "members": int(members),
            "detail": (
                f"provider {npi} returned {members:,} member{'' if members == 1 else 's'} "
                f"it was never sent in a member information file (the rows are kept)"
            ),
        }
        for npi, rows, members in unreferred.iter_rows()
    ]
