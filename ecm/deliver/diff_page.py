"""diff.html: what rules file B would change against A (`ecm diff`), as one self-contained
page in report.html's style, built from its pieces (ecm.deliver.report_page: the style
sheet, the number and status cells, the inline-SVG charts).

Pure: `render_diff_page` takes the diff's summary (ecm.diff.build.diff_summary: counts,
both rules files and the settings that differ) and returns the HTML. Counts only: nothing
here sees a member's row; provider NPIs name organisations, as in report.html.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ecm.deliver.report_page import (
    _CSS,
    ADULT_COLOUR,
    BAD_COLOUR,
    CHILD_COLOUR,
    _e,
    _figure,
    _font,
    _n,
    _pill,
    _svg,
)

GAINED_COLOUR = "#2e9d5b"
LOST_COLOUR = BAD_COLOUR
AGE_GROUP_NAMES = {"adult": "adult", "child_youth": "child / youth"}
NO_PROVIDER = "no ECM provider on the as-of date"


def diff_chart(populations: Mapping[str, Mapping[str, Any]]) -> str:
    """One row per population that changed (the first code at the top): its losses as a
    bar to the left, its gains to the right, each count at its bar's end."""
    import matplotlib
    from matplotlib.ticker import FuncFormatter, MaxNLocator

    rows = [(c, p) for c, p in populations.items() if p["gained"] or p["lost"]]
    if not rows:
        return ""
    rows.reverse()
    codes = [c for c, _ in rows]
    gained = [p["gained"] for _, p in rows]
    lost = [-p["lost"] for _, p in rows]
    top = max([*gained, *(-n for n in lost), 1])
    with matplotlib.rc_context(_font()):
        figure, axes = _figure(8.2, 0.34 * len(rows) + 1.0)
        axes.barh(codes, lost, color=LOST_COLOUR, label="lost", height=0.6)
        axes.barh(codes, gained, color=GAINED_COLOUR, label="gained", height=0.6)
        for y, (g, lo) in enumerate(zip(gained, lost, strict=True)):
            if g:
                axes.text(g + top * 0.02, y, f"+{g:,}", va="center", fontsize=9)
            if lo:
                axes.text(lo - top * 0.02, y, f"−{-lo:,}", va="center", ha="right", fontsize=9)
        axes.set_xlim(-top * 1.3, top * 1.3)
        # whole members on both sides of 0, each side counted up from it
        axes.xaxis.set_major_locator(MaxNLocator(integer=True))
        axes.xaxis.set_major_formatter(FuncFormatter(lambda x, _pos: f"{abs(x):,.0f}"))
        axes.axvline(0, color="#8a90a0", linewidth=0.8)
        axes.set_xlabel("members losing (left) and gaining (right) the population under B")
        figure.legend(loc="outside upper right", ncol=2, frameon=False, fontsize=9.5)
        axes.grid(axis="x", color="#e6e8ef")
        axes.set_axisbelow(True)
        return _svg(figure, "diff")


def _rules(summary: Mapping[str, Any]) -> list[str]:
    parts = [
        "<h2 id='rules'>The two rules files</h2>",
        "<table><tr><th></th><th>version</th><th>sha256</th><th>file</th><th>from</th></tr>",
    ]
    for label, r in summary["rules"].items():
        parts.append(
            f"<tr><td><b>{_e(label.upper())}</b></td><td>{_e(r['version'])}</td>"
            f"<td><code>{_e(r['sha256'])}</code></td><td><code>{_e(r['path'])}</code></td>"
            f"<td>{_e(r['from'])}</td></tr>"
        )
    parts.append("</table>")
    changed = summary["settings_changed"]
    if not changed:
        same = summary["rules"]["a"]["sha256"] == summary["rules"]["b"]["sha256"]
        parts.append(
            "<p>"
            + ("The two files are the same file." if same else "No setting differs.")
            + " Value sets of the same name may still differ (each rules file reads those "
            "beside it first).</p>"
        )
        return parts
    parts.append(
        "<h3>Settings that differ</h3><table><tr><th>setting</th><th>A</th><th>B</th></tr>"
    )
    for c in changed:
        parts.append(
            f"<tr><td><code>{_e(c['setting'])}</code></td><td>{_e(c['a'])}</td>"
            f"<td>{_e(c['b'])}</td></tr>"
        )
    parts.append("</table>")
    return parts


def _side(p: Mapping[str, Any]) -> str:
    if p["status"] == "not_evaluated":
        return f"— {_pill('bad', 'not evaluated')}"
    if p["status"] == "partially_evaluated":
        return f"{_n(p['members'])} {_pill('warn', 'partial')}"
    return _n(p["members"])


def _populations(summary: Mapping[str, Any]) -> list[str]:
    pops = summary["populations"]
    parts = [
        "<h2 id='populations'>Per population and age group</h2>",
        "<p class='sub'><b>gained</b>: members holding the population under B and not under "
        "A; <b>lost</b>: under A and not under B. A member may gain or lose several "
        "populations. A population not evaluated (a feed it needs was not delivered) has no "
        "count; one partially evaluated may be undercounted on both sides alike.</p>",
        diff_chart(pops),
        "<table class='wide'><tr><th>population</th><th class='n'>members under A</th>"
        "<th class='n'>members under B</th><th class='n'>gained</th>"
        "<th class='n'>of whom adult</th><th class='n'>child / youth</th>"
        "<th class='n'>lost</th><th class='n'>of whom adult</th>"
        "<th class='n'>child / youth</th></tr>",
    ]
    for code, p in pops.items():
        ages = p["by_age_group"]
        cells = [
            p["gained"],
            ages["adult"]["gained"],
            ages["child_youth"]["gained"],
            p["lost"],
            ages["adult"]["lost"],
            ages["child_youth"]["lost"],
        ]
        parts.append(
            f"<tr><td><code>{_e(code)}</code><br><span class='muted'>{_e(p['title'])}</span>"
            f"</td><td class='n'>{_side(p['a'])}</td><td class='n'>{_side(p['b'])}</td>"
            + "".join(f"<td class='n'>{_n(n)}</td>" for n in cells)
            + "</tr>"
        )
    parts.append(
        f"<tr class='total'><td colspan='3'>member × population pairs</td>"
        f"<td class='n'>{_n(summary['gained'])}</td><td colspan='2'></td>"
        f"<td class='n'>{_n(summary['lost'])}</td><td colspan='2'></td></tr></table>"
    )
    parts += [
        "<h3>Per age group</h3>",
        "<p class='sub'>The member's age group on the as-of date, as assignments.parquet "
        "has it (adult at <code>time.adult_min_age</code> and over).</p>",
        "<table><tr><th>age group</th><th class='n'>gained</th><th class='n'>lost</th></tr>",
    ]
    for group, counts in summary["age_groups"].items():
        colour = ADULT_COLOUR if group == "adult" else CHILD_COLOUR
        parts.append(
            f"<tr><td><span style='color:{colour}'>■</span> "
            f"{_e(AGE_GROUP_NAMES.get(group, group))}</td>"
            f"<td class='n'>{_n(counts['gained'])}</td><td class='n'>{_n(counts['lost'])}</td>"
            "</tr>"
        )
    parts.append("</table>")
    return parts


def _providers(summary: Mapping[str, Any]) -> list[str]:
    providers = summary["providers"]
    parts = [
        "<h2 id='providers'>Per ECM provider</h2>",
        "<p class='sub'>The member's ECM provider on the as-of date (provider_assignment), "
        "whose member information file the change would reach.</p>",
    ]
    if not providers:
        return [*parts, "<p>No member gains or loses a population.</p>"]
    parts.append(
        "<table><tr><th>ECM provider NPI</th><th class='n'>gained</th><th class='n'>lost</th></tr>"
    )
    for row in providers:
        npi = row["provider_npi"]
        name = f"<code>{_e(npi)}</code>" if npi is not None else _e(NO_PROVIDER)
        parts.append(
            f"<tr><td>{name}</td><td class='n'>{_n(row['gained'])}</td>"
            f"<td class='n'>{_n(row['lost'])}</td></tr>"
        )
    parts.append("</table>")
    return parts


def _header(summary: Mapping[str, Any]) -> list[str]:
    a, b = summary["rules"]["a"], summary["rules"]["b"]
    return [
        f"<h1>What rules B would change, as of {_e(summary['as_of_date'])}</h1>",
        f"<p class='sub'>A: rules {_e(a['version'])} ({_e(a['from'])}) · B: rules "
        f"{_e(b['version'])} ({_e(b['from'])}) · both evaluated by ecm "
        f"{_e(summary['ecm_version'])} over what the warehouse staged "
        f"(<code>{_e(summary['warehouse'])}</code>, latest run as of "
        f"{_e(summary['latest_run']['as_of_date'])}); no feed was read again.</p>",
        "<div class='cards'>",
        f"<div class='card'>gained<b>{_n(summary['gained'])}</b><span>member × population "
        f"pairs; {_n(summary['members_gaining'])} members</span></div>",
        f"<div class='card'>lost<b>{_n(summary['lost'])}</b><span>member × population "
        f"pairs; {_n(summary['members_losing'])} members</span></div>",
        f"<div class='card'>settings that differ<b>{_n(len(summary['settings_changed']))}"
        "</b><span><a href='#rules'>the two rules files</a></span></div>",
        "</div>",
    ]


def render_diff_page(summary: Mapping[str, Any]) -> str:
    """diff.html from the diff's summary (counts only)."""
    body = [
        *_header(summary),
        *_populations(summary),
        *_providers(summary),
        *_rules(summary),
        f"<footer>Written by ecm diff for the as-of date {_e(summary['as_of_date'])}. Counts "
        "only: this page holds no member data. The members are in diff.parquet "
        "(member_id, pof_code, change, provider_npi).</footer>",
    ]
    return (
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>"
        "<meta name='viewport' content='width=device-width, initial-scale=1'>"
        f"<title>ecm diff {_e(summary['as_of_date'])}</title><style>{_CSS}</style></head>"
        "<body>\n" + "\n".join(p for p in body if p) + "\n</body></html>\n"
    )
