"""The validation page: one self-contained HTML page from the GX validation results of
`ecm validate` (`--report FILE.html`; a run's report.html is ecm.deliver.report_page).

Built from the ExpectationSuiteValidationResult objects themselves (GX Data Docs need a
file context and pull in a site; this page needs nothing at view time: inline CSS, no
script, no network). It shows per feed the rows read, staged and quarantined, the
quarantine and warn-severity rules with their counts, and every expectation with its
success, observed value and unexpected count/percent. It holds no member data: only
counts, column names and the contract's own values (GX is run without partial
unexpected lists, and only the result keys below are shown).
"""

from __future__ import annotations

import datetime as dt
import html
from collections.abc import Mapping, Sequence
from typing import Any

from data_contracts import load_contract
from data_contracts.fill_rates import BELOW, NO_ROWS, percent
from data_contracts.gx_suites import SAMPLE_ROWS, DataQuality, compact_results

_CSS = """
body{font:14px/1.45 system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:24px auto;
max-width:1180px;color:#1d2330;padding:0 16px}
h1{font-size:22px;margin:0 0 4px}h2{font-size:17px;margin:28px 0 8px;border-bottom:1px solid #dde}
.sub{color:#5a6275;margin:0 0 16px}
table{border-collapse:collapse;width:100%;margin:6px 0 12px}
th,td{padding:5px 8px;border-bottom:1px solid #e6e8ef;text-align:left;vertical-align:top}
th{background:#f4f6fa;font-weight:600}td.n{text-align:right;font-variant-numeric:tabular-nums}
.ok{color:#17663a;font-weight:600}.bad{color:#a4161a;font-weight:600}
.pill{display:inline-block;border-radius:10px;padding:1px 9px;font-size:12px;font-weight:600}
.pill.ok{background:#dff3e6}.pill.bad{background:#fbe1e1}.pill.warn{background:#fff1cc;color:#7a5200}
.cards{display:flex;gap:12px;flex-wrap:wrap;margin:12px 0}
.card{border:1px solid #e1e4ec;border-radius:8px;padding:10px 14px;min-width:150px}
.card b{display:block;font-size:20px}
.bar{background:#e9ecf3;height:8px;border-radius:4px;overflow:hidden;width:120px;display:inline-block}
.bar i{display:block;height:8px;background:#2f6fdd}
.nw{white-space:nowrap}
code{font-size:12.5px;background:#f4f6fa;padding:0 4px;border-radius:3px}
"""


def _e(value: Any) -> str:
    return html.escape(str(value))


def _num(value: Any) -> str:
    return f"{value:,}" if isinstance(value, int) else _e(value)


def _pill(ok: bool, good: str = "passed", bad: str = "failed") -> str:
    return f'<span class="pill {"ok" if ok else "bad"}">{good if ok else bad}</span>'


def _observed(entry: dict) -> str:
    value = entry.get("observed_value")
    if value is None:
        return ""
    if isinstance(value, list):
        return _e(", ".join(map(str, value)))
    return _num(value)


def _expectation_rows(entries: list[dict]) -> str:
    rows = []
    for e in entries:
        cols = e["column"]
        cols = ", ".join(cols) if isinstance(cols, list) else (cols or "(table)")
        pct = e.get("unexpected_percent")
        share = (
            f'<span class="nw">{pct:.2f}% <span class="bar">'
            f'<i style="width:{min(100.0, pct):.1f}%"></i></span></span>'
            if isinstance(pct, (int, float))
            else ""
        )
        rows.append(
            f"<tr><td>{_pill(e['success'])}</td><td><code>{_e(e['expectation'])}</code></td>"
            f"<td>{_e(cols)}</td><td>{_observed(e)}</td>"
            f'<td class="n">{_num(e.get("unexpected_count", ""))}</td><td>{share}</td></tr>'
        )
    return (
        "<table><tr><th>result</th><th>expectation</th><th>column(s)</th><th>observed</th>"
        "<th>unexpected rows</th><th>unexpected share</th></tr>" + "".join(rows) + "</table>"
    )


def fill_rates_section(rates: Sequence[Mapping[str, Any]], heading: str = "h3") -> str:
    """The fill rates of the columns the rules lean on (summary.json's
    `data_quality.fill_rates`), for this page and the run's report.html: each one below
    its threshold in words (the column, its fill rate, the populations whose counts it
    lowers), then all of them in a table. Counts only."""
    if not rates:
        return ""
    parts = [f"<{heading}>Columns the rules lean on: fill rates</{heading}>"]
    thin = [r for r in rates if r.get("status") == BELOW]
    parts += [
        f"<p><span class='pill warn'>too thin</span> <b>{_e(r['feed'])}</b>: {_e(r['detail'])}.</p>"
        for r in thin
    ] or [
        "<p>Every column the rules lean on is filled at least as often as the rules file's "
        "<code>[fill_rates]</code> asks.</p>"
    ]
    parts.append(
        "<table><tr><th>feed</th><th>column</th><th>measured on</th><th class='n'>filled</th>"
        "<th class='n'>fill rate</th><th class='n'>threshold</th><th>result</th></tr>"
    )
    for r in rates:
        rows, filled = r["rows_in_scope"], r["rows_filled"]
        status = r.get("status")
        verdict = {BELOW: "warn", NO_ROWS: ""}.get(status, "ok")
        label = {BELOW: "below", NO_ROWS: "no such rows"}.get(status, "ok")
        parts.append(
            f"<tr><td>{_e(r['feed'])}</td><td><code>{_e(r['column'])}</code></td>"
            f"<td>{_e(r['rows'])}</td><td class='n'>{filled:,} of {rows:,}</td>"
            f"<td class='n'>{percent(filled / rows) if rows else '—'}</td>"
            f"<td class='n'>{percent(r['threshold'])}</td>"
            f"<td><span class='pill {verdict}'>{label}</span></td></tr>"
        )
    parts.append(
        "</table><p class='sub'>Measured on the rows the rules read (the current claim "
        "lines); thresholds from the rules file's <code>[fill_rates]</code>. A rate below "
        "its threshold lowers counts without a word: it is a warning, never a stop.</p>"
    )
    return "".join(parts)


def render_validation_page(report: dict, quality: DataQuality) -> str:
    """The page: `report` is what `ecm validate --json` prints (counts, quarantine and
    warning rules), `quality` holds the raw GX validation results."""
    feeds = report["feeds"]
    failed = quality.failed
    quarantined = sum(c["quarantined"] for c in feeds.values())
    read = sum(c["read"] for c in feeds.values())
    evaluated = sum(len(r.results) for rs in quality.results.values() for r in rs)
    gx_version = next(
        (r.meta.get("great_expectations_version") for rs in quality.results.values() for r in rs),
        "",
    )
    parts = [
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>",
        "<title>ecm validate: data contracts</title>",
        f"<style>{_CSS}</style></head><body>",
        "<h1>Data contracts: validation report</h1>",
        f"<p class='sub'>Feed folder <code>{_e(report.get('input', ''))}</code> · "
        f"{dt.date.today().isoformat()} · Great Expectations {_e(gx_version)} · "
        "row checks generated from data_contracts/*.toml</p>",
        "<div class='cards'>",
        f"<div class='card'>rows read<b>{read:,}</b></div>",
        f"<div class='card'>quarantined<b class='{'bad' if quarantined else 'ok'}'>"
        f"{quarantined:,}</b></div>",
        f"<div class='card'>expectations<b>{evaluated - len(failed)} / {evaluated}</b>passed</div>",
        f"<div class='card'>row warnings<b>{len(report.get('warnings', []))}</b>rules</div>",
        "</div>",
        "<h2>Feeds</h2><table><tr><th>feed</th><th>files</th><th>read</th><th>staged</th>"
        "<th>quarantined</th><th>expectations</th></tr>",
    ]
    for name, c in feeds.items():
        entries = quality.expectations.get(name, [])
        bad = sum(not e["success"] for e in entries)
        status = _pill(bad == 0, "all passed", f"{bad} failed") if entries else ""
        parts.append(
            f"<tr><td>{_e(name)}</td><td class='n'>{c['files']}</td><td class='n'>{c['read']:,}"
            f"</td><td class='n'>{c['staged']:,}</td><td class='n'>{c['quarantined']:,}</td>"
            f"<td>{status}</td></tr>"
        )
    for name in report.get("missing_feeds", []):
        parts.append(f"<tr><td>{_e(name)}</td><td colspan='5'>absent (optional)</td></tr>")
    parts.append("</table>")
    if report.get("quarantined"):
        parts.append(
            "<h2>Quarantined rows by rule</h2><table><tr><th>feed</th><th>rule</th>"
            "<th>rows</th></tr>"
        )
        for q in report["quarantined"]:
            parts.append(
                f"<tr><td>{_e(q['feed'])}</td><td><code>{_e(q['rule'])}</code></td>"
                f"<td class='n'>{q['rows']:,}</td></tr>"
            )
        parts.append("</table>")
    if report.get("warnings"):
        parts.append(
            "<h2>Row warnings (severity warn: rows kept)</h2><table><tr><th>feed</th>"
            "<th>rule</th><th>rows</th><th>check</th></tr>"
        )
        for w in report["warnings"]:
            parts.append(
                f"<tr><td>{_e(w['feed'])}</td><td><code>{_e(w['rule'])}</code></td>"
                f"<td class='n'>{w['rows']:,}</td><td>{_e(w['detail'])}</td></tr>"
            )
        parts.append("</table>")
    parts.append(fill_rates_section(report.get("data_quality", {}).get("fill_rates", []), "h2"))
    for name, results in quality.results.items():
        contract = load_contract(name)
        staged = feeds.get(name, {}).get("staged")
        entries = [
            e
            for result in results
            for e in compact_results(
                result,
                contract,
                staged_rows=staged if result.suite_name.endswith(".grain") else None,
            )
        ]
        parts.append(f"<h2>{_e(name)} <span class='sub'>— {_e(contract.grain)}</span></h2>")
        if any(r.suite_name == name and staged and staged > SAMPLE_ROWS for r in results):
            parts.append(
                f"<p class='sub'>Column expectations on a seeded sample of about "
                f"{SAMPLE_ROWS:,} of {staged:,} staged rows; row count and duplicates on "
                "every row.</p>"
            )
        parts.append(_expectation_rows(entries))
    parts.append("</body></html>\n")
    return "".join(parts)
