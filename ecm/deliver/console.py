"""What a run says on the console: the feeds, the notes and warnings, the populations
table, and a refused run's partial summary (counts only, never a member)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol

from rich.console import Console
from rich.markup import escape
from rich.table import Table


def print_summary(
    summary: dict[str, Any], out_dir: Path | None, console: Console | None = None
) -> None:
    """The end-of-run table: feeds, members, populations, where the files are (a refused
    run, `out_dir` None, wrote none)."""
    console = console or Console()
    console.print(feeds_table(summary))
    several = summary.get("providers", {}).get("members_with_several_providers", 0)
    notes = input_notes(summary.get("input", {}))
    if several:
        notes.append(
            f"{several:,} member(s) have spans of more than one ECM provider covering the "
            f"as-of date: the latest start_date (then the smallest provider_npi) decides"
        )
    for note in notes:
        console.print(f"[yellow]note:[/yellow] {note}")
    if partial := exclusions_partial(summary):
        console.print(f"[yellow]warning:[/yellow] {partial}")
    for warning in warnings_said(summary):
        console.print(f"[yellow]warning:[/yellow] {escape(warning)}")
    if summary.get("refused_during") == "ingest":
        console.print(_refused_ingest(summary))
        console.print("No files written")
        return

    pops = Table(
        title=f"Populations of Focus on {summary['as_of_date']} "
        f"(lookback {summary['lookback']['start']} .. {summary['lookback']['end']})"
    )
    for col in ("population", "adult", "child/youth", "members", "status"):
        pops.add_column(col, justify="left" if col in ("population", "status") else "right")
    for code, c in summary["populations"].items():
        if c["status"] == "not_evaluated":
            pops.add_row(
                code, "—", "—", "—", f"not evaluated: no {', '.join(c['missing_feeds'])} feed"
            )
            continue
        status = (
            ""
            if c["status"] == "evaluated"
            else f"partial: no {', '.join(c['missing_feeds'])} feed"
        )
        pops.add_row(code, f"{c['adult']:,}", f"{c['child_youth']:,}", f"{c['members']:,}", status)
    m = summary["members"]
    pops.caption = (
        f"{m['enrolled']:,} members enrolled on the as-of date ({m['adult']:,} adults, "
        f"{m['child_youth']:,} children/youth); {summary['assigned_members']:,} hold at least "
        f"one population. Rules {summary['rules']['version']}."
    )
    console.print(pops)
    if excluded := exclusions_said(summary):
        console.print(excluded)
    loop = loop_said(summary)
    if loop:
        console.print(loop)
    timings = ", ".join(f"{k} {v:.1f}s" for k, v in summary["timings_seconds"].items())
    if out_dir is None:
        console.print(f"No files written   ({timings})")
    else:
        console.print(f"Files in [bold]{out_dir}[/bold]   ({timings})")


def loop_said(summary: dict[str, Any]) -> str | None:
    """The summary's referral loop in one sentence (counts only), or None without one."""
    loop = summary.get("loop")
    if not loop:
        return None
    states = ", ".join(f"{s} {n:,}" for s, n in loop["referrals_by_state"].items() if n)
    listed = ", ".join(f"{s} {n:,}" for s, n in loop["assignment_status"].items() if n)
    left, review = loop["left_out"], loop["review"]
    reviewed = ", ".join(f"{r} {n:,}" for r, n in review.items() if n)
    return (
        f"Referral loop: {loop['referrals']:,} referrals ({states or 'none'}), "
        f"{loop['open']:,} open, {loop['overdue']:,} overdue. Listed with a provider: "
        f"{listed or 'none'}; left out: {left['loop_closed']:,} loop closed, "
        f"{left['enrolled_elsewhere']:,} enrolled elsewhere. For review: "
        f"{sum(review.values()):,}{f' ({reviewed})' if reviewed else ''}."
    )


def exclusions_partial(summary: dict[str, Any]) -> str | None:
    """The sentence saying the exclusions were only partly evaluated (no program_enrollment
    feed: claims only), or None when they were evaluated (or the summary has none)."""
    found = summary.get("exclusions") or {}
    if found.get("status") != "partially_evaluated":
        return None
    missing = ", ".join(found.get("missing_feeds") or [])
    return (
        f"exclusions partially evaluated: no {missing} feed, so only hospice claims were read; "
        f"members in hospice, PACE, CCM, CCT, a 1915(c) waiver or a D-SNP that no claim "
        f"shows are still in the providers' files"
    )


def exclusions_said(summary: dict[str, Any]) -> str | None:
    """The exclusions in one sentence (counts only), or None when the summary has none."""
    found = summary.get("exclusions")
    if not found:
        return None
    programs = ", ".join(f"{p} {n:,}" for p, n in found["programs"].items() if n)
    members = found["members"]
    said = (
        f"Exclusions: {members:,} member{'' if members == 1 else 's'} holding a population "
        f"excluded{f' ({programs})' if programs else ''}, in no provider's file"
    )
    others = found.get("programs_not_excluding") or {}
    if others:
        rows = ", ".join(f"{p} {n:,}" for p, n in others.items())
        said += f"; program_enrollment rows of programs that never exclude: {rows}"
    if found["status"] == "partially_evaluated":
        said += " (partially evaluated: claims only)"
    return said + "."


def feeds_table(summary: dict[str, Any]) -> Table:
    """The summary's feeds: files, rows read, staged and quarantined (absent ones said)."""
    feeds = Table(title="Feeds", show_lines=False)
    for col in ("feed", "files", "read", "staged", "quarantined"):
        feeds.add_column(col, justify="left" if col == "feed" else "right")
    for name, c in summary["feeds"].items():
        if c["present"]:
            feeds.add_row(
                name,
                f"{c['files']:,}",
                f"{c['read']:,}",
                f"{c['staged']:,}",
                f"{c['quarantined']:,}",
            )
        else:
            feeds.add_row(name, "—", "absent", "", "")
    return feeds


def warnings_said(summary: dict[str, Any]) -> list[str]:
    """Every warning of the summary as the console says it (counts only): the columns
    filled below their threshold first, then the rows kept with a warning (with their
    count), then the failed expectations."""
    warnings = (summary.get("data_quality") or {}).get("warnings") or []
    thin = thin_columns(summary)
    rows = [w for w in warnings if isinstance(w.get("rows"), int)]
    rest = [w for w in warnings if w not in thin and w not in rows]
    return [
        *(f"{w['feed']}: {w['detail']}" for w in thin),
        *(f"{w['feed']}: {w['rows']:,} row{'' if w['rows'] == 1 else 's'}: {w['detail']}"
          for w in rows),
        *(f"{w['feed']}: {w['detail']}" for w in rest),
    ]  # fmt: skip


def thin_columns(summary: dict[str, Any]) -> list[dict[str, Any]]:
    """The summary's warnings of a column the rules lean on filled below its threshold
    (`data_quality.warnings` with rule `fill_rate`; counts only)."""
    warnings = (summary.get("data_quality") or {}).get("warnings") or []
    return [w for w in warnings if w.get("rule") == "fill_rate"]


def _refused_ingest(summary: dict[str, Any]) -> str:
    """What a summary the ingest's quarantine guard refused holds (partial: no member or
    population was counted; ecm.ingest.result.refused_summary), as a sentence."""
    feed, counts = next((n, c) for n, c in summary["feeds"].items() if c.get("refused"))
    quality = summary.get("data_quality", {}).get("quarantined_by_rule", [])
    broken = ", ".join(f"{r['rule']} {r['rows']:,}" for r in quality if r["feed"] == feed)
    bound = counts.get("rows_at_most")
    of = f" of at most {bound:,}" if bound and bound > counts["read"] else ""
    return (
        f"The ingest stopped in the {feed} feed after {counts['read']:,} "
        f"rows{of} ({counts['quarantined']:,} quarantined; by rule: {broken or 'none'}). "
        f"The feeds after it were not read, and no member or population was counted."
    )


def input_notes(found: dict[str, Any]) -> list[str]:
    """Sentences about what the feed directory held beyond the contract (never values)."""
    notes = [
        f"the {feed} feed has a header but no rows: it is present, and its populations "
        f"read nothing from it"
        for feed in found.get("header_only_feeds", [])
    ]
    for feed, columns in found.get("unknown_columns", {}).items():
        shown = ", ".join(columns[:6]) + (" …" if len(columns) > 6 else "")
        notes.append(
            f"the {feed} feed has {len(columns)} column(s) no contract names ({shown}): "
            f"kept in the warehouse, ignored by the rules"
        )
    for feed, files in found.get("column_differences", {}).items():
        notes.append(
            f"{len(files)} file(s) of the {feed} feed differ from its other drops in optional "
            f"or unknown columns (summary.json lists them); missing optional columns read empty"
        )
    if ignored := found.get("ignored_files"):
        shown = ", ".join(ignored[:5]) + (" …" if len(ignored) > 5 else "")
        notes.append(f"{len(ignored)} file(s) matched no feed and were not read: {shown}")
    return notes


class DemoMonth(Protocol):
    """A month of `ecm demo` (flows.demo.DemoMonth)."""

    as_of: dt.date
    out_dir: Path
    summary: dict[str, Any]


def print_demo_months(months: Sequence[DemoMonth], console: Console | None = None) -> None:
    """`ecm demo`'s months in one table: each run's members holding a population and the
    providers' answers it read (RTF rows, OTF attempts: those to the earlier months'
    member information files); where the files are."""
    console = console or Console()
    out_root = months[-1].out_dir.parent
    table = Table(
        title=f"{len(months)} month(s) in one warehouse, {out_root / 'warehouse.duckdb'}",
        caption=f"each month's files in {out_root}/YYYY-MM/; between two runs the ECM "
        f"providers answer the earlier run's member information files (the feeds' "
        f"provider_return/ and outreach/)",
    )
    for col in ("as of", "members with a population", "RTF rows read", "OTF rows read"):
        table.add_column(col, justify="left" if col == "as of" else "right")
    for month in months:
        feeds = month.summary.get("feeds", {})
        read = [
            f"{feeds[f]['read']:,}" if feeds.get(f, {}).get("present") else "—"
            for f in ("provider_return", "outreach")
        ]
        members = f"{month.summary.get('assigned_members', 0):,}"
        table.add_row(str(month.as_of), members, *read)
    console.print(table)
