"""Sanity guards: stop a run whose result cannot be true (outputs.md).

A run that would enrol fewer members than `guards.min_enrolled_members` on the as-of
date, or that quarantined more than `guards.max_quarantined_share` of a required feed's
rows, is refused: exit 3, nothing replaced, the refused run's summary printed. The
thresholds live in the rules file.
"""

from __future__ import annotations

from typing import Any

from data_contracts import load_contracts
from ecm.errors import SanityGuardError
from ecm.rules import Rules


def sanity_guard_failures(summary: dict[str, Any], rules: Rules) -> list[str]:
    """One sentence per guard the run's summary trips (empty when it passes)."""
    failures: list[str] = []
    min_enrolled = rules.setting("guards.min_enrolled_members")
    enrolled = summary["members"]["enrolled"]
    if enrolled < min_enrolled:
        failures.append(
            f"{enrolled:,} members are enrolled on the as-of date {summary['as_of_date']} "
            f"(the rules file's guards.min_enrolled_members is {min_enrolled:,}): check the "
            f"as-of date and that the eligibility feed's member_id and enrollment dates are "
            f"this plan's"
        )
    max_share = rules.setting("guards.max_quarantined_share")
    for name, contract in load_contracts().items():
        counts = summary["feeds"].get(name, {})
        read = counts.get("read", 0)
        if not contract.required or not read:
            continue
        share = counts["quarantined"] / read
        if share > max_share:
            failures.append(
                f"{share:.0%} of the {name} feed's rows were quarantined "
                f"({counts['quarantined']:,} of {read:,}; the rules file's "
                f"guards.max_quarantined_share is {max_share:.0%}): see the rules they broke "
                f"in the summary below"
            )
    return failures


def check_sanity_guards(summary: dict[str, Any], rules: Rules) -> None:
    """Raise SanityGuardError (with the summary) when a guard trips."""
    failures = sanity_guard_failures(summary, rules)
    if failures:
        raise SanityGuardError(
            "The run was refused by its sanity guards and replaced nothing: "
            + "; ".join(failures)
            + ".",
            summary,
        )
