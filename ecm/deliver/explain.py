"""`ecm explain`: why a member holds each population, event by event, and how close they
came to the others, read from a run's output folder (its assignments, evidence, member
metrics and summary.json)."""

from __future__ import annotations

import hashlib
import json
import tomllib
from pathlib import Path
from typing import Any

import polars as pl

from ecm.errors import EcmError
from ecm.warehouse.sql import staged_text


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
    rules, rules_note = _run_rules(summary)
    not_held = why_not(row, set(held["pof_code"]), summary.get("populations", {}), rules)
    if not_held:
        lines.append("Why not:" if rules_note is None else f"Why not ({rules_note}):")
        lines.extend(f"  {line}" for line in not_held)
    return "\n".join(lines)


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


def _number(value: float) -> str:
    return f"{value:g}" if value == int(value) else f"{value:.2f}"


def _ordinal(n: int) -> str:
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def count_gap(count: float, threshold: float | None, one: str, many: str) -> str:
    """`4 of 5 avoidable ED visits (the 5th would qualify)`; without a threshold, the count."""
    if threshold is None:
        return f"{_number(count)} {one if count == 1 else many}"
    text = f"{_number(count)} of {_number(threshold)} {one if threshold == 1 else many}"
    missing = threshold - count
    if missing <= 0:
        return text
    if count <= 0:
        return text
    if count == int(count) and threshold == int(threshold) and missing == 1:
        return f"{text} (the {_ordinal(int(threshold))} would qualify)"
    return f"{text} ({_number(missing)} more would qualify)"


def _yes(flag: bool, name: str, absent: str | None = None) -> str:
    return f"{name} yes" if flag else (absent or f"{name}: none in the lookback")


def why_not(
    m: dict[str, Any],
    held: set[str],
    populations: dict[str, dict[str, Any]],
    rules: dict[str, Any] | None,
) -> list[str]:
    """For each population of the run the member does not hold, one line on how close
    they came, from their member_metrics row `m`: the reasons a rule's parts are not met,
    counts against the run's thresholds. Lines with a reason first, then populations not
    evaluated, then those of the other age group."""
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
        group = block.get("age_group", _DEFAULT_AGE_GROUPS.get(code))
        if group and group != m["age_group"]:
            wanted = "an adult" if group == "adult" else "a child/youth"
            out.append((2, f"{code}: not {wanted} (age {m['age']})"))
            continue
        reason = _REASONS.get(code, _unexplained)(m, block, rules)
        if block.get("lookback_months", lookback_months) != lookback_months:
            reason += (
                f" (counts over the {lookback_months}-month lookback; this population counts "
                f"over {block['lookback_months']} months)"
            )
        if status.get("status") == "partially_evaluated":
            reason += f" (partially evaluated: no {', '.join(status['missing_feeds'])} feed)"
        out.append((0, f"{code}: {reason}"))
    return [line for _, line in sorted(out, key=lambda item: item[0])]


def _setting(block: dict[str, Any], name: str) -> float | None:
    value = block.get(name)
    return float(value) if isinstance(value, int | float) else None


def _high_util(m, block, _rules) -> str:
    ed = count_gap(
        m["avoidable_ed_visits_12m"],
        _setting(block, "min_avoidable_ed_visits"),
        "avoidable ED visit",
        "avoidable ED visits",
    )
    stays = count_gap(
        m["avoidable_unplanned_stays_12m"],
        _setting(block, "min_avoidable_unplanned_stays"),
        "avoidable unplanned stay",
        "avoidable unplanned stays",
    )
    return f"{ed}; {stays}"


def _smi_sud_adult(m, block, _rules) -> str:
    diagnosis = m.get("smi_dx_dates_12m", 0) + m.get("sud_dx_dates_12m", 0) > 0
    high_risk = (
        m.get("overdose_dx_dates_12m", 0)
        + m.get("suicidality_dx_dates_12m", 0)
        + m["psychiatric_stays_12m"]
        > 0
    )
    acute = m["ed_visits_12m"] + m["urgent_care_visits_12m"] + m["acute_stays_12m"]
    office = m["office_visits_12m"]
    mh_sud_acute = m["mh_sud_ed_visits_12m"] + m["mh_sud_acute_stays_12m"]
    min_acute = _setting(block, "min_acute_care_events")
    min_mh_sud = _setting(block, "min_mh_sud_acute_events")
    need = (
        high_risk
        or m.get("crisis_service_dates_12m", 0) > 0
        or (min_acute is not None and acute >= min_acute and acute > office)
        or (min_mh_sud is not None and mh_sud_acute >= min_mh_sud)
    )
    if need:
        need_text = "acute need yes"
    else:
        mh_sud = count_gap(
            mh_sud_acute, min_mh_sud, "MH/SUD ED visit or stay", "MH/SUD ED visits or stays"
        )
        need_text = (
            f"acute need: none (no overdose, suicidality, psychiatric stay or crisis service; "
            f"{acute} ED/urgent care visits and stays vs {office} office visits; {mh_sud})"
        )
    return "; ".join(
        [
            _yes(diagnosis, "SMI/SUD diagnosis"),
            _yes(m["has_csf"], "complex social factor"),
            need_text,
        ]
    )


def _smi_sud_child(m, block, _rules) -> str:
    dates = count_gap(
        m.get("mh_sud_dx_dates_12m", 0),
        _setting(block, "min_mh_sud_dx_dates"),
        "date with a MH/SUD diagnosis",
        "dates with a MH/SUD diagnosis",
    )
    acute = count_gap(
        m["mh_sud_ed_visits_12m"] + m["mh_sud_acute_stays_12m"] + m["mh_sud_crisis_services_12m"],
        _setting(block, "min_mh_sud_acute_events"),
        "MH/SUD ED visit, stay or crisis service",
        "MH/SUD ED visits, stays or crisis services",
    )
    return f"{dates}; {acute}"


def _homeless_adult(m, block, _rules) -> str:
    needs = block.get("complex_need_criteria", [])
    need = (
        any(m.get(f"{c}_dates_12m", 0) > 0 for c in needs)
        or m["ed_visits_12m"] + m["acute_stays_12m"] > 0
    )
    return "; ".join(
        [
            _yes(m["has_homelessness_evidence"], "homelessness evidence"),
            _yes(
                need,
                "complex need",
                "complex need (diagnosis, ED visit or stay): none in the lookback",
            ),
        ]
    )


def _homeless_family(m, _block, _rules) -> str:
    if m["age_group"] == "adult":
        return "no child under 21 in the household (subscriber_id) with homelessness evidence"
    return "no homelessness evidence of the member or a child in the household in the lookback"


def _justice_adult(m, block, _rules) -> str:
    needs = block.get("clinical_need_criteria", [])
    need = any(m.get(f"{c}_dates_24m", 0) > 0 for c in needs)
    release = (
        "release in the lookback yes"
        if m["incarceration_release_dates_12m"]
        else "no release in the lookback"
    )
    need_text = _yes(
        need,
        "diagnosis in the 24 months",
        "no MH/SUD, chronic, I/DD, TBI, HIV/AIDS or pregnancy diagnosis in the 24 months",
    )
    return f"{release}; {need_text}"


def _justice_child(_m, _block, _rules) -> str:
    return "no release in the lookback"


def _ltc_risk_adult(m, _block, _rules) -> str:
    discharged = m["nursing_facility_discharges_to_community_12m"] > 0
    if discharged:
        level = "nursing facility discharge home yes"
    elif m["has_csf"]:
        level = "no nursing facility discharge home and no qualifying community assessment"
    else:
        level = "no nursing facility discharge home in the lookback"
    return f"{_yes(m['has_csf'], 'complex social factor')}; {level}"


def _nf_transition_adult(_m, _block, _rules) -> str:
    return "no assessment in the lookback of a nursing facility resident ready to transition"


def _ccs_child(m, _block, _rules) -> str:
    if not m["has_csf"]:
        return "complex social factor: none in the lookback"
    return "complex social factor yes; no CCS or CCS WCM span covering the as-of date"


def _child_welfare(m, _block, rules) -> str:
    aged_out = (rules or {}).get("time", {}).get("aged_out_max_age_exclusive", 26)
    if m["age"] >= aged_out:
        return f"not under {aged_out} (age {m['age']})"
    return (
        "no foster care, adoption assistance, family maintenance or aged-out record that qualifies"
    )


def _birth_equity(m, _block, _rules) -> str:
    if m.get("pregnancy_postpartum_dx_dates_12m", 0) > 0:
        return "pregnant in the last 12 months, but race is not one the rule names"
    return "no pregnancy or postpartum diagnosis in the lookback"


def _unexplained(_m, _block, _rules) -> str:
    return "not held"


_REASONS = {
    "HIGH_UTIL_ADULT": _high_util,
    "HIGH_UTIL_CHILD": _high_util,
    "SMI_SUD_ADULT": _smi_sud_adult,
    "SMI_SUD_CHILD": _smi_sud_child,
    "HOMELESS_ADULT": _homeless_adult,
    "HOMELESS_FAMILY": _homeless_family,
    "JUSTICE_ADULT": _justice_adult,
    "JUSTICE_CHILD": _justice_child,
    "LTC_RISK_ADULT": _ltc_risk_adult,
    "NF_TRANSITION_ADULT": _nf_transition_adult,
    "CCS_CHILD": _ccs_child,
    "CHILD_WELFARE": _child_welfare,
    "BIRTH_EQUITY_ADULT": _birth_equity,
    "BIRTH_EQUITY_CHILD": _birth_equity,
}
# When the rules file is not readable: the age group in a population's code.
_DEFAULT_AGE_GROUPS = {
    code: ("adult" if code.endswith("_ADULT") else "child_youth")
    for code in _REASONS
    if code.endswith(("_ADULT", "_CHILD"))
}
