"""report.html (ecm.deliver.report_page): built from a small summary and two history rows; every
section there, every chart an inline <svg>, nothing fetched at view time, no member id.
And, where Chromium is installed, the page renders to a screenshot."""

import copy
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from ecm.deliver.report_page import (
    STATE_COLOURS,
    LoopFacts,
    population_table,
    render_report,
    summary_markdown,
    trend_rows,
)
from transforms.loop import STATES

MEMBER_IDS = ("QX7781234", "QX7781235")

SUMMARY = {
    "ecm_version": "0.1.0",
    "as_of_date": "2026-11-30",
    "lookback": {"start": "2025-12-01", "end": "2026-11-30"},
    "rules": {"version": "2026.11.0", "sha256": "ab" * 32, "file": "reference/rules.toml"},
    "methods": {
        "avoidable_ed": "nyu_threshold",
        "unplanned_stay": "admit_type",
        "avoidable_stay": "unplanned",
    },
    "feeds": {
        "eligibility": {"present": True, "files": 1, "read": 320, "staged": 318, "quarantined": 2},
        "medical_claim": {
            "present": True,
            "files": 3,
            "read": 9000,
            "staged": 8950,
            "quarantined": 50,
        },
        "incarceration": {"present": False, "files": 0, "read": 0, "staged": 0, "quarantined": 0},
    },
    "members": {"enrolled": 300, "adult": 200, "child_youth": 100},
    "populations": {
        "HIGH_UTIL_ADULT": {
            "title": "Adults at risk for avoidable hospital or ED utilization",
            "status": "evaluated",
            "missing_feeds": [],
            "members": 12,
            "adult": 12,
            "child_youth": 0,
        },
        "HOMELESS_FAMILY": {
            "title": "Children, youth and families experiencing homelessness",
            "status": "evaluated",
            "missing_feeds": [],
            "members": 9,
            "adult": 4,
            "child_youth": 5,
        },
        "JUSTICE_ADULT": {
            "title": "Adults transitioning from incarceration",
            "status": "not_evaluated",
            "missing_feeds": ["incarceration"],
            "members": None,
            "adult": 0,
            "child_youth": 0,
        },
        "SMI_SUD_ADULT": {
            "title": "Adults with serious mental health and/or substance use disorder needs",
            "status": "partially_evaluated",
            "missing_feeds": ["incarceration"],
            "members": 7,
            "adult": 7,
            "child_youth": 0,
        },
    },
    "populations_not_evaluated": {"JUSTICE_ADULT": ["incarceration"]},
    "populations_partially_evaluated": {"SMI_SUD_ADULT": ["incarceration"]},
    "assignments": 28,
    "assigned_members": 25,
    "data_quality": {
        "quarantined_by_rule": [
            {"feed": "eligibility", "rule": "member_id_not_empty", "rows": 2},
            {"feed": "medical_claim", "rule": "claim_start_date_is_date", "rows": 50},
        ],
        "npi_check_digit_failures": [
            {"feed": "medical_claim", "column": "rendering_npi", "distinct_npis": 1, "lines": 5}
        ],
        "expectations": {
            "eligibility": [
                {
                    "expectation": "expect_column_values_to_be_in_set",
                    "column": "race",
                    "success": False,
                    "element_count": 318,
                    "unexpected_count": 3,
                    "unexpected_percent": 0.94,
                    "missing_count": 0,
                }
            ],
            "medical_claim": [
                {
                    "expectation": "expect_table_row_count_to_be_between",
                    "column": None,
                    "success": True,
                    "observed_value": 8950,
                }
            ],
        },
        "warnings": [
            {
                "feed": "eligibility",
                "rule": "expect_column_values_to_be_in_set",
                "column": "race",
                "detail": "3 rows (0.94%) outside the contract's values",
            }
        ],
    },
    "timings_seconds": {"ingest": 1.5, "validate": 2.25, "shards": 0.5, "shards_events": 0.2},
    "changes": {"previous_as_of_date": "2026-10-31", "new": 6, "ended": 4},
    "member_information_files": {"providers": 3, "members": 25, "unassigned_members": 2},
}

HISTORY = [
    dict(
        zip(("as_of_date", "enrolled_members", "assignments", "assigned_members"), row, strict=True)
    )
    for row in (
        ("2026-09-30", 290, 20, 18),
        ("2026-10-31", 295, 26, 23),
        # a recorded run of this run's as-of date: replaced by this run, not shown twice
        ("2026-11-30", 1, 1, 1),
    )
]
CHANGES = {"HIGH_UTIL_ADULT": {"new": 4, "ended": 1}, "HOMELESS_FAMILY": {"new": 2, "ended": 3}}


@pytest.fixture(scope="module")
def page():
    return render_report(SUMMARY, HISTORY, CHANGES)


def test_the_page_has_every_section(page):
    for anchor in ("populations", "evaluation", "trend", "changes", "quality", "timings"):
        assert f"id='{anchor}'" in page, anchor
    assert "ECM populations of focus, as of 2026-11-30" in page
    # populations by age group, the totals
    assert "Adults at risk for avoidable hospital or ED utilization" in page
    # not evaluated and why
    assert "not evaluated" in page and "partially evaluated" in page
    assert "no incarceration feed" in page
    # data quality: quarantine by rule, warnings, failed expectations, NPIs
    assert "claim_start_date_is_date" in page and "member_id_not_empty" in page
    assert "outside the contract&#x27;s values" in page
    assert "1 of 2 passed" in page
    assert "rendering_npi" in page
    # timings in words
    assert "data contracts (Great Expectations)" in page


def test_every_chart_is_inline_svg_and_nothing_is_fetched(page):
    assert page.count('<div class="chart"') == 3  # populations, trend, quarantine
    assert page.count("<svg") == 3
    assert "<img" not in page and "<script" not in page and "<link" not in page
    assert "@import" not in page
    assert set(re.findall(r"url\(([^)]*)\)", page)) <= {
        f"#{i}" for i in re.findall(r'id="([^"]+)"', page)
    }  # clip paths of the page itself, nothing else
    assert not re.search(r"""(src|href)\s*=\s*["']?\s*(https?:)?//""", page)
    assert "<metadata>" not in page  # matplotlib's RDF block, with its links, is dropped


def test_no_member_data(page):
    summary = copy.deepcopy(SUMMARY)
    # the facts a summary holds are counts; feed a member id anywhere a name may sit
    summary["input"] = {"folder": "/data/" + MEMBER_IDS[0]}
    text = render_report(summary, HISTORY, CHANGES)
    for member_id in MEMBER_IDS:
        assert member_id not in page
        assert member_id not in text  # the input folder is not shown either


def test_the_trend_adds_this_run_in_place_of_its_as_of_dates_record(page):
    runs = trend_rows(SUMMARY, HISTORY)
    assert [r["as_of_date"] for r in runs] == ["2026-09-30", "2026-10-31", "2026-11-30"]
    assert runs[-1] == {
        "as_of_date": "2026-11-30",
        "enrolled_members": 300,
        "assignments": 28,
        "assigned_members": 25,
        "this_run": True,
    }
    assert "2026-11-30 <span class='muted'>(this run)</span>" in page


def test_a_first_run_says_so():
    summary = {
        **SUMMARY,
        "changes": {"previous_as_of_date": None, "new": 28, "ended": 0},
        "populations_not_evaluated": {},
        "populations_partially_evaluated": {},
        "data_quality": {"quarantined_by_rule": [], "expectations": {}, "warnings": []},
    }
    text = render_report(summary, [], {})
    assert "The first run recorded in this warehouse" in text
    assert "every assignment is new" in text
    assert "No row was quarantined." in text
    assert text.count("<svg") == 2  # no quarantine chart without quarantine


def test_a_column_too_thin_is_said_once_with_every_fill_rate_in_a_table():
    thin = {
        "feed": "medical_claim",
        "check": "hcpcs_code_on_professional_lines",
        "column": "hcpcs_code",
        "rows": "professional lines",
        "rows_in_scope": 221,
        "rows_filled": 12,
        "threshold": 0.5,
        "status": "below",
        "detail": "hcpcs_code is filled on 5.4% of professional lines (12 of 221; …)",
    }
    empty = {
        **thin,
        "check": "admit_type_code_on_inpatient_claims",
        "column": "admit_type_code",
        "rows": "inpatient claim lines",
        "rows_in_scope": 0,
        "rows_filled": 0,
        "status": "no_rows",
    }
    summary = copy.deepcopy(SUMMARY)
    summary["data_quality"]["fill_rates"] = [thin, empty]
    summary["data_quality"]["warnings"] = [{"rule": "fill_rate", **thin}]
    text = render_report(summary, HISTORY, CHANGES)
    quality = text[text.index("id='quality'") :]
    assert quality.count("hcpcs_code is filled on 5.4% of professional lines") == 1
    assert "12 of 221" in quality and "no such rows" in quality
    assert "None: no row kept with a warning" in quality  # the fill rate not repeated there
    assert "Columns the rules lean on" not in render_report(SUMMARY, HISTORY, CHANGES)


def test_the_same_facts_give_the_same_bytes(page):
    assert render_report(SUMMARY, HISTORY, CHANGES) == page


def test_artifact_texts_hold_counts_and_the_report_path():
    markdown = summary_markdown(SUMMARY, "/runs/2026-11/report.html")
    assert "`/runs/2026-11/report.html`" in markdown
    assert "| HIGH_UTIL_ADULT | evaluated | 12 | 0 | 12 |" in markdown
    assert "| JUSTICE_ADULT | not evaluated (no incarceration feed) | — | — | — |" in markdown
    table = population_table(SUMMARY)
    assert [r["population"] for r in table] == list(SUMMARY["populations"])
    assert table[2]["members"] is None and table[2]["adult"] is None


# --- the referral loop and the exclusions -------------------------------------------

P, Q = "1111111111", "2222222222"


def _states(**counts: int) -> dict[str, int]:
    return {s: counts.get(s, 0) for s in STATES}


LOOP = {
    "provider_return_rows": 14,
    "outreach_rows": 21,
    "referrals": 12,
    "referrals_by_state": _states(
        referred=2,
        outreach=1,
        reached=1,
        pending=1,
        enrolled=3,
        discontinued=2,
        declined=1,
        unable_to_reach=1,
    ),
    "open": 5,
    "open_by_age": {"0_30": 2, "31_60": 1, "61_90": 1, "over_90": 1},
    "overdue": 2,
    "max_open_days": 60,
    "discontinued_by_reason": {"WM": 0, "SC": 1, "DP": 0, "EXP": 0},
    "discontinued_without_reason": 1,
    "assignment_status": {"new": 3, "continuing": 4, "enrolled": 3, "re-referral": 1},
    "left_out": {"loop_closed": 2, "enrolled_elsewhere": 1},
    "review": {"no_population": 1, "fewer_populations": 2, "excluded": 0, "left_plan": 1},
}


def _provider(npi, funnel, states, open_by_age, overdue, left_out=(0, 0), review=0) -> dict:
    return {
        "provider_npi": npi,
        "funnel": dict(zip(("referred", "outreach", "reached"), funnel, strict=True)),
        "states": _states(**states),
        "open": sum(open_by_age),
        "open_by_age": dict(zip(("0_30", "31_60", "61_90", "over_90"), open_by_age, strict=True)),
        "overdue": overdue,
        "left_out": dict(zip(("loop_closed", "enrolled_elsewhere"), left_out, strict=True)),
        "review": review,
    }


FACTS = LoopFacts(
    providers=[
        _provider(
            P,
            (8, 6, 5),
            {
                "referred": 1,
                "reached": 1,
                "pending": 1,
                "enrolled": 3,
                "discontinued": 1,
                "declined": 1,
            },
            (1, 1, 1, 0),
            1,
            (2, 0),
            3,
        ),
        _provider(
            Q,
            (4, 3, 1),
            {"referred": 1, "outreach": 1, "discontinued": 1, "unable_to_reach": 1},
            (1, 0, 0, 1),
            1,
            (0, 1),
            1,
        ),
    ],
    reason_names={"WM": "well managed", "SC": "successfully completed"},
    program_names={"hospice": "Hospice", "pace": "Program of All-Inclusive Care"},
)
EXCLUSIONS = {
    "status": "partially_evaluated",
    "missing_feeds": ["program_enrollment"],
    "members": 3,
    "programs": {"hospice": 3, "pace": 0},
    "programs_not_excluding": {"smhs_tcm": 7},
}


@pytest.fixture(scope="module")
def loop_page():
    return render_report({**SUMMARY, "loop": LOOP, "exclusions": EXCLUSIONS}, HISTORY, CHANGES,
                         FACTS)  # fmt: skip


def _section(page: str, anchor: str, until: str = "<h2") -> str:
    start = page.index(f"id='{anchor}'")
    end = page.find(until, start + 1)
    return page[start : end if end > 0 else None]


def _h3(page: str, title: str) -> str:
    start = page.index(f"<h3>{title}")
    end = min(i for i in (page.find("<h3", start + 1), page.find("<h2", start + 1)) if i > 0)
    return page[start:end]


def test_the_loop_per_provider_has_its_chart_and_funnel_table(loop_page):
    funnel = _h3(loop_page, "Per provider: referred → outreach → reached")
    assert 'aria-label="loop-states chart"' in funnel
    for state in ("referred", "outreach", "reached", "pending", "enrolled", "declined",
                  "unable to reach"):  # fmt: skip
        assert f">{state}<" in funnel, state  # legend and column heads in words
    # P: referred 8, outreach 6, reached 5, enrolled 3, discontinued 1, declined 1, ...
    row = re.search(rf"<tr><td><code>{P}</code></td>(.*?)</tr>", funnel).group(1)
    assert re.findall(r"<td class='n'>([^<]*)</td>", row) == [
        "8", "6", "5", "3", "1", "1", "0", "0", "0", "3", "1",
    ]  # fmt: skip
    assert "every provider</td><td class='n'>12</td>" in funnel
    assert "14 return transmission file (RTF) rows and 21 outreach tracker file" in loop_page


def test_open_loops_by_age_and_overdue(loop_page):
    ages = _h3(loop_page, "Open loops by age, and overdue")
    assert 'aria-label="open-age chart"' in ages
    assert "overdue<b>2</b>" in ages and "open more than 60 days" in ages
    for band in ("0–30 days", "31–60 days", "61–90 days", "&gt; 90 days"):
        assert band in ages, band
    row = re.search(rf"<tr><td><code>{Q}</code></td>(.*?)</tr>", ages).group(1)
    assert re.findall(r"<td class='n'>([^<]*)</td>", row) == ["2", "1", "0", "0", "1", "1"]
    assert "referrals open<b>5</b><span>2 overdue" in loop_page  # the header's card


def test_discontinuations_by_reason_with_the_names_the_page_is_given(loop_page):
    part = _h3(loop_page, "Discontinuations by reason")
    assert 'aria-label="discontinued chart"' in part
    assert "<td><code>SC</code></td><td>successfully completed</td><td class='n'>1</td>" in part
    assert "<code>WM</code>" not in part  # a code no referral has is not listed
    assert "no code given" in part
    assert "<td colspan='2'>discontinued</td><td class='n'>2</td>" in part
    renamed = LoopFacts(FACTS.providers, {"SC": "finished its care plan"})
    page = render_report({**SUMMARY, "loop": LOOP}, HISTORY, CHANGES, renamed)
    assert "finished its care plan" in page and "successfully completed" not in page


def test_the_reason_names_are_data_not_page_code():
    source = (Path(__file__).resolve().parents[1] / "ecm/deliver/report_page.py").read_text()
    assert "successfully completed" not in source and "well managed" not in source


def test_members_listed_left_out_and_for_review(loop_page):
    listed = _h3(loop_page, "Members listed in a provider's file")
    assert "left out</td><td><code>loop_closed</code></td>" in listed
    assert re.search(r"<code>enrolled_elsewhere</code></td><td>[^<]*</td><td class='n'>1<",
                     listed)  # fmt: skip
    assert re.search(r"<code>re-referral</code></td><td>[^<]*</td><td class='n'>1<", listed)
    row = re.search(rf"<tr><td><code>{P}</code></td>(.*?)</tr>", listed).group(1)
    assert re.findall(r"<td class='n'>([^<]*)</td>", row) == ["2", "0", "3"]  # per provider
    review = _h3(loop_page, "Members enrolled in ECM, for review")
    assert re.search(r"<code>fewer_populations</code></td><td>[^<]*</td><td class='n'>2<", review)
    assert "<td colspan='2'>for review</td><td class='n'>4</td>" in review
    assert "nobody is disenrolled" in review


def test_a_first_run_of_the_loop_says_so_in_a_sentence_not_an_empty_chart():
    """The warehouse's first run: every member listed with a provider opened a referral,
    no provider has answered (no RTF, no OTF)."""
    first = {
        **LOOP,
        "provider_return_rows": 0,
        "outreach_rows": 0,
        "referrals": 5,
        "referrals_by_state": _states(referred=5),
        "open": 5,
        "open_by_age": {"0_30": 5, "31_60": 0, "61_90": 0, "over_90": 0},
        "overdue": 0,
        "discontinued_by_reason": {"WM": 0, "SC": 0},
        "discontinued_without_reason": 0,
        "assignment_status": {"new": 5, "continuing": 0, "enrolled": 0, "re-referral": 0},
        "left_out": {"loop_closed": 0, "enrolled_elsewhere": 0},
        "review": {"no_population": 0, "fewer_populations": 0, "excluded": 0, "left_plan": 0},
    }
    facts = LoopFacts([_provider(P, (5, 0, 0), {"referred": 5}, (5, 0, 0, 0), 0)])
    page = render_report({**SUMMARY, "loop": first}, [], {}, facts)
    loop = _section(page, "loop")
    assert "No provider has sent anything back yet" in loop
    assert "all 5 referrals are <b>referred</b>" in loop
    assert "loop-states chart" not in loop and "discontinued chart" not in loop
    assert "None: no provider has sent an RTF yet." in loop
    assert "No member enrolled in ECM on the as-of date needs review" in loop
    # the referrals per provider are still listed, without the columns that are all 0
    row = re.search(rf"<tr><td><code>{P}</code></td>(.*?)</tr>", loop).group(1)
    assert re.findall(r"<td class='n'>([^<]*)</td>", row) == ["5", "5", "0"]
    assert ">declined<" not in loop and ">outreach<" not in loop
    ages = _h3(page, "Open loops by age, and overdue")
    assert "open-age chart" in ages and "<table" not in ages  # one band: no table per provider


def test_no_referral_at_all_is_a_sentence_and_no_chart():
    empty = {**LOOP, "provider_return_rows": 0, "outreach_rows": 0, "referrals": 0,
             "referrals_by_state": _states(), "open": 0, "overdue": 0}  # fmt: skip
    loop = _section(render_report({**SUMMARY, "loop": empty}, [], {}, LoopFacts()), "loop")
    assert "No referral is known on 2026-11-30" in loop
    assert "<svg" not in loop


def test_a_run_without_the_loop_or_the_exclusions_has_neither_section(page):
    assert "id='loop'" not in page and "id='exclusions'" not in page
    assert "referrals open" not in page


def test_the_exclusions_by_program_when_the_summary_has_them(loop_page):
    part = _section(loop_page, "exclusions")
    assert "partially evaluated" in part and "no program_enrollment feed" in part
    assert 'aria-label="exclusions chart"' in part
    assert "<td><code>hospice</code> Hospice</td><td class='n'>3</td>" in part
    assert "<td><code>pace</code> Program of All-Inclusive Care</td><td class='n'>0</td>" in part
    assert "<td><code>smhs_tcm</code></td><td class='n'>7</td>" in part
    nobody = {**EXCLUSIONS, "status": "evaluated", "missing_feeds": [], "members": 0,
              "programs": {"hospice": 0}, "programs_not_excluding": {}}  # fmt: skip
    part = _section(render_report({**SUMMARY, "exclusions": nobody}), "exclusions")
    assert "No member holding a population is excluded" in part and "<svg" not in part
    assert "Programs that never exclude" not in part


def test_every_state_has_its_colour_and_the_loop_charts_are_inline_svg(loop_page):
    assert set(STATE_COLOURS) == set(STATES)
    # populations, trend, quarantine; exclusions; states, ages, discontinued
    assert loop_page.count("<svg") == 7
    assert "<script" not in loop_page and "<img" not in loop_page
    assert render_report({**SUMMARY, "loop": LOOP, "exclusions": EXCLUSIONS}, HISTORY, CHANGES,
                         FACTS) == loop_page  # fmt: skip


CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


def _chromium(tmp_path, page: str, *options: str) -> subprocess.CompletedProcess:
    path = tmp_path / "report.html"
    path.write_text(page, encoding="utf-8")
    return subprocess.run(
        [
            CHROMIUM,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--no-first-run",
            f"--user-data-dir={tmp_path / 'profile'}",
            *options,
            path.as_uri(),
        ],
        capture_output=True,
        timeout=120,
        check=True,
    )


@pytest.mark.skipif(CHROMIUM is None, reason="Chromium is not installed")
def test_chromium_renders_the_page(loop_page, tmp_path):
    """The page with every section, the loop's and the exclusions' too: Chromium draws
    it, offline, and its DOM holds every section and chart."""
    shot = tmp_path / "report.png"
    _chromium(tmp_path, loop_page, f"--screenshot={shot}", "--window-size=1280,5200")
    data = shot.read_bytes()
    assert data.startswith(b"\x89PNG") and len(data) > 20_000
    dom = _chromium(tmp_path, loop_page, "--dump-dom").stdout.decode()
    for anchor in ("populations", "exclusions", "trend", "changes", "loop", "quality"):
        assert f'id="{anchor}"' in dom, anchor
    assert dom.count("<svg") == 7


def test_what_to_read_before_using_the_lists_is_at_the_top_with_its_counts():
    """A user's trial: the fill-rate warning sat 3,150 px down the page, with "No warning."
    right under it, and the row warnings had no counts. What lowers or changes the counts
    is said in the header, each with its numbers; the warnings table counts rows; a
    member is one member."""
    summary = copy.deepcopy(SUMMARY)
    thin = "hcpcs_code is filled on 5.4% of professional lines (12 of 221; …)"
    summary["data_quality"]["warnings"] = [
        {"feed": "medical_claim", "rule": "fill_rate", "rows": "professional lines",
         "detail": thin},
        {"feed": "eligibility", "rule": "implausible_date", "rows": 3,
         "detail": "death_date is before 1901-01-01 (a placeholder, not a date): treated as empty"},
        *summary["data_quality"]["warnings"],
    ]  # fmt: skip
    summary["member_information_files"]["unassigned_members"] = 1
    text = render_report(summary, HISTORY, CHANGES)
    top = text[: text.index("id='populations'")]
    assert "Read before using these lists" in top
    assert thin in top
    assert "3 eligibility rows: death_date is before 1901-01-01" in top
    assert "52 rows quarantined" in top  # 2 + 50
    quality = text[text.index("id='quality'") :]
    assert "<td class='n'>3</td>" in quality  # the row warning's count
    assert "No warning." not in quality
    assert "1 member with no provider" in text and "1 members" not in text
    assert "Read before using" not in render_report(
        {**SUMMARY, "data_quality": {**SUMMARY["data_quality"], "warnings": [],
                                     "quarantined_by_rule": []}},
        HISTORY,
        CHANGES,
    )  # fmt: skip


def test_the_console_says_every_warning_with_its_rows():
    """A user's trial: death dates staged empty were counted in summary.json but never
    said on the console. Every warning is printed, a row warning with its rows."""
    import io

    from rich.console import Console

    from ecm.deliver.console import print_summary

    summary = copy.deepcopy(SUMMARY)
    summary["data_quality"]["warnings"].append(
        {"feed": "eligibility", "rule": "implausible_date", "rows": 3,
         "detail": "death_date is before birth_date: treated as empty"}
    )  # fmt: skip
    out = io.StringIO()
    print_summary(summary, None, console=Console(file=out, width=200))
    text = out.getvalue()
    assert "warning: eligibility: 3 rows: death_date is before birth_date" in text
    assert "warning: eligibility: race: expect column values to be in set" not in text
    assert "3 rows (0.94%) outside the contract's values" in text  # the expectation's


PROPOSALS = {
    "roster_providers": 3,
    "candidates": 6,
    "by_reason": {"pcp": 1, "county_capacity": 3},
    "none": 2,
    "capacity": [
        {"provider_npi": P, "capacity": 4, "taken": 2, "proposed": 2, "room_left": 0},
        {"provider_npi": Q, "capacity": 5, "taken": 1, "proposed": 2, "room_left": 2},
        {"provider_npi": "1999999999", "capacity": 1, "taken": 3, "proposed": 0,
         "room_left": -2},
    ],
}  # fmt: skip


def test_the_proposals_by_reason_and_capacity_use_per_provider():
    page = render_report({**SUMMARY, "proposals": PROPOSALS})
    part = _section(page, "proposals")
    assert 'aria-label="proposals chart"' in part and 'aria-label="capacity chart"' in part
    for reason, n in (("pcp", 1), ("county_capacity", 3), ("none", 2)):
        assert f"<td><code>{reason}</code></td><td class='n'>{n}</td>" in part
    assert "<td class='n'>6</td></tr></table>" in part
    assert (
        f"<tr><td><code>{Q}</code></td><td class='n'>5</td><td class='n'>1</td>"
        "<td class='n'>2</td><td class='n'>2</td></tr>"
    ) in part
    assert f"<code>{P}</code></td><td class='n'>4</td>" in part
    assert '<span class="pill warn">full</span> 0' in part
    assert '<span class="pill bad">full</span> -2' in part
    assert "taken beyond capacity" in part and "2 proposed · 2 left" in part
    assert "<script" not in part and "http" not in part.replace("http://www.w3.org", "")


def test_no_roster_is_one_sentence_and_no_proposals_no_section(page):
    assert "id='proposals'" not in page
    none = {"roster_providers": 0, "candidates": 7, "by_reason": {"pcp": 0,
            "county_capacity": 0}, "none": 7, "capacity": []}  # fmt: skip
    part = _section(render_report({**SUMMARY, "proposals": none}), "proposals")
    assert "No <code>ecm_provider</code> roster was delivered: the 7 members" in part
    assert "<svg" not in part and "<table" not in part and "<h3" not in part
