"""What a person reads: the run summary table and a member's explanation."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import polars as pl
from rich.console import Console
from rich.table import Table

from ecm.errors import EcmError


def print_summary(
    summary: dict[str, Any], out_dir: Path | None, console: Console | None = None
) -> None:
    """The end-of-run table: feeds, members, populations, where the files are (a refused
    run, `out_dir` None, wrote none)."""
    console = console or Console()
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
    console.print(feeds)
    several = summary.get("providers", {}).get("members_with_several_providers", 0)
    notes = input_notes(summary.get("input", {}))
    if several:
        notes.append(
            f"{several:,} member(s) have spans of more than one ECM provider covering the "
            f"as-of date: the latest start_date (then the smallest provider_npi) decides"
        )
    for note in notes:
        console.print(f"[yellow]note:[/yellow] {note}")

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
    timings = ", ".join(f"{k} {v:.1f}s" for k, v in summary["timings_seconds"].items())
    if out_dir is None:
        console.print(f"No files written   ({timings})")
    else:
        console.print(f"Files in [bold]{out_dir}[/bold]   ({timings})")


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


def explain_member(member_id: str, run_dir: Path, facts_per_criterion: int | None = 5) -> str:
    """A member's populations and the facts behind each, as plain text.

    Shows at most `facts_per_criterion` facts of each criterion (the latest), and how many
    more there are; None shows them all.
    """
    run_dir = Path(run_dir)
    try:
        assignments = pl.read_parquet(run_dir / "assignments.parquet")
        evidence = pl.read_parquet(run_dir / "evidence.parquet")
    except FileNotFoundError as exc:
        raise EcmError(
            f"{run_dir} is not a run's output folder: {exc.filename} is missing."
        ) from None
    held = assignments.filter(pl.col("member_id") == member_id)
    lines: list[str] = []
    metrics_path = run_dir / "member_metrics.parquet"
    metrics = pl.read_parquet(metrics_path).filter(pl.col("member_id") == member_id)
    if held.height == 0:
        if metrics.height == 0:
            return f"Member {member_id} was not enrolled on the run's as-of date (or is unknown)."
        row = metrics.row(0, named=True)
        return (
            f"Member {member_id} (age {row['age']}, {row['age_group']}) holds no population. "
            f"ED visits {row['ed_visits_12m']}, avoidable {row['avoidable_ed_visits_12m']:g}; "
            f"unplanned stays {row['unplanned_stays_12m']}, avoidable "
            f"{row['avoidable_unplanned_stays_12m']}."
        )
    for a in held.iter_rows(named=True):
        lines.append(
            f"{a['pof_code']} ({a['age_group']}) since {a['qualifying_date']}: "
            f"{a['evidence_summary']}"
        )
        facts = evidence.filter(
            (pl.col("member_id") == member_id) & (pl.col("pof_code") == a["pof_code"])
        ).sort("criterion", "event_date", "source_key")
        for (criterion,), group in facts.group_by("criterion", maintain_order=True):
            shown = group if facts_per_criterion is None else group.tail(facts_per_criterion)
            if shown.height < group.height:
                lines.append(
                    f"  {criterion}: {group.height} facts, the latest {shown.height} shown "
                    f"(--all for every one)"
                )
            for f in shown.iter_rows(named=True):
                code = f" {f['code']}" if f["code"] else ""
                source = f"{f['source_feed']}:{f['source_key']}"
                lines.append(f"  {f['event_date']}  {f['criterion']:<40} {source}{code}")
    return "\n".join(lines)
