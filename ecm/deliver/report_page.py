"""report.html: the run as one self-contained page a person reads, and the same facts
for Prefect's artifacts.

Pure: `render_report` takes the run's summary (summary.json's facts), the warehouse's
history rows and the month's changes per population, and returns the HTML. Counts only:
nothing here ever sees a member's row. The charts are drawn with matplotlib into inline
SVG (no script, no font or stylesheet to fetch: the page needs no network at view time);
`svg.hashsalt` is fixed per chart and the SVG carries no date, so the same facts give
the same bytes (the stage timings, shown too, make two runs' pages differ).
"""

from __future__ import annotations

import html
import io
import re
from collections.abc import Mapping, Sequence
from typing import Any

from data_contracts.validation_page import fill_rates_section

ADULT_COLOUR = "#2f6fdd"
CHILD_COLOUR = "#f0a030"
BAD_COLOUR = "#c0392b"

_CSS = """
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:24px auto;
max-width:1180px;color:#1d2330;padding:0 16px}
h1{font-size:24px;margin:0 0 4px}
h2{font-size:18px;margin:32px 0 8px;border-bottom:1px solid #dde;padding-bottom:3px}
h3{font-size:15px;margin:18px 0 6px}
.sub{color:#5a6275;margin:0 0 14px}
table{border-collapse:collapse;margin:6px 0 12px;min-width:50%}
th,td{padding:4px 10px;border-bottom:1px solid #e6e8ef;text-align:left;vertical-align:top}
th{background:#f4f6fa;font-weight:600}
td.n,th.n{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
tr.total td{font-weight:600;border-top:2px solid #cfd3de}
.cards{display:flex;gap:12px;flex-wrap:wrap;margin:14px 0}
.card{border:1px solid #e1e4ec;border-radius:8px;padding:10px 14px;min-width:150px}
.card b{display:block;font-size:22px;font-variant-numeric:tabular-nums}
.card span{color:#5a6275;font-size:12.5px}
.pill{display:inline-block;border-radius:10px;padding:1px 9px;font-size:12px;font-weight:600}
.ok{background:#dff3e6;color:#17663a}.bad{background:#fbe1e1;color:#a4161a}
.warn{background:#fff1cc;color:#7a5200}.muted{color:#5a6275}
.chart{margin:8px 0 4px}.chart svg{max-width:100%;height:auto}
.two{display:flex;gap:24px;flex-wrap:wrap;align-items:flex-start}
.two>div{flex:1 1 520px}
.nw{white-space:nowrap}
code{font-size:12.5px;background:#f4f6fa;padding:0 4px;border-radius:3px}
.attention{border:1px solid #e8c26a;background:#fff8e6;border-radius:8px;padding:8px 14px;
margin:10px 0 18px}.attention ul{margin:6px 0 2px;padding-left:20px}
footer{margin:36px 0 12px;color:#5a6275;font-size:12.5px;border-top:1px solid #dde;padding-top:8px}
"""

# Stage timings as the flow records them (flows/monthly.py), in words.
_STAGES = {
    "start_workers": "start the Dask workers",
    "ingest": "ingest the feeds",
    "shard_inputs": "write the shard inputs and the quarantine",
    "validate": "data contracts (Great Expectations)",
    "shards": "run the shards",
    "shards_events": "of which events (summed over shards)",
    "shards_assign": "of which assign (summed over shards)",
    "shards_write": "of which writing shard files (summed)",
    "merge": "merge the shards",
    "write": "write the files and record the run",
}


def _e(value: Any) -> str:
    return html.escape(str(value))


def _n(value: Any) -> str:
    if value is None:
        return "—"
    return f"{value:,}" if isinstance(value, int) else _e(value)


def _pill(kind: str, text: str) -> str:
    return f'<span class="pill {kind}">{_e(text)}</span>'


# --- charts ------------------------------------------------------------------------------


def _svg(figure: Any, salt: str) -> str:
    """The figure as an inline <svg> element: text kept as text (the page's sans-serif),
    ids salted per chart (no clash between the page's charts), no date, no metadata."""
    import matplotlib

    buffer = io.StringIO()
    with matplotlib.rc_context({"svg.hashsalt": f"ecm-{salt}", "svg.fonttype": "none"}):
        figure.savefig(buffer, format="svg", metadata={"Date": None, "Creator": None})
    text = buffer.getvalue()
    text = text[text.index("<svg") :]
    text = re.sub(r"<metadata>.*?</metadata>\s*", "", text, flags=re.DOTALL)
    return f'<div class="chart" role="img" aria-label="{_e(salt)} chart">{text}</div>'


def _figure(width: float, height: float) -> tuple[Any, Any]:
    from matplotlib.figure import Figure

    figure = Figure(figsize=(width, height), layout="constrained")
    axes = figure.subplots()
    for side in ("top", "right"):
        axes.spines[side].set_visible(False)
    axes.tick_params(labelsize=9.5)
    return figure, axes


def _font() -> dict[str, Any]:
    return {"font.family": "sans-serif", "font.size": 10}


def population_chart(populations: Mapping[str, Mapping[str, Any]]) -> str:
    """Horizontal bars, one per population evaluated (wholly or in part), adults and
    children/youth stacked; populations not evaluated are left out (the table says so)."""
    import matplotlib

    rows = [(c, p) for c, p in populations.items() if p.get("status") != "not_evaluated"]
    if not rows:
        return ""
    rows.reverse()  # the first code at the top
    codes = [c for c, _ in rows]
    adult = [p.get("adult") or 0 for _, p in rows]
    child = [p.get("child_youth") or 0 for _, p in rows]
    with matplotlib.rc_context(_font()):
        figure, axes = _figure(8.2, 0.32 * len(rows) + 0.9)
        axes.barh(codes, adult, color=ADULT_COLOUR, label="adult")
        axes.barh(codes, child, left=adult, color=CHILD_COLOUR, label="child / youth")
        top = max((a + c for a, c in zip(adult, child, strict=True)), default=0)
        for y, (a, c) in enumerate(zip(adult, child, strict=True)):
            axes.text(a + c + top * 0.01, y, f"{a + c:,}", va="center", fontsize=9)
        axes.set_xlim(0, max(1, top) * 1.1)
        axes.set_xlabel("members")
        figure.legend(loc="outside upper right", ncol=2, frameon=False, fontsize=9.5)
        axes.grid(axis="x", color="#e6e8ef")
        axes.set_axisbelow(True)
        return _svg(figure, "populations")


def trend_chart(runs: Sequence[Mapping[str, Any]]) -> str:
    """Members holding a population and assignments, one point per as-of date."""
    import matplotlib

    if not runs:
        return ""
    dates = [r["as_of_date"] for r in runs]
    with matplotlib.rc_context(_font()):
        figure, axes = _figure(8.2, 3.0)
        x = list(range(len(runs)))
        for key, label, colour, offset in (
            ("assignments", "assignments (member × population)", CHILD_COLOUR, 7),
            ("assigned_members", "members holding a population", ADULT_COLOUR, -14),
        ):
            values = [r[key] for r in runs]
            axes.plot(x, values, marker="o", color=colour, label=label, linewidth=2)
            for i, v in zip(x, values, strict=True):
                axes.annotate(
                    f"{v:,}", (i, v), textcoords="offset points", xytext=(0, offset),
                    ha="center", fontsize=9,
                )  # fmt: skip
        axes.set_xticks(x, dates)
        axes.set_xlim(-0.5, len(runs) - 0.5)
        axes.set_ylim(0, max([1, *(r["assignments"] for r in runs)]) * 1.2)
        axes.set_xlabel("as-of date")
        figure.legend(loc="outside upper right", ncol=2, frameon=False, fontsize=9.5)
        axes.grid(axis="y", color="#e6e8ef")
        axes.set_axisbelow(True)
        return _svg(figure, "trend")


def quarantine_chart(feeds: Mapping[str, Mapping[str, Any]]) -> str:
    """Rows quarantined per feed (only feeds with some), with their share of rows read."""
    import matplotlib

    rows = [(name, f) for name, f in feeds.items() if f.get("quarantined")]
    if not rows:
        return ""
    rows.reverse()
    with matplotlib.rc_context(_font()):
        figure, axes = _figure(8.2, 0.36 * len(rows) + 0.9)
        counts = [f["quarantined"] for _, f in rows]
        axes.barh([n for n, _ in rows], counts, color=BAD_COLOUR)
        top = max(counts)
        for y, (_, f) in enumerate(rows):
            share = f["quarantined"] / f["read"] if f.get("read") else 0
            axes.text(
                f["quarantined"] + top * 0.01, y, f"{f['quarantined']:,} ({share:.1%} of rows)",
                va="center", fontsize=9,
            )  # fmt: skip
        axes.set_xlim(0, top * 1.35)
        axes.set_xlabel("rows quarantined")
        axes.grid(axis="x", color="#e6e8ef")
        axes.set_axisbelow(True)
        return _svg(figure, "quarantine")


# --- the page ----------------------------------------------------------------------------


def trend_rows(
    summary: Mapping[str, Any], history: Sequence[Mapping[str, Any]]
) -> list[dict[str, Any]]:
    """The warehouse's runs (rows of ecm.warehouse.history's `runs`: as_of_date, enrolled_members,
    assignments, assigned_members) with this run in place of any recorded run of its
    as-of date (it replaces that one), sorted by as-of date; `this_run` marks it."""
    as_of = str(summary["as_of_date"])
    rows = [
        {
            "as_of_date": str(r["as_of_date"]),
            "enrolled_members": r["enrolled_members"],
            "assignments": r["assignments"],
            "assigned_members": r["assigned_members"],
            "this_run": False,
        }
        for r in history
        if str(r["as_of_date"]) != as_of
    ]
    rows.append(
        {
            "as_of_date": as_of,
            "enrolled_members": summary["members"]["enrolled"],
            "assignments": summary["assignments"],
            "assigned_members": summary["assigned_members"],
            "this_run": True,
        }
    )
    return sorted(rows, key=lambda r: r["as_of_date"])


def _header(summary: Mapping[str, Any]) -> list[str]:
    members = summary["members"]
    changes = summary.get("changes") or {}
    files = summary.get("member_information_files") or {}
    rules = summary["rules"]
    lookback = summary["lookback"]
    previous = changes.get("previous_as_of_date")
    return [
        f"<h1>ECM populations of focus, as of {_e(summary['as_of_date'])}</h1>",
        f"<p class='sub'>Lookback {_e(lookback['start'])} .. {_e(lookback['end'])} · rules "
        f"{_e(rules['version'])} · ecm {_e(summary['ecm_version'])} · methods: avoidable ED "
        f"<code>{_e(summary['methods']['avoidable_ed'])}</code>, unplanned stay "
        f"<code>{_e(summary['methods']['unplanned_stay'])}</code>, avoidable stay "
        f"<code>{_e(summary['methods']['avoidable_stay'])}</code></p>",
        "<div class='cards'>",
        f"<div class='card'>members enrolled<b>{_n(members['enrolled'])}</b><span>"
        f"{_n(members['adult'])} adults · {_n(members['child_youth'])} children/youth"
        "</span></div>",
        f"<div class='card'>hold a population<b>{_n(summary['assigned_members'])}</b>"
        f"<span>{_n(summary['assignments'])} assignments</span></div>",
        f"<div class='card'>new this month<b>{_n(changes.get('new'))}</b><span>"
        + (f"since {_e(previous)}" if previous else "first run in this warehouse")
        + "</span></div>",
        f"<div class='card'>ended<b>{_n(changes.get('ended'))}</b><span>"
        + (f"since {_e(previous)}" if previous else "no earlier run")
        + "</span></div>",
        f"<div class='card'>ECM providers<b>{_n(files.get('providers'))}</b><span>"
        f"{_members(files.get('unassigned_members'))} with no provider</span></div>",
        "</div>",
        *_attention(summary),
    ]


def _members(n: Any) -> str:
    return f"{_n(n)} member{'' if n == 1 else 's'}"


def _attention(summary: Mapping[str, Any]) -> list[str]:
    """What lowers or changes the counts of this run, said before them, each with its
    numbers (the Data quality section has the detail): columns the rules lean on filled
    below their threshold, rows kept with a warning, exclusions partially evaluated (no
    program_enrollment feed), rows quarantined."""
    quality = summary.get("data_quality") or {}
    items = [_e(w["detail"]) for w in quality.get("warnings") or [] if w.get("rule") == "fill_rate"]
    items += [
        f"{_n(w['rows'])} {_e(w['feed'])} row{'' if w['rows'] == 1 else 's'}: {_e(w['detail'])}"
        for w in quality.get("warnings") or []
        if isinstance(w.get("rows"), int)
    ]
    exclusions = summary.get("exclusions") or {}
    if exclusions.get("status") == "partially_evaluated":
        items.append(
            "Exclusions partially evaluated: no "
            f"{_e(', '.join(exclusions.get('missing_feeds') or []))} feed, so only hospice "
            "claims were read; members in hospice, PACE, CCM, CCT, a 1915(c) waiver or a "
            "D-SNP that no claim shows are still in the providers' files"
        )
    quarantined = sum(q.get("rows", 0) for q in quality.get("quarantined_by_rule") or [])
    if quarantined:
        items.append(
            f"{_n(quarantined)} row{'' if quarantined == 1 else 's'} quarantined: set aside, "
            "not read by the rules (quarantine.parquet has each with its reason)"
        )
    if not items:
        return []
    return [
        "<div class='attention'><b>Read before using these lists</b> "
        "<a href='#quality'>(data quality)</a><ul>",
        *(f"<li>{item}</li>" for item in items),
        "</ul></div>",
    ]


def _status(p: Mapping[str, Any]) -> str:
    feeds = ", ".join(p.get("missing_feeds") or [])
    if p["status"] == "not_evaluated":
        return _pill("bad", "not evaluated") + f" <span class='muted'>no {_e(feeds)} feed</span>"
    if p["status"] == "partially_evaluated":
        return _pill("warn", "partial") + f" <span class='muted'>no {_e(feeds)} feed</span>"
    return _pill("ok", "evaluated")


def _populations(summary: Mapping[str, Any]) -> list[str]:
    pops = summary["populations"]
    parts = [
        "<h2 id='populations'>Members per population and age group</h2>",
        "<p class='sub'>A member may hold several populations; the total counts members once.</p>",
        population_chart(pops),
        "<table><tr><th>population</th><th>title</th><th class='n'>adult</th>"
        "<th class='n'>child / youth</th><th class='n'>members</th><th>status</th></tr>",
    ]
    for code, p in pops.items():
        parts.append(
            f"<tr><td><code>{_e(code)}</code></td><td>{_e(p.get('title', code))}</td>"
            f"<td class='n'>{_n(p.get('adult'))}</td><td class='n'>{_n(p.get('child_youth'))}"
            f"</td><td class='n'>{_n(p.get('members'))}</td><td class='nw'>{_status(p)}</td></tr>"
        )
    parts.append(
        f"<tr class='total'><td colspan='4'>members holding at least one population</td>"
        f"<td class='n'>{_n(summary['assigned_members'])}</td><td></td></tr></table>"
    )
    return parts


def _evaluation(summary: Mapping[str, Any]) -> list[str]:
    parts = ["<h2 id='evaluation'>Populations not or partially evaluated</h2>"]
    missing = summary.get("populations_not_evaluated") or {}
    partial = summary.get("populations_partially_evaluated") or {}
    if not missing and not partial:
        return [
            *parts,
            "<p>Every population was evaluated: every feed its rules read was present.</p>",
        ]
    parts.append(
        "<p class='sub'>A feed is absent from the input folder: the populations that need it "
        "are not evaluated (their counts are unknown, not zero); those that read it for one "
        "of several criteria are evaluated without it and may be undercounted.</p>"
        "<table><tr><th>population</th><th>status</th><th>missing feeds</th></tr>"
    )
    for code, feeds in missing.items():
        parts.append(
            f"<tr><td><code>{_e(code)}</code></td><td>{_pill('bad', 'not evaluated')}</td>"
            f"<td>{_e(', '.join(feeds))}</td></tr>"
        )
    for code, feeds in partial.items():
        parts.append(
            f"<tr><td><code>{_e(code)}</code></td><td>{_pill('warn', 'partially evaluated')}"
            f"</td><td>{_e(', '.join(feeds))}</td></tr>"
        )
    parts.append("</table>")
    return parts


def _trend(runs: Sequence[Mapping[str, Any]]) -> list[str]:
    parts = ["<h2 id='trend'>Trend over the warehouse's runs</h2>"]
    if len(runs) == 1:
        parts.append(
            "<p class='sub'>The first run recorded in this warehouse: the trend starts here.</p>"
        )
    parts.append(trend_chart(runs))
    parts.append(
        "<table><tr><th>as-of date</th><th class='n'>members enrolled</th>"
        "<th class='n'>members holding a population</th><th class='n'>assignments</th></tr>"
    )
    for r in runs:
        mark = " <span class='muted'>(this run)</span>" if r.get("this_run") else ""
        parts.append(
            f"<tr><td>{_e(r['as_of_date'])}{mark}</td><td class='n'>{_n(r['enrolled_members'])}"
            f"</td><td class='n'>{_n(r['assigned_members'])}</td>"
            f"<td class='n'>{_n(r['assignments'])}</td></tr>"
        )
    parts.append("</table>")
    return parts


def _changes(
    summary: Mapping[str, Any], by_population: Mapping[str, Mapping[str, int]]
) -> list[str]:
    changes = summary.get("changes") or {}
    previous = changes.get("previous_as_of_date")
    parts = ["<h2 id='changes'>This month's changes</h2>"]
    if previous:
        parts.append(
            f"<p class='sub'>Against the run of {_e(previous)}: <b>new</b> is held now and not "
            f"then, <b>ended</b> was held then and not now (the member left the plan, died or "
            f"no longer meets the rule). changes.parquet lists them.</p>"
        )
    else:
        parts.append(
            "<p class='sub'>No earlier run in this warehouse: every assignment is new.</p>"
        )
    parts.append(
        "<table><tr><th>population</th><th class='n'>new</th><th class='n'>ended</th></tr>"
    )
    for code in summary["populations"]:
        c = by_population.get(code, {})
        if c.get("new") or c.get("ended"):
            parts.append(
                f"<tr><td><code>{_e(code)}</code></td><td class='n'>{_n(c.get('new', 0))}</td>"
                f"<td class='n'>{_n(c.get('ended', 0))}</td></tr>"
            )
    parts.append(
        f"<tr class='total'><td>all populations</td><td class='n'>{_n(changes.get('new'))}</td>"
        f"<td class='n'>{_n(changes.get('ended'))}</td></tr></table>"
    )
    return parts


def _quality(summary: Mapping[str, Any]) -> list[str]:
    feeds = summary["feeds"]
    quality = summary.get("data_quality") or {}
    expectations = quality.get("expectations") or {}
    parts = [
        "<h2 id='quality'>Data quality</h2>",
        "<table><tr><th>feed</th><th class='n'>files</th><th class='n'>rows read</th>"
        "<th class='n'>staged</th><th class='n'>quarantined</th><th>expectations</th></tr>",
    ]
    for name, f in feeds.items():
        if not f.get("present", True):
            parts.append(
                f"<tr><td>{_e(name)}</td><td colspan='5' class='muted'>absent from the input "
                "folder</td></tr>"
            )
            continue
        entries = expectations.get(name, [])
        failed = sum(not e.get("success") for e in entries)
        verdict = (
            ""
            if not entries
            else _pill("ok", f"{len(entries)} passed")
            if not failed
            else _pill("bad", f"{failed} of {len(entries)} failed")
        )
        quarantined = f.get("quarantined", 0)
        parts.append(
            f"<tr><td>{_e(name)}</td><td class='n'>{_n(f.get('files'))}</td>"
            f"<td class='n'>{_n(f.get('read'))}</td><td class='n'>{_n(f.get('staged'))}</td>"
            f"<td class='n'>{_pill('bad', f'{quarantined:,}') if quarantined else '0'}</td>"
            f"<td>{verdict}</td></tr>"
        )
    parts.append("</table>")
    parts.append(fill_rates_section(quality.get("fill_rates") or []))
    by_rule = quality.get("quarantined_by_rule") or []
    parts.append("<h3>Quarantined rows by feed and rule</h3>")
    if by_rule:
        parts.append(quarantine_chart(feeds))
        parts.append(
            "<p class='sub'>Rows that break a rule of the feed's contract are set aside, not "
            "read by the rules; quarantine.parquet holds each with its file, line and the "
            "reason.</p><table><tr><th>feed</th><th>rule</th><th class='n'>rows</th></tr>"
        )
        parts += [
            f"<tr><td>{_e(q['feed'])}</td><td><code>{_e(q['rule'])}</code></td>"
            f"<td class='n'>{_n(q['rows'])}</td></tr>"
            for q in by_rule
        ]
        parts.append("</table>")
    else:
        parts.append("<p>No row was quarantined.</p>")
    parts.append("<h3>Row and expectation warnings (the rows are kept)</h3>")
    # the fill-rate warnings are said above, with the fill rates
    warnings = [w for w in quality.get("warnings") or [] if w.get("rule") != "fill_rate"]
    if warnings:
        parts.append(
            "<table><tr><th>feed</th><th>rule</th><th>column</th><th class='n'>rows</th>"
            "<th>detail</th></tr>"
        )
        parts += [
            f"<tr><td>{_e(w.get('feed', ''))}</td><td><code>{_e(w.get('rule', ''))}</code></td>"
            f"<td>{_e(w.get('column') or '')}</td>"
            f"<td class='n'>{_n(w['rows']) if isinstance(w.get('rows'), int) else ''}</td>"
            f"<td>{_e(w.get('detail', ''))}</td></tr>"
            for w in warnings
        ]
        parts.append("</table>")
    else:
        parts.append("<p>None: no row kept with a warning, no expectation failed.</p>")
    npi = quality.get("npi_check_digit_failures") or []
    if npi:
        parts.append(
            "<h3>NPIs failing their check digit (reported, kept)</h3><table><tr><th>feed</th>"
            "<th>column</th><th class='n'>distinct NPIs</th><th class='n'>rows</th></tr>"
        )
        parts += [
            f"<tr><td>{_e(f.get('feed'))}</td><td>{_e(f.get('column'))}</td>"
            f"<td class='n'>{_n(f.get('distinct_npis'))}</td>"
            f"<td class='n'>{_n(f.get('lines', f.get('rows')))}</td></tr>"
            for f in npi
        ]
        parts.append("</table>")
    failed = [
        (feed, e) for feed, entries in expectations.items() for e in entries if not e.get("success")
    ]
    total = sum(len(entries) for entries in expectations.values())
    parts.append(
        f"<h3>Expectations (Great Expectations): {total - len(failed)} of {total} passed</h3>"
    )
    if failed:
        parts.append(
            "<table><tr><th>feed</th><th>expectation</th><th>column(s)</th>"
            "<th class='n'>unexpected rows</th><th class='n'>share</th></tr>"
        )
        for feed, e in failed:
            column = e.get("column")
            column = ", ".join(column) if isinstance(column, list) else (column or "(table)")
            share = e.get("unexpected_percent")
            parts.append(
                f"<tr><td>{_e(feed)}</td><td><code>{_e(e.get('expectation'))}</code></td>"
                f"<td>{_e(column)}</td><td class='n'>{_n(e.get('unexpected_count'))}</td>"
                f"<td class='n'>{f'{share:.2f}%' if isinstance(share, int | float) else ''}"
                "</td></tr>"
            )
        parts.append("</table>")
    return parts


def _timings(summary: Mapping[str, Any]) -> list[str]:
    timings = summary.get("timings_seconds") or {}
    parts = [
        "<h2 id='timings'>Stage timings</h2>",
        "<table><tr><th>stage</th><th class='n'>seconds</th></tr>",
    ]
    for stage, seconds in timings.items():
        label = _STAGES.get(stage, stage)
        indent = " style='padding-left:26px'" if stage.startswith("shards_") else ""
        parts.append(
            f"<tr><td{indent}>{_e(label)} <span class='muted'>({_e(stage)})</span></td>"
            f"<td class='n'>{seconds:,.2f}</td></tr>"
        )
    parts.append(
        "</table><p class='sub'>Writing the files (this page among them) and recording the "
        "run come after it: the summary <code>ecm run</code> prints times them as "
        "<code>write</code>.</p>"
    )
    return parts


def render_report(
    summary: Mapping[str, Any],
    history: Sequence[Mapping[str, Any]] = (),
    changes_by_population: Mapping[str, Mapping[str, int]] | None = None,
) -> str:
    """The run's page. `summary`: summary.json's facts (with `changes` and
    `member_information_files`); `history`: the warehouse's `runs` rows (this run is
    added, replacing a recorded run of its as-of date); `changes_by_population`: code →
    `{new, ended}` (changes.parquet counted)."""
    runs = trend_rows(summary, history)
    body = [
        *_header(summary),
        *_populations(summary),
        *_evaluation(summary),
        *_trend(runs),
        *_changes(summary, changes_by_population or {}),
        *_quality(summary),
        *_timings(summary),
        "<footer>Written by ecm for the run of "
        f"{_e(summary['as_of_date'])}. Counts only: this page holds no member data. The "
        "members are in assignments.csv and the providers' member information files; "
        "summary.json holds these facts as data.</footer>",
    ]
    return (
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>"
        "<meta name='viewport' content='width=device-width, initial-scale=1'>"
        f"<title>ECM run {_e(summary['as_of_date'])}</title><style>{_CSS}</style></head>"
        "<body>\n" + "\n".join(p for p in body if p) + "\n</body></html>\n"
    )


# --- Prefect artifacts -------------------------------------------------------------------


def population_table(summary: Mapping[str, Any]) -> list[dict[str, Any]]:
    """One row per population: code, title, status, adult, child_youth, members (None
    when not evaluated), missing feeds. Counts only."""
    return [
        {
            "population": code,
            "title": p.get("title", code),
            "status": p["status"],
            "adult": p.get("adult") if p["status"] != "not_evaluated" else None,
            "child_youth": p.get("child_youth") if p["status"] != "not_evaluated" else None,
            "members": p.get("members"),
            "missing_feeds": ", ".join(p.get("missing_feeds") or []),
        }
        for code, p in summary["populations"].items()
    ]


def summary_markdown(summary: Mapping[str, Any], report_path: str) -> str:
    """The run summary as markdown (Prefect's markdown artifact): counts per population
    and where the report is. Counts only."""
    members = summary["members"]
    changes = summary.get("changes") or {}
    previous = changes.get("previous_as_of_date")
    lines = [
        f"# ECM run as of {summary['as_of_date']}",
        "",
        f"- Report: `{report_path}`",
        f"- Rules {summary['rules']['version']}, ecm {summary['ecm_version']}; lookback "
        f"{summary['lookback']['start']} .. {summary['lookback']['end']}",
        f"- Members enrolled: {members['enrolled']:,} ({members['adult']:,} adults, "
        f"{members['child_youth']:,} children/youth)",
        f"- Members holding a population: {summary['assigned_members']:,} "
        f"({summary['assignments']:,} assignments)",
        f"- Changes: {changes.get('new', 0):,} new, {changes.get('ended', 0):,} ended "
        + (f"since {previous}" if previous else "(first run in this warehouse)"),
        "",
        "| population | status | adult | child/youth | members |",
        "|---|---|---:|---:|---:|",
    ]
    for row in population_table(summary):
        status = row["status"].replace("_", " ")
        if row["missing_feeds"]:
            status += f" (no {row['missing_feeds']} feed)"
        cells = [_md(row[k]) for k in ("adult", "child_youth", "members")]
        lines.append(f"| {row['population']} | {status} | {' | '.join(cells)} |")
    return "\n".join(lines) + "\n"


def _md(value: Any) -> str:
    return "—" if value is None else f"{value:,}"
