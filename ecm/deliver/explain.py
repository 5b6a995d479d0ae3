"""`ecm explain`: why a member holds each population, event by event, what excludes them
(a program that duplicates ECM), and how close they came to the others, read from a run's
output folder (its assignments, evidence, member metrics, exclusions and summary.json);
then the member's referrals and member information file (its referrals.parquet and
providers/ folders). How close, in words, is each population's own `why_not`, declared
beside its rule (transforms.populations)."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import polars as pl

from ecm.deliver.member_files import PROVIDERS, mif_file_name
from ecm.errors import EcmError
from ecm.loop.inputs import discontinuation_reason_names
from ecm.warehouse.sql import staged_text
from transforms.loop import (
    CONTINUING,
    ENROLLED,
    ENROLLED_ELSEWHERE,
    LOOP_CLOSED,
    NEW,
    RE_REFERRAL,
    REFERABLE_AGAIN,
    re_referral_due,
)
from transforms.member_information import ASSIGNMENT_STATUS, MEMBER_CIN, UNASSIGNED
from transforms.populations import Population
from transforms.populations.registry import POPULATIONS


def explain_member(member_id: str, run_dir: Path, facts_per_criterion: int | None = 5) -> str:
    """A member's populations and the facts behind each, then how close the member came to
    each population it does not hold, as plain text (from the run's assignments,
    evidence, member_metrics and summary.json; thresholds from the run's rules file).

    Shows at most `facts_per_criterion` facts of each criterion (the latest), and how many
    more there are; None shows them all. A member not enrolled on the run's as-of date
    (or not in its eligibility at all) is an EcmError: there is nothing to explain.
    `member_id` is taken as the ingest stages member_id (ecm.warehouse.sql.staged_text: trimmed).
    """
    typed, member_id = member_id, staged_text(member_id)
    if member_id is None:
        raise EcmError(
            f"The member id is empty ({typed!r}, trimmed as the ingest trims ids); "
            f"expected a member's id as the eligibility feed gives it."
        )
    run_dir = Path(run_dir)
    files = ["assignments", "evidence", "member_metrics"]
    missing = [f"{name}.parquet" for name in files if not (run_dir / f"{name}.parquet").is_file()]
    missing += [] if (run_dir / "summary.json").is_file() else ["summary.json"]
    if missing:
        raise EcmError(f"{run_dir} is not a run's output folder: {missing[0]} is missing.")
    summary = json.loads((run_dir / "summary.json").read_text(encoding="utf-8"))
    # Only the member's rows are read (a plan's files hold a million members).
    assignments, evidence, metrics = pl.collect_all(
        [
            pl.scan_parquet(run_dir / f"{name}.parquet").filter(pl.col("member_id") == member_id)
            for name in files
        ]
    )
    if metrics.height == 0:
        raise EcmError(
            f"Member {member_id} was not enrolled on the run's as-of date "
            f"{summary.get('as_of_date', '')} (or is not in its eligibility feed): "
            f"the run has nothing on them."
        )
    row = metrics.row(0, named=True)
    held = assignments
    lines: list[str] = []
    if held.height == 0:
        lines.append(
            f"Member {member_id} (age {row['age']}, {row['age_group']}) holds no population."
        )
    for a in held.iter_rows(named=True):
        lines.append(
            f"{a['pof_code']} ({a['age_group']}) since {a['qualifying_date']}: "
            f"{a['evidence_summary']}"
        )
        facts = evidence.filter(pl.col("pof_code") == a["pof_code"]).sort(
            "criterion", "event_date", "source_key"
        )
        for (criterion,), group in facts.group_by("criterion", maintain_order=True):
            shown = group if facts_per_criterion is None else group.tail(facts_per_criterion)
            if shown.height < group.height:
                lines.append(
                    f"  {criterion}: {group.height} facts, the latest {shown.height} shown "
                    f"(--all for every one)"
                )
            for f in shown.iter_rows(named=True):
                code = f"  {f['code']}" if f["code"] else ""
                lines.append(
                    f"  {f['event_date']}  {f['criterion']:<40} "
                    f"{source_text(f['source_feed'], f['source_key'])}{code}"
                )
    if held.height:
        lines.extend(exclusion_lines(member_id, run_dir, summary))
    rules, rules_note = _run_rules(summary)
    not_held = why_not(row, set(held["pof_code"]), summary.get("populations", {}), rules)
    if not_held:
        lines.append("Why not:" if rules_note is None else f"Why not ({rules_note}):")
        lines.extend(f"  {line}" for line in not_held)
    lines.extend(referral_lines(member_id, run_dir, summary, held, rules))
    return "\n".join(lines)


# --- the referral loop ----------------------------------------------------------------

# What each Assignment Status of a member information file says (outputs.md).
_STATUS_SAID = {
    NEW: "first listed with this provider: a referral opened on the as-of date",
    CONTINUING: "listed before, the loop still open",
    ENROLLED: "enrolled in ECM with this provider",
    RE_REFERRAL: "listed again after its loop closed: a new referral opened on the as-of date",
}


def referral_lines(
    member_id: str,
    run_dir: Path,
    summary: dict[str, Any],
    held: pl.DataFrame,
    rules: dict[str, Any] | None,
) -> list[str]:
    """The member's referrals on the run's as-of date (referrals.parquet: provider,
    opened, state, since, days open, overdue, what the providers said), then whether a
    member information file lists them and with what Assignment Status, or why they are
    left out. Nothing for a run written before the referral loop (no referrals.parquet).

    A member left out is in no file of the run, and the run keeps no file of why: the
    reason is read off the referrals as the loop decides it (transforms.loop,
    assignment_statuses): enrolled in ECM with another provider first, then a loop with
    the member's provider closed in a state it is referred again from (with the date it
    will be, from the run's rules file), else an RTF of another provider, never sent the
    member, saying they are enrolled with it."""
    path = run_dir / "referrals.parquet"
    if not path.is_file():
        return []
    as_of = summary.get("as_of_date", "")
    referrals = (
        pl.scan_parquet(path)
        .filter(pl.col("member_id") == member_id)
        .sort("provider_npi", "opened_date")
        .collect()
    )
    max_days = ((rules or {}).get("loop") or {}).get("max_open_days")
    if referrals.height == 0:
        lines = [
            f"Referrals on {as_of}: none (no provider's member information file has listed them)."
        ]
    else:
        lines = [f"Referrals on {as_of} (referrals.parquet):"]
        lines.append(
            f"  {'provider':<10}  {'opened':<10}  {'state':<15}  {'since':<10}  "
            f"{'days open':>9}  overdue"
        )
        for r in referrals.iter_rows(named=True):
            is_open = r["days_open"] is not None
            overdue = (
                ("yes" + (f" (over {max_days} days)" if max_days is not None else ""))
                if r["is_overdue"]
                else "no"
                if is_open
                else "— (closed)"
            )
            lines.append(
                f"  {r['provider_npi']:<10}  {r['opened_date']!s:<10}  {r['state']:<15}  "
                f"{r['state_date'] or ''!s:<10}  "
                f"{str(r['days_open']) if is_open else '—':>9}  {overdue}"
            )
            said = _what_providers_said(r)
            if said:
                lines.append(f"  {'':<10}  {said}")
    lines.append(_member_file_line(member_id, run_dir, summary, held, referrals, rules))
    return lines


def _what_providers_said(r: dict[str, Any]) -> str:
    """A referral's enrollment, discontinuation and outreach, as referrals.parquet has them."""
    parts = []
    if r["enrollment_start_date"] is not None or r["enrollment_end_date"] is not None:
        end = r["enrollment_end_date"] or "ongoing"
        parts.append(f"enrolled {r['enrollment_start_date'] or '?'} .. {end}")
    if r["discontinuation_reason_code"]:
        code = r["discontinuation_reason_code"]
        name = discontinuation_reason_names().get(code)
        parts.append(f"discontinued: {code}" + (f" ({name})" if name else ""))
    if r["closure_reason"]:
        parts.append(f"loop closure reason {r['closure_reason']}")
    if r["outreach_attempts"]:
        n = r["outreach_attempts"]
        parts.append(
            f"{n} outreach attempt{'' if n == 1 else 's'}, the last {r['last_outreach_date']}"
        )
    return "; ".join(parts)


def _mif_row(member_id: str, run_dir: Path, as_of: str) -> tuple[str, str, str] | None:
    """The member's row in the run's member information files: (folder, file name,
    Assignment Status), or None when no file lists them."""
    try:
        name = mif_file_name("*", dt.date.fromisoformat(as_of))
    except ValueError:
        return None
    for path in sorted((run_dir / PROVIDERS).glob(f"*/{name}")):
        found = (
            pl.scan_csv(path, separator="|", infer_schema=False, quote_char='"')
            .select(pl.col(MEMBER_CIN), pl.col(ASSIGNMENT_STATUS))
            .filter(pl.col(MEMBER_CIN) == member_id)
            .collect()
        )
        if found.height:
            return path.parent.name, path.name, found[ASSIGNMENT_STATUS][0]
    return None


def _member_file_line(
    member_id: str,
    run_dir: Path,
    summary: dict[str, Any],
    held: pl.DataFrame,
    referrals: pl.DataFrame,
    rules: dict[str, Any] | None,
) -> str:
    as_of = summary.get("as_of_date", "")
    if held.height == 0:
        return "Member information file: none lists the member (they hold no population)."
    excluded = (
        held.filter(pl.col("excluded_by") != "")["excluded_by"].first()
        if "excluded_by" in held.columns
        else None
    )
    if excluded:
        return f"Member information file: none lists the member (excluded by {excluded})."
    found = _mif_row(member_id, run_dir, as_of)
    if found is not None:
        folder, name, status = found
        if folder == UNASSIGNED:
            return (
                f"Member information file: {name} ({UNASSIGNED}/), Assignment Status {status}: "
                "no ECM provider on the as-of date, so no referral."
            )
        return (
            f"Member information file: {name} (provider {folder}), Assignment Status "
            f"{status}: {_STATUS_SAID.get(status, status)}."
        )
    provider = held["provider_npi"].drop_nulls().first()
    if provider is None:
        return "Member information file: none of the run's files lists the member."
    return f"Member information file: left out of provider {provider}'s file: " + _left_out_why(
        provider, referrals, rules
    )


def _left_out_why(provider: str, referrals: pl.DataFrame, rules: dict[str, Any] | None) -> str:
    elsewhere = referrals.filter(
        (pl.col("provider_npi") != provider) & (pl.col("state") == ENROLLED)
    )
    if elsewhere.height:
        other = elsewhere.row(0, named=True)
        return (
            f"enrolled in ECM with provider {other['provider_npi']} since "
            f"{other['state_date']} ({ENROLLED_ELSEWHERE})."
        )
    closed = referrals.filter(
        (pl.col("provider_npi") == provider) & pl.col("state").is_in(REFERABLE_AGAIN)
    )
    if closed.height:
        loop = closed.row(0, named=True)
        months = ((rules or {}).get("loop") or {}).get("re_refer_after_months")
        when = (
            "after [loop] re_refer_after_months"
            if months is None
            else "from "
            + str(pl.select(re_referral_due(pl.lit(loop["state_date"]), months)).item())
            + f" ({months} months after it closed)"
        )
        return (
            f"its loop closed as {loop['state']} on {loop['state_date']} ({LOOP_CLOSED}); it is "
            f"listed again {when}, or sooner if the member gains a population."
        )
    return (
        "a provider's RTF says the member is enrolled in ECM with it on the as-of date "
        f"({ENROLLED_ELSEWHERE}; a provider never sent the member, so no referral shows it)."
    )


def exclusion_lines(member_id: str, run_dir: Path, summary: dict[str, Any]) -> list[str]:
    """What excludes a member holding a population on the run's as-of date (the run's
    exclusions.parquet: program, source and dates of each), or that nothing does; the
    exclusions' partial evaluation said. Nothing for a run written before exclusions."""
    path = run_dir / "exclusions.parquet"
    if not path.is_file():
        return []
    rows = (
        pl.scan_parquet(path)
        .filter(pl.col("member_id") == member_id)
        .sort("program", "source_feed", "source_key")
        .collect()
    )
    status = summary.get("exclusions") or {}
    partial = (
        f" (exclusions partially evaluated: no {', '.join(status.get('missing_feeds', []))} "
        f"feed, only hospice claims read)"
        if status.get("status") == "partially_evaluated"
        else ""
    )
    as_of = summary.get("as_of_date", "")
    if rows.height == 0:
        return [f"Not excluded on {as_of}: no program that duplicates ECM{partial}."]
    programs = ";".join(rows["program"].unique(maintain_order=True))
    lines = [
        f"Excluded on {as_of} by {programs}{partial}: in no provider's member information "
        f"file (the populations above are kept)."
    ]
    for r in rows.iter_rows(named=True):
        until = r["end_date"] if r["end_date"] is not None else "ongoing"
        lines.append(
            f"  {r['program']:<15} {r['start_date']} .. {until}  "
            f"{source_text(r['source_feed'], r['source_key'])}"
        )
    return lines


def source_text(source_feed: str, source_key: str) -> str:
    """An evidence row's key as the docs name it: a claim id, a feed row's `file:line`, a
    household's subscriber_id."""
    if source_feed == "medical_claim":
        return f"claims {source_key}" if "; " in source_key else f"claim {source_key}"
    if source_feed == "eligibility":
        return f"household (subscriber_id {source_key})"
    return source_key


def _run_rules(summary: dict[str, Any]) -> tuple[dict[str, Any] | None, str | None]:
    """The rules file the run used (summary.json names it and its sha256), or None and a
    note when it is gone or has changed since: then thresholds are not shown."""
    named = summary.get("rules", {})
    try:
        raw = Path(named["file"]).read_bytes()
    except (KeyError, OSError):
        return None, f"the run's rules file {named.get('file')} is not readable: no thresholds"
    if hashlib.sha256(raw).hexdigest() != named.get("sha256"):
        return None, f"the rules file {named['file']} changed since the run: no thresholds"
    return tomllib.loads(raw.decode("utf-8")), None


def why_not(
    m: dict[str, Any],
    held: set[str],
    populations: dict[str, dict[str, Any]],
    rules: dict[str, Any] | None,
    registry: Mapping[str, Population] = POPULATIONS,
) -> list[str]:
    """For each population of the run the member does not hold, one line on how close
    they came, from their member_metrics row `m`: the reasons a rule's parts are not met,
    counts against the run's thresholds, in the words of the population's own `why_not`
    (declared beside its rule in `registry`; "not held" without one). Lines with a reason
    first, then populations not evaluated, then those of the other age group."""
    blocks = (rules or {}).get("populations", {})
    lookback_months = (rules or {}).get("time", {}).get("lookback_months", 12)
    out: list[tuple[int, str]] = []
    for code, status in populations.items():
        if code in held:
            continue
        if status.get("status") == "not_evaluated":
            feeds = ", ".join(status.get("missing_feeds", []))
            out.append((1, f"{code}: not evaluated (no {feeds} feed)"))
            continue
        block = blocks.get(code, {})
        group = block.get("age_group", _default_age_group(code, registry))
        if group and group != m["age_group"]:
            wanted = "an adult" if group == "adult" else "a child/youth"
            out.append((2, f"{code}: not {wanted} (age {m['age']})"))
            continue
        population = registry.get(code)
        if population is None or population.why_not is None:
            reason = "not held"
        else:
            reason = population.why_not(m, block, rules)
        if block.get("lookback_months", lookback_months) != lookback_months:
            reason += (
                f" (counts over the {lookback_months}-month lookback; this population counts "
                f"over {block['lookback_months']} months)"
            )
        if status.get("status") == "partially_evaluated":
            reason += f" (partially evaluated: no {', '.join(status['missing_feeds'])} feed)"
        out.append((0, f"{code}: {reason}"))
    return [line for _, line in sorted(out, key=lambda item: item[0])]


def _default_age_group(code: str, registry: Mapping[str, Population]) -> str | None:
    """When the rules file is not readable: the age group in a registered population's
    code (None: neither _ADULT nor _CHILD, or not registered)."""
    if code not in registry or not code.endswith(("_ADULT", "_CHILD")):
        return None
    return "adult" if code.endswith("_ADULT") else "child_youth"
