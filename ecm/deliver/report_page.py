"""report.html: the run as one self-contained page a person reads, and the same facts
for Prefect's artifacts.

Pure: `render_report` takes the run's summary (summary.json's facts), the warehouse's
history rows, the month's changes per population and the referral loop's counts per
provider (`LoopFacts`), and returns the HTML. Counts only: nothing here ever sees a
member's row. The charts are drawn with matplotlib into inline
SVG (no script, no font or stylesheet to fetch: the page needs no network at view time);
`svg.hashsalt` is fixed per chart and the SVG carries no date, so the same facts give
the same bytes (the stage timings, shown too, make two runs' pages differ).
"""

from __future__ import annotations

import html
import io
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from data_contracts.validation_page import fill_rates_section
from transforms.loop import (
    DECLINED,
    DISCONTINUED,
    ENROLLED,
    EXCLUDED,
    FUNNEL,
    LEFT_OUT_REASONS,
    LEFT_PLAN,
    NOT_ELIGIBLE,
    OPEN_AGE_BANDS,
    OUTREACH,
    PENDING,
    REACHED,
    REFERRED,
    REVIEW_REASONS,
    UNABLE_TO_REACH,
)

ADULT_COLOUR = "#2f6fdd"
CHILD_COLOUR = "#f0a030"
BAD_COLOUR = "#c0392b"
# A referral's state on the as-of date, in the order the loop's charts stack them: the
# open states as blues, then enrolled and discontinued (greens), the refusals, and the
# loops closed by leaving the plan or an exclusion (greys).
STATE_COLOURS = {
    REFERRED: "#c9d3e6",
    OUTREACH: "#93b4ea",
    REACHED: "#4f86e0",
    PENDING: "#27509c",
    ENROLLED: "#2e9d5b",
    DISCONTINUED: "#a3d4b3",
    DECLINED: CHILD_COLOUR,
    UNABLE_TO_REACH: BAD_COLOUR,
    NOT_ELIGIBLE: "#8e6bbf",
    LEFT_PLAN: "#9aa0aa",
    EXCLUDED: "#5b6068",
}
# The loop's outcomes, one column each in the table per provider; the loops closed by
# leaving the plan or by an exclusion share one.
OUTCOMES = (ENROLLED, DISCONTINUED, DECLINED, UNABLE_TO_REACH, NOT_ELIGIBLE)
CLOSED_OTHERWISE = (LEFT_PLAN, EXCLUDED)
DISCONTINUED_COLOUR = "#5aa874"
# The charts of the loop per provider draw at most this many providers (the most
# referrals); the tables list every one.
CHART_PROVIDERS = 40

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
.card{border:1px solid #e1e4ec;border-radius:8px;padding:10px 14px;min-width:150px;
max-width:260px;flex:1 1 150px}
.card b{display:block;font-size:22px;font-variant-numeric:tabular-nums}
.card span{color:#5a6275;font-size:12.5px}
.pill{display:inline-block;border-radius:10px;padding:1px 9px;font-size:12px;font-weight:600}
.ok{background:#dff3e6;color:#17663a}.bad{background:#fbe1e1;color:#a4161a}
.warn{background:#fff1cc;color:#7a5200}.muted{color:#5a6275}
.chart{margin:8px 0 4px}.chart svg{max-width:100%;height:auto}
.two{display:flex;gap:24px;flex-wrap:wrap;align-items:flex-start}
.two>div{flex:1 1 520px}
.nw{white-space:nowrap}
table.wide{font-size:13px}table.wide th.n{white-space:normal;vertical-align:bottom}
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
    "loop": "the referral loop",
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


def _label(key: str) -> str:
    """A state, reason or band key in words: `unable_to_reach` is "unable to reach"."""
    return key.replace("_", " ")


def _top_providers(providers: Sequence[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """The providers a per-provider chart draws: every one up to CHART_PROVIDERS, else
    those with the most referrals (ties to the smaller NPI); in NPI order."""
    chosen = sorted(providers, key=lambda p: (-p["funnel"]["referred"], p["provider_npi"]))
    return sorted(chosen[:CHART_PROVIDERS], key=lambda p: p["provider_npi"])


def loop_states_chart(providers: Sequence[Mapping[str, Any]]) -> str:
    """One bar per provider (the first NPI at the top), its referrals known on the as-of
    date stacked by state, open states first (referred → outreach → reached → pending),
    then how the loop closed; the total at the bar's end."""
    import matplotlib

    rows = [p for p in _top_providers(providers) if p["funnel"]["referred"]]
    if not rows:
        return ""
    rows.reverse()
    names = [p["provider_npi"] for p in rows]
    with matplotlib.rc_context(_font()):
        figure, axes = _figure(8.2, 0.34 * len(rows) + 1.3)
        left = [0] * len(rows)
        for state, colour in STATE_COLOURS.items():
            values = [p["states"].get(state, 0) for p in rows]
            if not any(values):
                continue
            axes.barh(names, values, left=left, color=colour, label=_label(state), height=0.7)
            left = [a + b for a, b in zip(left, values, strict=True)]
        top = max(left)
        for y, total in enumerate(left):
            axes.text(total + top * 0.01, y, f"{total:,}", va="center", fontsize=9)
        axes.set_xlim(0, max(1, top) * 1.08)
        axes.set_xlabel("referrals known on the as-of date, by state")
        figure.legend(loc="outside upper center", ncol=6, frameon=False, fontsize=9)
        axes.grid(axis="x", color="#e6e8ef")
        axes.set_axisbelow(True)
        return _svg(figure, "loop-states")


def open_age_chart(open_by_age: Mapping[str, int], max_open_days: int | None) -> str:
    """Open referrals per age band (loop.md's 0–30, 31–60, 61–90, more than 90 days);
    a band every loop of which is overdue (its first day past max_open_days) is red."""
    import matplotlib

    if not any(open_by_age.values()):
        return ""
    bands = [(key, first, last) for key, first, last in OPEN_AGE_BANDS]
    labels = [
        f"{first}–{last} days" if last else f"over {first - 1} days" for _, first, last in bands
    ]
    values = [open_by_age.get(key, 0) for key, _, _ in bands]
    colours = [
        BAD_COLOUR if max_open_days is not None and first > max_open_days else ADULT_COLOUR
        for _, first, _ in bands
    ]
    with matplotlib.rc_context(_font()):
        figure, axes = _figure(5.6, 2.6)
        axes.bar(labels, values, color=colours, width=0.6)
        top = max(values)
        for x, v in enumerate(values):
            axes.text(x, v + top * 0.02, f"{v:,}", ha="center", va="bottom", fontsize=9)
        axes.set_ylim(0, max(1, top) * 1.18)
        axes.set_ylabel("open referrals")
        axes.grid(axis="y", color="#e6e8ef")
        axes.set_axisbelow(True)
        return _svg(figure, "open-age")


def counts_chart(counts: Sequence[tuple[str, int]], salt: str, colour: str, xlabel: str) -> str:
    """Horizontal bars, one per (label, count) with a count (the first at the top), each
    count at its bar's end: discontinuations by reason, exclusions by program."""
    import matplotlib

    rows = [(label, n) for label, n in counts if n]
    if not rows:
        return ""
    rows.reverse()
    with matplotlib.rc_context(_font()):
        figure, axes = _figure(8.2, 0.32 * len(rows) + 0.8)
        axes.barh([label for label, _ in rows], [n for _, n in rows], color=colour, height=0.6)
        top = max(n for _, n in rows)
        for y, (_, n) in enumerate(rows):
            axes.text(n + top * 0.01, y, f"{n:,}", va="center", fontsize=9)
        axes.set_xlim(0, top * 1.12)
        axes.set_xlabel(xlabel)
        axes.grid(axis="x", color="#e6e8ef")
        axes.set_axisbelow(True)
        return _svg(figure, salt)


def capacity_chart(capacity: Sequence[Mapping[str, Any]]) -> str:
    """One bar per roster provider (the first NPI at the top): the places taken on the
    as-of date, the members proposed to it in this run and the room left, stacked to its
    capacity (taken beyond the capacity in red); "proposed · room left" at the bar's end."""
    import matplotlib

    rows = [c for c in capacity if c["capacity"] or c["taken"] or c["proposed"]]
    if not rows:
        return ""
    rows = list(reversed(rows))
    names = [c["provider_npi"] for c in rows]
    segments = (
        ("taken", [min(c["taken"], c["capacity"]) for c in rows], "#9aa0aa"),
        ("taken beyond capacity", [max(0, c["taken"] - c["capacity"]) for c in rows], BAD_COLOUR),
        ("proposed", [c["proposed"] for c in rows], "#2e9d5b"),
        ("room left", [max(0, c["room_left"]) for c in rows], "#c9d3e6"),
    )
    with matplotlib.rc_context(_font()):
        figure, axes = _figure(8.2, 0.34 * len(rows) + 1.3)
        left = [0] * len(rows)
        for label, values, colour in segments:
            if not any(values):
                continue
            axes.barh(names, values, left=left, color=colour, label=label, height=0.7)
            left = [a + b for a, b in zip(left, values, strict=True)]
        top = max(left)
        for y, (total, c) in enumerate(zip(left, rows, strict=True)):
            axes.text(
                total + top * 0.01, y, f"{c['proposed']:,} proposed · {c['room_left']:,} left",
                va="center", fontsize=9,
            )  # fmt: skip
        axes.set_xlim(0, max(1, top) * 1.3)
        axes.set_xlabel("members per provider: capacity taken, proposed, room left")
        figure.legend(loc="outside upper center", ncol=4, frameon=False, fontsize=9)
        axes.grid(axis="x", color="#e6e8ef")
        axes.set_axisbelow(True)
        return _svg(figure, "capacity")


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
        *_loop_card(summary),
        "</div>",
        *_attention(summary),
    ]


def _loop_card(summary: Mapping[str, Any]) -> list[str]:
    loop = summary.get("loop")
    if not loop:
        return []
    return [
        f"<div class='card'>referrals open<b>{_n(loop.get('open'))}</b><span>"
        f"{_n(loop.get('overdue'))} overdue · <a href='#loop'>the loop</a></span></div>"
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


# --- the loop with ECM providers ----------------------------------------------------------


@dataclass(frozen=True)
class LoopFacts:
    """What the page shows of the loop besides the summary's counts, read by the writer
    (ecm.deliver.writers.write_report), counts only.

    `providers`: one mapping per ECM provider (transforms.loop.loop_by_provider's rows:
    provider_npi, funnel {referred, outreach, reached}, states {state: n}, open,
    open_by_age {band: n}, overdue, left_out {reason: n}, review); `reason_names`: each
    discontinuation reason code's name (the provider_return contract's value_names);
    `program_names`: each exclusion program code's name, when known."""

    providers: Sequence[Mapping[str, Any]] = ()
    reason_names: Mapping[str, str] = field(default_factory=dict)
    program_names: Mapping[str, str] = field(default_factory=dict)


# Members holding a population with an ECM provider: listed (the MIF's Assignment
# Status) or left out, in words.
_LISTED = {
    "new": "listed for the first time with this provider: a referral opens",
    "continuing": "listed before, the loop still open",
    "enrolled": "enrolled in ECM with this provider",
    "re-referral": "listed again after the loop closed (time passed, or a population gained)",
}
_LEFT_OUT = {
    "loop_closed": "the loop closed (discontinued, declined, unable to reach or not "
    "eligible) and neither re-referral condition holds yet",
    "enrolled_elsewhere": "enrolled in ECM with another provider, as its RTF says",
}
_REVIEW = {
    "no_population": "holds no population on the as-of date",
    "fewer_populations": "holds fewer populations than in the previous run",
    "excluded": "excluded by a program that duplicates ECM",
    "left_plan": "left the plan or died",
}


def _exclusions(summary: Mapping[str, Any], names: Mapping[str, str]) -> list[str]:
    """The exclusions (loop.md, section 1), when the run evaluated them: members excluded
    per program, whether the evaluation was partial, the program_enrollment rows of
    programs that never exclude. Nothing for a summary without `exclusions`."""
    found = summary.get("exclusions")
    if not found:
        return []
    parts = ["<h2 id='exclusions'>Members excluded: programs that duplicate ECM</h2>"]
    missing = ", ".join(found.get("missing_feeds") or [])
    if found.get("status") == "partially_evaluated":
        parts.append(
            f"<p>{_pill('warn', 'partially evaluated')} <span class='muted'>no {_e(missing)} "
            "feed: only hospice claims were read, so members in another program may still be "
            "in the providers' files</span></p>"
        )
    else:
        parts.append(f"<p>{_pill('ok', 'evaluated')}</p>")
    members = found.get("members") or 0
    programs = found.get("programs") or {}
    if not members:
        parts.append("<p>No member holding a population is excluded on the as-of date.</p>")
    else:
        parts.append(
            f"<p class='sub'>{_members(members)} holding a population "
            f"{'is' if members == 1 else 'are'} excluded: they keep their populations and are in "
            "no provider's file, not even <code>unassigned/</code> (exclusions.parquet lists "
            "them; a member in two programs counts in both).</p>"
        )
        parts.append(
            counts_chart(
                [(_coded(code, names), n) for code, n in programs.items()],
                "exclusions",
                CHILD_COLOUR,
                "members holding a population excluded",
            )
        )
    parts.append("<table><tr><th>program</th><th class='n'>members excluded</th></tr>")
    parts += [
        f"<tr><td>{_coded_html(code, names)}</td><td class='n'>{_n(n)}</td></tr>"
        for code, n in programs.items()
    ]
    parts.append(
        f"<tr class='total'><td>members excluded</td><td class='n'>{_n(members)}</td></tr></table>"
    )
    others = found.get("programs_not_excluding") or {}
    if others:
        parts.append(
            "<h3>Programs that never exclude</h3><p class='sub'>program_enrollment rows of a "
            "program outside the exclusions table (such as SMHS targeted case management) or "
            "left out of <code>[exclusions] programs</code>: staged and counted, never "
            "excluding.</p><table><tr><th>program</th><th class='n'>rows</th></tr>"
        )
        parts += [
            f"<tr><td><code>{_e(program)}</code></td><td class='n'>{_n(rows)}</td></tr>"
            for program, rows in others.items()
        ]
        parts.append("</table>")
    return parts


def _coded(code: str, names: Mapping[str, str], width: int = 40) -> str:
    """A code and its name as a chart labels it: "name (code)", the name cut to `width`
    characters (the table beside it has it whole); the name alone when it is the code."""
    name = names.get(code)
    if not name:
        return code
    if len(name) > width:
        name = name[: width - 1].rstrip() + "…"
    return name if name.lower() == code.lower() else f"{name} ({code})"


def _coded_html(code: str, names: Mapping[str, str]) -> str:
    name = f" {_e(names[code])}" if code in names else ""
    return f"<code>{_e(code)}</code>{name}"


def _loop(summary: Mapping[str, Any], facts: LoopFacts) -> list[str]:
    """The referral loop (loop.md, section 3): per provider, the referrals from referred
    to their outcome; the open loops by age and overdue; the discontinuations by reason;
    the members listed or left out; the enrolled members for review. Nothing for a summary
    without `loop` (a run before the loop)."""
    loop = summary.get("loop")
    if not loop:
        return []
    as_of = _e(summary["as_of_date"])
    rtf, otf = loop.get("provider_return_rows", 0), loop.get("outreach_rows", 0)
    parts = [
        "<h2 id='loop'>The referral loop with ECM providers</h2>",
        f"<p class='sub'>Every referral known on {as_of} (a member listed in a provider's "
        "member information file opens one) and its state, from what the providers sent "
        f"back through the as-of date: {_n(rtf)} return transmission file (RTF) "
        f"row{'' if rtf == 1 else 's'} and {_n(otf)} outreach tracker file (OTF) "
        f"attempt{'' if otf == 1 else 's'}. referrals.parquet has each one.</p>",
    ]
    answered = bool(rtf or otf)
    if not loop.get("referrals"):
        parts.append(
            f"<p>No referral is known on {as_of}: no member has been listed with an ECM "
            "provider yet.</p>"
        )
    else:
        parts += _funnel(loop, facts, answered)
        parts += _open_loops(loop, facts, as_of)
        parts += _discontinued(loop, facts, answered)
    parts += _listed(loop, facts)
    parts += _review(loop)
    return parts


def _funnel(loop: Mapping[str, Any], facts: LoopFacts, answered: bool) -> list[str]:
    providers = facts.providers
    parts = [
        "<h3>Per provider: referred → outreach → reached → enrolled / declined / unable to "
        "reach</h3>"
    ]
    if not answered:
        parts.append(
            "<p>No provider has sent anything back yet (no RTF or OTF row through the as-of "
            f"date): all {_n(loop['referrals'])} referrals are <b>referred</b>, waiting for "
            "the providers' first files. The funnel starts with them.</p>"
        )
    else:
        parts.append(
            "<p class='sub'><b>outreach</b>: the provider tried to reach the member (an OTF "
            "attempt, or a state that needs one); <b>reached</b>: the member was reached (a "
            "successful attempt, enrolled, discontinued or declined). The chart stacks each "
            "provider's referrals by their state on the as-of date"
            + (
                f"; it draws the {CHART_PROVIDERS} providers with the most referrals, the table "
                "lists every one"
                if len(providers) > CHART_PROVIDERS
                else ""
            )
            + ".</p>"
        )
        parts.append(loop_states_chart(providers))
    # Before any answer every referral is `referred`: only the counts that can differ.
    outcomes, closed_other = (OUTCOMES, CLOSED_OTHERWISE) if answered else ((), ())
    funnel = FUNNEL if answered else FUNNEL[:1]
    head = [
        *funnel, *(_label(o) for o in outcomes),
        *(["left plan / excluded"] if closed_other else []), "open", "overdue",
    ]  # fmt: skip
    parts.append(
        "<table class='wide'><tr><th class='nw'>provider NPI</th>"
        + "".join(f"<th class='n'>{_e(h)}</th>" for h in head)
        + "</tr>"
    )
    totals = [0] * len(head)
    for p in providers:
        if not p["funnel"]["referred"]:
            continue
        states = p["states"]
        row = [
            *(p["funnel"][stage] for stage in funnel), *(states.get(o, 0) for o in outcomes),
            *([sum(states.get(c, 0) for c in closed_other)] if closed_other else []),
            p["open"], p["overdue"],
        ]  # fmt: skip
        totals = [a + b for a, b in zip(totals, row, strict=True)]
        parts.append(
            f"<tr><td><code>{_e(p['provider_npi'])}</code></td>"
            + "".join(f"<td class='n'>{_n(v)}</td>" for v in row)
            + "</tr>"
        )
    parts.append(
        "<tr class='total'><td class='nw'>every provider</td>"
        + "".join(f"<td class='n'>{_n(v)}</td>" for v in totals)
        + "</tr></table>"
    )
    return parts


def _open_loops(loop: Mapping[str, Any], facts: LoopFacts, as_of: str) -> list[str]:
    by_age = loop.get("open_by_age") or {}
    max_days = loop.get("max_open_days")
    open_, overdue = loop.get("open", 0), loop.get("overdue", 0)
    over = f"open more than {_n(max_days)} days" if max_days is not None else "overdue"
    parts = ["<h3>Open loops by age, and overdue</h3>"]
    if not open_:
        return [*parts, f"<p>No loop is open on {as_of}: every referral has an outcome.</p>"]
    parts.append(
        "<div class='cards'>"
        f"<div class='card'>open loops<b>{_n(open_)}</b><span>referred, outreach, reached "
        "or pending</span></div>"
        f"<div class='card'>overdue<b>{_n(overdue)}</b><span>{over} "
        "(<code>[loop] max_open_days</code>)</span></div></div>"
    )
    chart = open_age_chart(by_age, max_days)
    if sum(1 for n in by_age.values() if n) == 1:
        # one band holds every open loop (a first run: all 0–30): the table above has the
        # open loops per provider already
        return [*parts, chart]
    parts.append(f"<div class='two'><div>{chart}</div><div>")
    bands = [
        (key, f"{first}–{last}" if last else f"&gt; {first - 1}")
        for key, first, last in OPEN_AGE_BANDS
    ]
    parts.append(
        "<table class='wide'><tr><th class='nw'>provider NPI</th><th class='n'>open</th>"
        + "".join(f"<th class='n'>{label} days</th>" for _, label in bands)
        + "<th class='n'>overdue</th></tr>"
    )
    for p in facts.providers:
        if not p["open"]:
            continue
        parts.append(
            f"<tr><td><code>{_e(p['provider_npi'])}</code></td><td class='n'>{_n(p['open'])}</td>"
            + "".join(f"<td class='n'>{_n(p['open_by_age'].get(key, 0))}</td>" for key, _ in bands)
            + f"<td class='n'>{_n(p['overdue'])}</td></tr>"
        )
    parts.append(
        f"<tr class='total'><td class='nw'>every provider</td><td class='n'>{_n(open_)}</td>"
        + "".join(f"<td class='n'>{_n(by_age.get(key, 0))}</td>" for key, _ in bands)
        + f"<td class='n'>{_n(overdue)}</td></tr></table></div></div>"
    )
    return parts


def _discontinued(loop: Mapping[str, Any], facts: LoopFacts, answered: bool) -> list[str]:
    by_reason = loop.get("discontinued_by_reason") or {}
    without = loop.get("discontinued_without_reason", 0)
    total = sum(by_reason.values()) + without
    parts = ["<h3>Discontinuations by reason</h3>"]
    if not total:
        said = "No referral is discontinued on the as-of date." if answered else ""
        return [*parts, f"<p>{said or 'None: no provider has sent an RTF yet.'}</p>"]
    names = facts.reason_names
    parts.append(
        "<p class='sub'>Referrals whose state on the as-of date is <b>discontinued</b>, by the "
        "RTF's discontinuation reason code (DHCS's codes).</p>"
    )
    parts.append(
        counts_chart(
            [(_coded(code, names), n) for code, n in by_reason.items()]
            + [("no code given", without)],
            "discontinued",
            DISCONTINUED_COLOUR,
            "referrals discontinued",
        )
    )
    parts.append("<table><tr><th>reason code</th><th>reason</th><th class='n'>referrals</th></tr>")
    parts += [
        f"<tr><td><code>{_e(code)}</code></td><td>{_e(names.get(code, ''))}</td>"
        f"<td class='n'>{_n(n)}</td></tr>"
        for code, n in by_reason.items()
        if n
    ]
    if without:
        parts.append(
            "<tr><td class='muted'>none</td><td class='muted'>no code given (an enrollment "
            f"ended, or discontinued without a code)</td><td class='n'>{_n(without)}</td></tr>"
        )
    parts.append(
        f"<tr class='total'><td colspan='2'>discontinued</td><td class='n'>{_n(total)}</td>"
        "</tr></table>"
    )
    return parts


def _listed(loop: Mapping[str, Any], facts: LoopFacts) -> list[str]:
    """Members holding a population with an ECM provider: listed by Assignment Status,
    and those left out of the provider's file by reason; per provider, those left out
    and those enrolled with it under review."""
    listed = loop.get("assignment_status") or {}
    left_out = loop.get("left_out") or {}
    parts = [
        "<h3>Members listed in a provider's file, and members left out</h3>",
        "<table><tr><th></th><th class='nw'>Assignment Status / reason</th><th>meaning</th>"
        "<th class='n'>members</th></tr>",
    ]
    for status, n in listed.items():
        parts.append(
            f"<tr><td class='nw'>listed</td><td><code>{_e(status)}</code></td>"
            f"<td>{_e(_LISTED.get(status, ''))}</td><td class='n'>{_n(n)}</td></tr>"
        )
    for reason in LEFT_OUT_REASONS:
        parts.append(
            f"<tr><td class='nw'>left out</td><td><code>{_e(reason)}</code></td>"
            f"<td>{_e(_LEFT_OUT.get(reason, ''))}</td>"
            f"<td class='n'>{_n(left_out.get(reason, 0))}</td></tr>"
        )
    parts.append(
        "</table><p class='sub'><code>unassigned/</code> is not counted here: without a "
        "provider there is no referral.</p>"
    )
    rows = [p for p in facts.providers if p["review"] or any(p["left_out"].values())]
    if rows:
        parts.append(
            "<table class='wide'><tr><th class='nw'>provider NPI</th>"
            + "".join(f"<th class='n'>left out: {_e(_label(r))}</th>" for r in LEFT_OUT_REASONS)
            + "<th class='n'>enrolled with it, for review</th></tr>"
        )
        parts += [
            f"<tr><td><code>{_e(p['provider_npi'])}</code></td>"
            + "".join(f"<td class='n'>{_n(p['left_out'].get(r, 0))}</td>" for r in LEFT_OUT_REASONS)
            + f"<td class='n'>{_n(p['review'])}</td></tr>"
            for p in rows
        ]
        parts.append("</table>")
    return parts


def _review(loop: Mapping[str, Any]) -> list[str]:
    review = loop.get("review") or {}
    total = sum(review.values())
    parts = ["<h3>Members enrolled in ECM, for review</h3>"]
    if not total:
        return [
            *parts,
            "<p>No member enrolled in ECM on the as-of date needs review: each still holds the "
            "populations they held.</p>",
        ]
    parts.append(
        f"<p class='sub'>{_members(total)} enrolled in ECM on the as-of date whose situation "
        "changed, each counted once, under the first reason that applies. review.parquet lists "
        "them for the plan's disenrolment review; nobody is disenrolled by ecm.</p>"
        "<table><tr><th>reason</th><th>meaning</th><th class='n'>members</th></tr>"
    )
    for reason in REVIEW_REASONS:
        parts.append(
            f"<tr><td><code>{_e(reason)}</code></td><td>{_e(_REVIEW.get(reason, ''))}</td>"
            f"<td class='n'>{_n(review.get(reason, 0))}</td></tr>"
        )
    parts.append(
        f"<tr class='total'><td colspan='2'>for review</td><td class='n'>{_n(total)}</td></tr>"
        "</table>"
    )
    return parts


def _proposals(summary: Mapping[str, Any]) -> list[str]:
    """Proposals for members with no ECM provider (loop.md, section 4): by reason and
    capacity use per roster provider. Nothing for a summary without `proposals`; one
    sentence when no roster was delivered."""
    found = summary.get("proposals")
    if not found:
        return []
    parts = ["<h2 id='proposals'>Proposals for members with no ECM provider</h2>"]
    candidates = found.get("candidates", 0)
    if not found.get("roster_providers"):
        parts.append(
            f"<p>No <code>ecm_provider</code> roster was delivered: the {_members(candidates)} "
            "holding a population with no ECM provider stay in <code>unassigned/</code> with "
            "no provider proposed.</p>"
        )
        return parts
    by_reason = found.get("by_reason") or {}
    reasons = [*by_reason.items(), ("none", found.get("none", 0))]
    parts.append(
        f"<p class='sub'>{_members(candidates)} holding a population, not excluded and with "
        f"no ECM provider on the as-of date, taken in member_id order: the primary care "
        f"provider when it is on the roster, serves one of their populations and has room "
        f"(<b>pcp</b>), else the roster provider of their county serving one of their "
        f"populations with the most room (<b>county_capacity</b>), else <b>none</b> "
        f"(no provider could take them). Roster: {_n(found['roster_providers'])} "
        f"provider(s). assignments.csv holds each proposal.</p>"
    )
    parts.append("<h3>Proposals by reason</h3>")
    parts.append(counts_chart(reasons, "proposals", ADULT_COLOUR, "members"))
    parts.append("<table><tr><th>reason</th><th class='n'>members</th></tr>")
    parts += [
        f"<tr><td><code>{_e(reason)}</code></td><td class='n'>{_n(n)}</td></tr>"
        for reason, n in reasons
    ]
    parts.append(
        f"<tr class='total'><td>all members with no ECM provider</td>"
        f"<td class='n'>{_n(candidates)}</td></tr></table>"
    )
    capacity = found.get("capacity") or []
    parts.append("<h3>Capacity use per provider</h3>")
    parts.append(
        "<p class='sub'>Taken: the members a provider_assignment span gives it on the as-of "
        "date or enrolled in ECM with it (its RTF); proposed: in this run; room left = "
        "capacity − taken − proposed (below 0 when the plan gave it more than its capacity)."
        "</p>"
    )
    parts.append(capacity_chart(capacity))
    parts.append(
        "<table><tr><th>provider NPI</th><th class='n'>capacity</th><th class='n'>taken</th>"
        "<th class='n'>proposed</th><th class='n'>room left</th></tr>"
    )
    for c in capacity:
        room = _n(c["room_left"])
        if c["room_left"] <= 0:
            room = f"{_pill('bad' if c['room_left'] < 0 else 'warn', 'full')} {room}"
        parts.append(
            f"<tr><td><code>{_e(c['provider_npi'])}</code></td><td class='n'>"
            f"{_n(c['capacity'])}</td><td class='n'>{_n(c['taken'])}</td><td class='n'>"
            f"{_n(c['proposed'])}</td><td class='n'>{room}</td></tr>"
        )
    parts.append("</table>")
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
    loop: LoopFacts | None = None,
) -> str:
    """The run's page. `summary`: summary.json's facts (with `changes` and
    `member_information_files`); `history`: the warehouse's `runs` rows (this run is
    added, replacing a recorded run of its as-of date); `changes_by_population`: code →
    `{new, ended}` (changes.parquet counted); `loop`: the referral loop per provider and
    the names of the codes it shows (`LoopFacts`)."""
    runs = trend_rows(summary, history)
    facts = loop or LoopFacts()
    body = [
        *_header(summary),
        *_populations(summary),
        *_evaluation(summary),
        *_exclusions(summary, facts.program_names),
        *_trend(runs),
        *_changes(summary, changes_by_population or {}),
        *_loop(summary, facts),
        *_proposals(summary),
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
